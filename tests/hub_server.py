"""A small, standard-library-only fake of the Hugging Face Hub HTTP API, for tests.

`HubServer` serves, on a loopback port, the part of the Hub API that `huggingface_hub` (2.x, with
Xet disabled: ``HF_HUB_DISABLE_XET=1``) and `datasets` call to create repositories, upload files
(regular and Git LFS), commit, branch, list, and download.  Repositories live in memory; tests can
inspect what was stored through `HubServer.repo`.

Every request is recorded (`HubServer.requests`).  A request that no route serves is logged as an
error, recorded in `HubServer.unhandled_requests` and answered with a plain 404, so a client calling
an endpoint this fake does not know is noticed rather than silently tolerated.

The fake is split in three modules, plus the pytest fixtures (`hub_fixtures`, used by ``conftest.py``):

- `hub_store`: what the Hub holds (repositories, refs, commit snapshots, files; git and LFS helpers);
- `hub_app`: what the Hub answers (routes, handlers, Hub-style errors; what is not implemented);
- `hub_server` (this module): the HTTP/1.1 plumbing and `HubServer`, the class tests use.  The names
  tests may need from the other two (`Repo`, `Commit`, `StoredFile`, `HubError`...) are re-exported.
"""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from hub_app import HubError, Request, RequestRecord, Response, _HubApp
from hub_store import Commit, Repo, StoredFile, git_blob_oid

logger = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 plumbing: parse the request, call `_HubApp.handle`, write the response."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the clients' connection pools expect
    timeout = 60  # idle keep-alive connections are dropped after this many seconds
    server: _HubHTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes: without this, Nagle's algorithm meets the client's
        # delayed ACK and every response stalls ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _dispatch(self) -> None:
        app = self.server.app
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers={key.lower(): value for key, value in self.headers.items()},
            body=self._read_body(),
        )
        try:
            response = app.handle(request)
        except Exception:
            logger.exception("FAKE HUB: handler crashed on %s %s", self.command, self.path)
            with app.lock:
                app.errors.append(f"{self.command} {self.path}")
            response = Response(500, b"Internal error in the fake Hub (see logs)", {"Content-Type": "text/plain"})
        record = RequestRecord(self.command, self.path, response.status)
        with app.lock:
            app.requests.append(record)
            if response.unhandled:
                app.unhandled_requests.append(record)
        self.send_response(response.status)
        for key, value in response.headers.items():
            # Header values must be one line of latin-1 (error messages may quote arbitrary paths).
            self.send_header(key, " ".join(value.splitlines()).encode("latin-1", "replace").decode("latin-1"))
        if "Content-Length" not in response.headers:
            # For HEAD, the length of the body a GET would get.
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("fake hub: " + format, *args)


class _HubHTTPServer(ThreadingHTTPServer):
    """A threading server that knows its open connections, so `stop()` can close idle keep-alive ones."""

    daemon_threads = False  # `server_close()` joins the handler threads
    block_on_close = True

    def __init__(self, address: tuple[str, int], app: _HubApp) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the client


class HubServer:
    """A fake Hugging Face Hub on ``http://127.0.0.1:<port>``, served from a background thread.

    Usage::

        with HubServer() as hub:          # or hub.start() ... hub.stop()
            os.environ["HF_ENDPOINT"] = hub.url   # must be set before huggingface_hub is imported
            ...
            repo = hub.repo("user/my-dataset")    # inspect what the clients stored
            assert "README.md" in repo.head().files
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1", username: str = "user") -> None:
        self.host = host
        self.port = port
        self._app = _HubApp(username)
        self._httpd: _HubHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        """The endpoint to give the clients (``HF_ENDPOINT``); valid once started."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> HubServer:
        if self.running:
            return self
        self._httpd = _HubHTTPServer((self.host, self.port), self._app)
        self.port = self._httpd.server_address[1]
        self._app.base_url = self.url
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"fake-hub-{self.port}"
        )
        self._thread.start()
        logger.info("fake Hub listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, close client connections, join every server thread and free the port."""
        if self._httpd is None or self._thread is None:
            return
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()  # joins the handler threads
        self._thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- inspection

    @property
    def username(self) -> str:
        """The account the fake token belongs to (the namespace of repos created without one)."""
        return self._app.username

    def repo(self, repo_id: str, repo_type: str = "dataset") -> Repo:
        """The stored repo, live: read it, don't mutate it (`KeyError` if absent). Defaults to a dataset."""
        with self._app.lock:
            return self._app.repos[(repo_type, repo_id)]

    def has_repo(self, repo_id: str, repo_type: str = "dataset") -> bool:
        with self._app.lock:
            return (repo_type, repo_id) in self._app.repos

    def repo_ids(self, repo_type: str | None = None) -> list[str]:
        with self._app.lock:
            return sorted(rid for rtype, rid in self._app.repos if repo_type in (None, rtype))

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered so far, oldest first."""
        with self._app.lock:
            return list(self._app.requests)

    @property
    def unhandled_requests(self) -> list[RequestRecord]:
        """Requests that matched no route (a client called an endpoint this fake does not implement)."""
        with self._app.lock:
            return list(self._app.unhandled_requests)

    @property
    def errors(self) -> list[str]:
        """Requests on which a handler crashed (answered 500)."""
        with self._app.lock:
            return list(self._app.errors)

    def clear_request_log(self) -> None:
        with self._app.lock:
            self._app.requests.clear()
            self._app.unhandled_requests.clear()
            self._app.errors.clear()

    @property
    def tree_page_size(self) -> int:
        """Entries per `/tree` page (1000 as on the Hub); lower it to exercise pagination."""
        return self._app.tree_page_size

    @tree_page_size.setter
    def tree_page_size(self, value: int) -> None:
        self._app.tree_page_size = value


__all__ = ["Commit", "HubError", "HubServer", "Repo", "RequestRecord", "StoredFile", "git_blob_oid"]
