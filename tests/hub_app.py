"""What the fake Hugging Face Hub answers: its HTTP routes and their handlers (standard library only).

`_HubApp` holds the repositories (`hub_store`) and the request logs, and turns a parsed `Request` into a
`Response`; it knows nothing of sockets (that is `hub_server`).  Each handler's docstring names the
endpoint and the client calls (`huggingface_hub` 2.x with ``HF_HUB_DISABLE_XET=1``, `datasets`) that use
it.  A request that no route serves is logged as an error and answered with a plain 404 marked
``unhandled``, so a client calling an endpoint this fake does not know is noticed.

Error responses follow the real Hub's conventions that `huggingface_hub.utils.hf_raise_for_status`
relies on: the ``X-Error-Code`` header (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``)
selects the exception class, ``X-Error-Message`` and a JSON ``{"error": ...}`` body carry the text.

Not implemented (answered with 404): Xet, discussions/PR comments, Spaces runtime, buckets, search
and listing of repositories, the dataset viewer (it lives on another host anyway).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from urllib.parse import parse_qs, unquote, urlencode

from hub_store import (
    DEFAULT_BRANCH,
    INITIAL_GITATTRIBUTES,
    REPO_TYPES,
    Commit,
    Repo,
    StoredFile,
    _ignore_patterns,
    _lfs_patterns,
    _matches_pattern,
)

logger = logging.getLogger(__name__)

# Regular (non-LFS) files above this size are refused by the Hub, so `preupload` sends them to LFS.
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024
TREE_PAGE_SIZE = 1000  # entries per page of `/tree`, as on the Hub
TREE_PAGE_SIZE_EXPANDED = 50  # entries per page of `/tree?expand=true`, as on the Hub


class HubError(Exception):
    """An HTTP error answer, raised by handlers and turned into a Hub-style error response."""

    def __init__(
        self,
        status: int,
        message: str,
        error_code: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        body: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code
        self.headers = headers or {}  # more response headers
        self.body = body or {}  # more fields of the JSON body, next to "error"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    """Format a datetime the way the Hub does (``2024-05-01T12:00:00.000Z``)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class RequestRecord:
    """One request the server answered."""

    method: str
    path: str  # as sent, including the query string
    status: int


@dataclass
class Request:
    """A parsed HTTP request, handed to route handlers."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # URL-decoded groups of the route pattern

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter `name`."""
        values = self.query.get(name)
        return values[0] if values else default

    def flag(self, name: str) -> bool:
        """A boolean query parameter (``1``/``true``/``True``...)."""
        return (self.arg(name) or "").lower() in ("1", "true", "yes")

    def json(self) -> dict:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError as err:
            raise HubError(400, f"Invalid JSON body: {err}") from err
        if not isinstance(data, dict):
            raise HubError(400, "Expected a JSON object")
        return data

    @property
    def authenticated(self) -> bool:
        return self.headers.get("authorization", "").lower().startswith("bearer ")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    unhandled: bool = False  # no route matched the request


def json_response(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[Request], Response]


# Building blocks of route patterns, matched against the raw (still percent-encoded) path.
_KIND = r"(?P<kind>models|datasets|spaces)"
_REPO = r"(?P<repo_id>[^/]+/[^/]+?)"
_REV = r"(?P<rev>refs/(?:heads|tags|pr|convert)/[^/]+|[^/]+)"
_FILE_PREFIX = r"(?:(?P<prefix>datasets|spaces)/)?"  # files of models are served at /{repo_id}/...


def _validate_path(path: object) -> str:
    if not isinstance(path, str) or not path or path.startswith("/") or ".." in path.split("/"):
        raise HubError(400, f"Invalid path in commit: {path!r}")
    if path == ".git" or path.startswith(".git/"):
        raise HubError(400, f"Cannot commit to the .git folder: {path!r}")
    return path


class _HubApp:
    """The fake Hub's state and its route handlers (no HTTP plumbing here)."""

    def __init__(self, username: str) -> None:
        self.username = username
        self.base_url = ""  # set by HubServer.start()
        self.tree_page_size = TREE_PAGE_SIZE
        self.lock = threading.RLock()
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[RequestRecord] = []
        self.unhandled_requests: list[RequestRecord] = []
        self.errors: list[str] = []  # handler crashes (HTTP 500)
        self._commit_counter = itertools.count()
        self.routes: list[Route] = [
            self._route("GET", r"/api/whoami-v2", self.whoami),
            self._route("GET", r"/api/agent-harnesses", self.agent_harnesses),
            self._route("POST", r"/api/validate-yaml", self.validate_yaml),
            self._route("POST", r"/api/repos/create", self.create_repo),
            self._route("DELETE", r"/api/repos/delete", self.delete_repo),
            self._route("GET", rf"/api/{_KIND}/{_REPO}", self.repo_info),
            self._route("GET", rf"/api/{_KIND}/{_REPO}/revision/{_REV}", self.repo_info),
            self._route("PUT", rf"/api/{_KIND}/{_REPO}/settings", self.update_settings),
            self._route("GET", rf"/api/{_KIND}/{_REPO}/refs", self.list_refs),
            self._route("POST", rf"/api/{_KIND}/{_REPO}/branch/{_REV}", self.create_branch),
            self._route("DELETE", rf"/api/{_KIND}/{_REPO}/branch/{_REV}", self.delete_branch),
            self._route("POST", rf"/api/{_KIND}/{_REPO}/tag/{_REV}", self.create_tag),
            self._route("DELETE", rf"/api/{_KIND}/{_REPO}/tag/{_REV}", self.delete_tag),
            self._route("GET", rf"/api/{_KIND}/{_REPO}/commits/{_REV}", self.list_commits),
            self._route("GET", rf"/api/{_KIND}/{_REPO}/tree/{_REV}(?:/(?P<path>.*))?", self.list_tree),
            self._route("POST", rf"/api/{_KIND}/{_REPO}/paths-info/{_REV}", self.paths_info),
            self._route("POST", rf"/api/{_KIND}/{_REPO}/preupload/{_REV}", self.preupload),
            self._route("POST", rf"/api/{_KIND}/{_REPO}/commit/{_REV}", self.commit),
            self._route("POST", rf"/{_FILE_PREFIX}{_REPO}\.git/info/lfs/objects/batch", self.lfs_batch),
            self._route("POST", rf"/{_FILE_PREFIX}{_REPO}\.git/info/lfs/objects/verify", self.lfs_verify),
            self._route("PUT", rf"/{_FILE_PREFIX}{_REPO}\.git/info/lfs/objects/(?P<oid>[0-9a-f]{{64}})", self.lfs_put),
            self._route("GET", rf"/{_FILE_PREFIX}(?!api/){_REPO}/resolve/{_REV}/(?P<path>.+)", self.resolve_file),
        ]

    @staticmethod
    def _route(method: str, pattern: str, handler: Callable[[Request], Response]) -> Route:
        return Route(method, re.compile(pattern), handler)

    # ------------------------------------------------------------------ dispatch

    def handle(self, request: Request) -> Response:
        """Route `request` to its handler; turn `HubError`s into Hub-style error responses."""
        method = "GET" if request.method == "HEAD" else request.method
        for route in self.routes:
            match = route.pattern.fullmatch(request.path) if route.method == method else None
            if match is None:
                continue
            request.params = {key: unquote(value) for key, value in match.groupdict().items() if value is not None}
            try:
                return route.handler(request)
            except HubError as err:
                headers = {"X-Error-Message": err.message, **err.headers}
                if err.error_code:
                    headers["X-Error-Code"] = err.error_code
                return json_response({"error": err.message, **err.body}, err.status, headers)
        logger.error("FAKE HUB: no route for %s %s -- answering 404", request.method, request.path)
        body = b"Not Found (no such route in tests/hub_app.py)"
        return Response(404, body, {"Content-Type": "text/plain"}, unhandled=True)

    # ------------------------------------------------------------------ helpers

    def _repo_key(self, request: Request) -> tuple[str, str]:
        params = request.params
        kind = params.get("kind") or (params.get("prefix") or "models")
        return kind.removesuffix("s"), params["repo_id"]

    def _get_repo(self, request: Request, *, write: bool = False, presigned: bool = False) -> Repo:
        """The repo a request names; 404 RepoNotFound if unknown, or private and not authenticated.

        `write` requires a token; `presigned` URLs (LFS upload) need none, even for private repos.
        """
        if write:
            self._require_auth(request)
        repo_type, repo_id = self._repo_key(request)
        repo = self.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and not request.authenticated and not presigned):
            raise HubError(404 if request.authenticated else 401, "Repository not found", "RepoNotFound")
        return repo

    def _get_commit(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    @staticmethod
    def _require_auth(request: Request) -> None:
        if not request.authenticated:
            raise HubError(401, "Invalid credentials in Authorization header")

    def _repo_url(self, repo: Repo) -> str:
        return self.base_url + repo.url_prefix

    def _new_commit(
        self,
        repo: Repo,
        parent: Commit | None,
        files: dict[str, StoredFile],
        title: str,
        description: str = "",
    ) -> Commit:
        """Store a new commit (it does not move any ref)."""
        tree = sorted((path, stored.git_oid) for path, stored in files.items())
        identity = [parent.oid if parent else None, title, next(self._commit_counter), tree]
        commit = Commit(
            oid=hashlib.sha1(json.dumps(identity).encode()).hexdigest(),
            parent=parent.oid if parent else None,
            title=title,
            description=description,
            created_at=_now(),
            author=self.username,
            files=MappingProxyType(dict(files)),
        )
        repo.commits[commit.oid] = commit
        return commit

    def _entry(self, repo: Repo, commit: Commit, path: str, *, expand: bool) -> dict:
        """A `/tree` or `/paths-info` entry for a file or folder (as parsed by RepoFile / RepoFolder)."""
        stored = commit.files.get(path)
        if stored is not None:
            entry: dict = {"type": "file", "oid": stored.git_oid, "size": stored.size, "path": path}
            if stored.lfs:
                entry["lfs"] = {
                    "oid": stored.sha256,
                    "size": stored.size,
                    "pointerSize": len(stored.lfs_pointer),
                }
        else:
            children = sorted((p, f.git_oid) for p, f in commit.files.items() if p.startswith(path + "/"))
            entry = {"type": "directory", "oid": hashlib.sha1(json.dumps(children).encode()).hexdigest()}
            entry.update({"size": 0, "path": path})
        if expand:
            last = self._last_commit_touching(repo, commit, path)
            entry["lastCommit"] = {"id": last.oid, "title": last.title, "date": _iso(last.created_at)}
        return entry

    def _last_commit_touching(self, repo: Repo, commit: Commit, path: str) -> Commit:
        def state(c: Commit) -> list[tuple[str, str]]:
            return sorted((p, f.git_oid) for p, f in c.files.items() if p == path or p.startswith(path + "/"))

        current = state(commit)
        while commit.parent is not None and state(repo.commits[commit.parent]) == current:
            commit = repo.commits[commit.parent]
        return commit

    @staticmethod
    def _folders(files: Iterable[str]) -> set[str]:
        return {"/".join(parts[:i]) for parts in (p.split("/") for p in files) for i in range(1, len(parts))}

    # ------------------------------------------------------------------ account & misc

    def whoami(self, request: Request) -> Response:
        """``GET /api/whoami-v2``: `HfApi.whoami` (and `create_repo` callers that need the user name)."""
        self._require_auth(request)
        return json_response(
            {
                "type": "user",
                "id": "0" * 24,
                "name": self.username,
                "fullname": self.username.title(),
                "email": f"{self.username}@example.com",
                "emailVerified": True,
                "isPro": False,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "fake-hub", "role": "write"}},
            }
        )

    def agent_harnesses(self, request: Request) -> Response:
        """``GET /api/agent-harnesses``: registry `huggingface_hub` fetches to build its user agent."""
        return json_response({"standardEnvVars": [], "harnesses": {}})

    def validate_yaml(self, request: Request) -> Response:
        """``POST /api/validate-yaml``: `RepoCard.validate` / `push_to_hub`, and `create_commit` of a README.

        Only the front-matter structure is checked here (YAML itself is parsed client-side by
        `RepoCard`); an unterminated ``---`` block is a 400 with ``errors`` as on the Hub.
        """
        content = request.json().get("content", "")
        errors = []
        if isinstance(content, str) and content.lstrip().startswith("---"):
            lines = content.lstrip().splitlines()
            if not any(line.strip() == "---" for line in lines[1:]):
                errors.append({"message": "Metadata block (---) is not closed"})
        elif not isinstance(content, str):
            errors.append({"message": '"content" must be a string'})
        return json_response({"errors": errors, "warnings": []}, 400 if errors else 200)

    # ------------------------------------------------------------------ repositories

    def create_repo(self, request: Request) -> Response:
        """``POST /api/repos/create``: `HfApi.create_repo` (409 if it exists, which `exist_ok` tolerates)."""
        self._require_auth(request)
        payload = request.json()
        repo_type = payload.get("type") or "model"
        name, organization = payload.get("name"), payload.get("organization") or self.username
        if repo_type not in REPO_TYPES or not isinstance(name, str) or not re.fullmatch(r"[\w.-]+", name):
            raise HubError(400, f"Invalid repo name or type: {name!r} ({repo_type!r})")
        repo_id = f"{organization}/{name}"
        visibility = payload.get("visibility")
        private = visibility in ("private", "protected") if visibility else bool(payload.get("private"))
        with self.lock:
            existing = self.repos.get((repo_type, repo_id))
            if existing is not None:
                # `create_repo(exist_ok=True)` reads the repo URL from this 409 answer.
                message = f"You already created this {repo_type} repo: {repo_id}"
                raise HubError(409, message, body={"url": self._repo_url(existing)})
            repo = Repo(repo_type=repo_type, repo_id=repo_id, private=private, created_at=_now())
            initial = StoredFile(INITIAL_GITATTRIBUTES.encode())
            repo.branches[DEFAULT_BRANCH] = self._new_commit(
                repo, None, {".gitattributes": initial}, "initial commit"
            ).oid
            self.repos[(repo_type, repo_id)] = repo
        url = self._repo_url(repo)
        return json_response({"url": url, "name": repo_id, "id": hashlib.sha1(url.encode()).hexdigest()[:24]})

    def delete_repo(self, request: Request) -> Response:
        """``DELETE /api/repos/delete``: `HfApi.delete_repo`."""
        self._require_auth(request)
        payload = request.json()
        key = (
            payload.get("type") or "model",
            f"{payload.get('organization') or self.username}/{payload.get('name')}",
        )
        with self.lock:
            if self.repos.pop(key, None) is None:
                raise HubError(404, "Repository not found", "RepoNotFound")
        return Response(200)

    def repo_info(self, request: Request) -> Response:
        """``GET /api/{type}s/{repo_id}[/revision/{rev}]``: `HfApi.repo_info` / `dataset_info` / `model_info`.

        ``?blobs=true`` (``files_metadata=True``) adds sizes and LFS info to ``siblings``.
        ``cardData`` is not returned (it would need a YAML parser).
        """
        with self.lock:
            repo = self._get_repo(request)
            commit = self._get_commit(repo, request.params.get("rev", DEFAULT_BRANCH))
        siblings = []
        for path, stored in sorted(commit.files.items()):
            sibling: dict = {"rfilename": path}
            if request.flag("blobs"):
                sibling.update({"size": stored.size, "blobId": stored.git_oid})
                if stored.lfs:
                    sibling["lfs"] = {
                        "size": stored.size,
                        "sha256": stored.sha256,
                        "pointerSize": len(stored.lfs_pointer),
                    }
            siblings.append(sibling)
        info = {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": commit.oid,
            "createdAt": _iso(repo.created_at),
            "lastModified": _iso(commit.created_at),
            "private": repo.private,
            "gated": repo.gated,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(stored.size for stored in commit.files.values()),
        }
        if repo.repo_type == "model":
            info["modelId"] = repo.repo_id
        return json_response(info)

    def update_settings(self, request: Request) -> Response:
        """``PUT /api/{type}s/{repo_id}/settings``: `HfApi.update_repo_settings` (``private``, ``gated``)."""
        payload = request.json()
        with self.lock:
            repo = self._get_repo(request, write=True)
            if "private" in payload:
                repo.private = bool(payload["private"])
            if "visibility" in payload:
                repo.private = payload["visibility"] in ("private", "protected")
            if "gated" in payload:
                repo.gated = payload["gated"]
        return json_response({})

    # ------------------------------------------------------------------ refs & history

    def list_refs(self, request: Request) -> Response:
        """``GET /api/{type}s/{repo_id}/refs[?include_prs=1]``: `HfApi.list_repo_refs`."""
        with self.lock:
            repo = self._get_repo(request)
            refs: dict[str, list[dict]] = {
                "branches": [
                    {"name": name, "ref": f"refs/heads/{name}", "targetCommit": oid}
                    for name, oid in repo.branches.items()
                ],
                "converts": [],
                "tags": [
                    {"name": name, "ref": f"refs/tags/{name}", "targetCommit": oid} for name, oid in repo.tags.items()
                ],
            }
            if request.flag("include_prs"):
                refs["pullRequests"] = [
                    {"name": str(num), "ref": f"refs/pr/{num}", "targetCommit": oid}
                    for num, oid in repo.pull_requests.items()
                ]
        return json_response(refs)

    def create_branch(self, request: Request) -> Response:
        """``POST /api/{type}s/{repo_id}/branch/{branch}``: `HfApi.create_branch` (409 if it exists)."""
        starting_point = request.json().get("startingPoint") or DEFAULT_BRANCH
        branch = request.params["rev"]
        with self.lock:
            repo = self._get_repo(request, write=True)
            if branch in repo.branches:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            if branch.startswith("refs/") or not re.fullmatch(r"[\w./-]+", branch):
                raise HubError(400, f"Invalid branch name: {branch!r}")
            repo.branches[branch] = self._get_commit(repo, starting_point).oid
        return json_response({})

    def delete_branch(self, request: Request) -> Response:
        """``DELETE /api/{type}s/{repo_id}/branch/{branch}``: `HfApi.delete_branch`."""
        with self.lock:
            repo = self._get_repo(request, write=True)
            if request.params["rev"] == DEFAULT_BRANCH:
                raise HubError(403, "Cannot delete the default branch")
            if repo.branches.pop(request.params["rev"], None) is None:
                raise HubError(404, f"Invalid rev id: {request.params['rev']}", "RevisionNotFound")
        return json_response({})

    def create_tag(self, request: Request) -> Response:
        """``POST /api/{type}s/{repo_id}/tag/{revision}`` with ``{"tag": ...}``: `HfApi.create_tag`."""
        tag = request.json().get("tag")
        with self.lock:
            repo = self._get_repo(request, write=True)
            if not isinstance(tag, str) or not tag:
                raise HubError(400, "Missing tag name")
            if tag in repo.tags:
                raise HubError(409, f"Tag already exists: {tag}")
            repo.tags[tag] = self._get_commit(repo, request.params["rev"]).oid
        return json_response({})

    def delete_tag(self, request: Request) -> Response:
        """``DELETE /api/{type}s/{repo_id}/tag/{tag}``: `HfApi.delete_tag`."""
        with self.lock:
            repo = self._get_repo(request, write=True)
            if repo.tags.pop(request.params["rev"], None) is None:
                raise HubError(404, f"Invalid rev id: {request.params['rev']}", "RevisionNotFound")
        return json_response({})

    def list_commits(self, request: Request) -> Response:
        """``GET /api/{type}s/{repo_id}/commits/{rev}``: `HfApi.list_repo_commits` (newest first)."""
        with self.lock:
            repo = self._get_repo(request)
            history = repo.log(self._get_commit(repo, request.params["rev"]).oid)
        return json_response(
            [
                {
                    "id": commit.oid,
                    "title": commit.title,
                    "message": commit.description,
                    "date": _iso(commit.created_at),
                    "authors": [{"user": commit.author}],
                }
                for commit in history
            ]
        )

    # ------------------------------------------------------------------ listing

    def list_tree(self, request: Request) -> Response:
        """``GET /api/{type}s/{repo_id}/tree/{rev}[/{path}]``: `HfApi.list_repo_tree`, `HfFileSystem.ls/glob`.

        ``?recursive=true`` lists files and folders at every depth; ``?expand=true`` adds ``lastCommit``.
        Pages are cursor-based, the next page is announced in a ``Link: <...>; rel="next"`` header.
        """
        path = request.params.get("path", "").strip("/")
        recursive, expand = request.flag("recursive"), request.flag("expand")
        with self.lock:
            repo = self._get_repo(request)
            commit = self._get_commit(repo, request.params["rev"])
            folders = self._folders(commit.files)
            if path and path not in folders:
                raise HubError(404, f"Folder not found: {path}", "EntryNotFound")
            prefix = f"{path}/" if path else ""
            candidates = sorted(
                p
                for p in itertools.chain(commit.files, folders)
                if p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :])
            )
            page_size = min(self.tree_page_size, TREE_PAGE_SIZE_EXPANDED) if expand else self.tree_page_size
            start = int(request.arg("cursor") or 0)
            page = [self._entry(repo, commit, p, expand=expand) for p in candidates[start : start + page_size]]
        headers = {}
        if start + page_size < len(candidates):
            query = {key: values[0] for key, values in request.query.items()} | {"cursor": str(start + page_size)}
            headers["Link"] = f'<{self.base_url}{request.path}?{urlencode(query)}>; rel="next"'
        return json_response(page, headers=headers)

    def paths_info(self, request: Request) -> Response:
        """``POST /api/{type}s/{repo_id}/paths-info/{rev}``: `HfApi.get_paths_info`, `HfFileSystem.info`.

        The body is a form (``paths=a&paths=b&expand=false``) or JSON; unknown paths are left out.
        """
        if request.headers.get("content-type", "").startswith("application/json"):
            payload = request.json()
            paths, expand = payload.get("paths", []), bool(payload.get("expand"))
        else:
            form = parse_qs(request.body.decode(), keep_blank_values=True)
            paths, expand = form.get("paths", []), (form.get("expand", [""])[0].lower() in ("1", "true"))
        with self.lock:
            repo = self._get_repo(request)
            commit = self._get_commit(repo, request.params["rev"])
            folders = self._folders(commit.files)
            entries = [
                self._entry(repo, commit, p.strip("/"), expand=expand)
                for p in paths
                if p.strip("/") in commit.files or p.strip("/") in folders
            ]
        return json_response(entries)

    # ------------------------------------------------------------------ upload

    def preupload(self, request: Request) -> Response:
        """``POST /api/{type}s/{repo_id}/preupload/{rev}``: `HfApi.create_commit` / `preupload_lfs_files`.

        Decides each file's ``uploadMode``: ``lfs`` when it matches an LFS pattern of the revision's
        ``.gitattributes``, is 10 MiB or more, or looks binary (NUL byte in the 512-byte sample);
        ``regular`` otherwise.  ``shouldIgnore`` applies ``gitIgnore`` (or the repo's ``.gitignore``);
        ``oid`` is the current file's oid (sha256 for LFS, git sha1 otherwise) so unchanged files are skipped.
        """
        payload = request.json()
        with self.lock:
            repo = self._get_repo(request, write=True)
            # With `create_pr`, the revision is the PR's base branch.
            commit = self._get_commit(repo, request.params["rev"])
        attributes = commit.files.get(".gitattributes")
        lfs_patterns = _lfs_patterns(attributes.content.decode(errors="replace")) if attributes else []
        gitignore = payload.get("gitIgnore")
        if gitignore is None and ".gitignore" in commit.files:
            gitignore = commit.text(".gitignore")
        ignore_patterns = _ignore_patterns(gitignore or "")
        answers = []
        for item in payload.get("files", []):
            path = _validate_path(item.get("path"))
            sample = base64.b64decode(item.get("sample", ""))
            is_lfs = (
                int(item.get("size", 0)) >= LFS_SIZE_THRESHOLD
                or b"\0" in sample
                or any(_matches_pattern(path, pattern) for pattern in lfs_patterns)
            )
            current = commit.files.get(path)
            answers.append(
                {
                    "path": path,
                    "uploadMode": "lfs" if is_lfs else "regular",
                    "shouldIgnore": any(_matches_pattern(path, pattern) for pattern in ignore_patterns),
                    "oid": (current.sha256 if current.lfs else current.git_oid) if current else None,
                }
            )
        return json_response({"files": answers, "commitOid": commit.oid})

    def lfs_batch(self, request: Request) -> Response:
        """``POST /{prefix}{repo_id}.git/info/lfs/objects/batch``: LFS batch API (`preupload_lfs_files`).

        Objects the repo already holds get no ``actions``; the others get an ``upload`` (single-part PUT,
        no auth, like a pre-signed URL) and a ``verify`` action pointing back at this server.
        """
        payload = request.json()
        if payload.get("operation") != "upload":
            raise HubError(400, "Only the 'upload' operation of the LFS batch API is supported")
        with self.lock:
            repo = self._get_repo(request, write=True)
            held = set(repo.lfs_objects)
        base = f"{self.base_url}/{request.params['prefix'] + '/' if 'prefix' in request.params else ''}"
        base += f"{repo.repo_id}.git/info/lfs/objects"
        objects = []
        for obj in payload.get("objects", []):
            oid, size = obj.get("oid"), obj.get("size")
            if not isinstance(oid, str) or not re.fullmatch(r"[0-9a-f]{64}", oid) or not isinstance(size, int):
                raise HubError(422, f"Invalid LFS object: {obj!r}")
            answer: dict = {"oid": oid, "size": size, "authenticated": True}
            if oid not in held:
                answer["actions"] = {
                    "upload": {"href": f"{base}/{oid}"},
                    "verify": {"href": f"{base}/verify"},
                }
            objects.append(answer)
        return json_response({"transfer": "basic", "objects": objects, "hash_algo": "sha256"})

    def lfs_put(self, request: Request) -> Response:
        """``PUT /{prefix}{repo_id}.git/info/lfs/objects/{oid}``: the upload action of `lfs_batch`.

        The body must hash to the oid (a storage service would not check, but LFS verify would).
        """
        oid = request.params["oid"]
        if hashlib.sha256(request.body).hexdigest() != oid:
            raise HubError(400, f"Uploaded content does not match LFS oid {oid}")
        with self.lock:
            repo = self._get_repo(request, presigned=True)  # clients send no Authorization header here
            repo.lfs_objects[oid] = request.body
        return Response(200, headers={"ETag": f'"{oid}"'})

    def lfs_verify(self, request: Request) -> Response:
        """``POST /{prefix}{repo_id}.git/info/lfs/objects/verify``: the verify action of `lfs_batch`."""
        payload = request.json()
        with self.lock:
            repo = self._get_repo(request)
            content = repo.lfs_objects.get(payload.get("oid", ""))
        if content is None or len(content) != payload.get("size"):
            raise HubError(404, f"LFS object {payload.get('oid')} not uploaded (or size mismatch)")
        return json_response({"success": True})

    def commit(self, request: Request) -> Response:
        """``POST /api/{type}s/{repo_id}/commit/{rev}[?create_pr=1]``: `HfApi.create_commit` (NDJSON body).

        Lines are ``header`` (summary, description, optional ``parentCommit``: 412 if the branch moved),
        then ``file`` (base64 content), ``lfsFile`` (an uploaded LFS object), ``deletedFile`` and
        ``deletedFolder`` operations.  With ``create_pr`` the commit goes to a new ``refs/pr/N``.
        """
        try:
            lines = [json.loads(line) for line in request.body.decode().splitlines() if line.strip()]
        except ValueError as err:
            raise HubError(400, f"Invalid NDJSON commit payload: {err}") from err
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The first line of the commit payload must be the header")
        header = lines[0]["value"]
        revision = request.params["rev"]
        create_pr = request.flag("create_pr")
        pr_match = re.fullmatch(r"refs/pr/(\d+)", revision)
        branch = revision.removeprefix("refs/heads/")
        with self.lock:
            repo = self._get_repo(request, write=True)
            base = self._get_commit(repo, revision)
            if not (create_pr or pr_match or branch in repo.branches):
                raise HubError(400, f"Cannot commit to {revision!r}: it is not a branch")
            parent_commit = header.get("parentCommit")
            if parent_commit and create_pr:
                base = self._get_commit(repo, parent_commit)
            elif parent_commit and not base.oid.startswith(parent_commit):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(base.files)
            for line in lines[1:]:
                self._apply_operation(repo, files, line.get("key"), line.get("value") or {})
            commit = self._new_commit(repo, base, files, header.get("summary") or "", header.get("description") or "")
            pr_url = None
            if create_pr:
                number = max([0, *repo.pull_requests]) + 1
                repo.pull_requests[number] = commit.oid
                pr_url = f"{self._repo_url(repo)}/discussions/{number}"
            elif pr_match:
                repo.pull_requests[int(pr_match.group(1))] = commit.oid
            else:
                repo.branches[branch] = commit.oid
        return json_response(
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{self._repo_url(repo)}/commit/{commit.oid}",
                "pullRequestUrl": pr_url,
            }
        )

    @staticmethod
    def _apply_operation(repo: Repo, files: dict[str, StoredFile], key: object, value: dict) -> None:
        """Apply one NDJSON commit operation to the file snapshot `files`."""
        if key == "file":
            path = _validate_path(value.get("path"))
            content = value.get("content", "")
            if value.get("encoding") == "base64":
                files[path] = StoredFile(base64.b64decode(content))
            else:
                files[path] = StoredFile(str(content).encode())
        elif key == "lfsFile":
            path = _validate_path(value.get("path"))
            if value.get("algo", "sha256") != "sha256":
                raise HubError(400, f"Unsupported LFS hash algorithm {value.get('algo')!r}")
            content = repo.lfs_objects.get(value.get("oid", ""))
            if content is None or ("size" in value and value["size"] != len(content)):
                raise HubError(422, f"LFS object {value.get('oid')} of {path!r} was not uploaded to this repo")
            files[path] = StoredFile(content, lfs=True)
        elif key == "deletedFile":
            path = _validate_path(value.get("path"))
            if files.pop(path, None) is None:
                raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
        elif key == "deletedFolder":
            folder = _validate_path(str(value.get("path", "")).rstrip("/")) + "/"
            doomed = [path for path in files if path.startswith(folder)]
            if not doomed:
                raise HubError(404, f"A folder with this name doesn't exist: {folder}", "EntryNotFound")
            for path in doomed:
                del files[path]
        else:
            raise HubError(400, f"Unknown commit operation {key!r} (not implemented by the fake Hub)")

    # ------------------------------------------------------------------ download

    def resolve_file(self, request: Request) -> Response:
        """``GET|HEAD /{prefix}{repo_id}/resolve/{rev}/{path}``: `hf_hub_download`, `HfFileSystem.open`.

        Answers 200 directly (no CDN redirect) with ``X-Repo-Commit``, ``ETag`` (git oid, or sha256 for
        LFS files, plus ``X-Linked-Etag`` / ``X-Linked-Size``) and ``Content-Length``; honours a single
        ``Range: bytes=a-b`` (206, or 416 past the end).  Missing files are 404 ``EntryNotFound`` with
        ``X-Repo-Commit`` so the client can cache their absence.
        """
        with self.lock:
            repo = self._get_repo(request)
            commit = self._get_commit(repo, request.params["rev"])
        stored = commit.files.get(request.params["path"])
        if stored is None:
            raise HubError(404, "Entry not found", "EntryNotFound", headers={"X-Repo-Commit": commit.oid})
        etag = stored.sha256 if stored.lfs else stored.git_oid
        headers = {
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
            "ETag": f'"{etag}"',
            "X-Repo-Commit": commit.oid,
        }
        if stored.lfs:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(stored.size)})
        content, status = stored.content, 200
        if range_header := request.headers.get("range"):
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", range_header.strip())
            if match is None or match.group(1) == match.group(2) == "":
                raise HubError(400, f"Unsupported Range header: {range_header!r}")
            if match.group(1):
                start = int(match.group(1))
                end = min(int(match.group(2)), stored.size - 1) if match.group(2) else stored.size - 1
            else:  # suffix range: the last N bytes
                start, end = max(stored.size - int(match.group(2)), 0), stored.size - 1
            if start >= stored.size or start > end:
                return Response(416, b"", {**headers, "Content-Range": f"bytes */{stored.size}"})
            content, status = content[start : end + 1], 206
            headers["Content-Range"] = f"bytes {start}-{end}/{stored.size}"
        return Response(status, content, headers)
