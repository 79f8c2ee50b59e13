"""The pytest fixtures of the fake Hugging Face Hub (`hub_server.HubServer`): `hub`, `strict_hub`, `hub_repo_id`.

``conftest.py`` imports them, after it has pointed the clients at the fake Hub: it picks a free loopback
port, sets ``HF_ENDPOINT=http://127.0.0.1:<port>`` (and a throw-away ``HF_HOME``, a fake token...)
before anything imports `huggingface_hub` or `datasets`.  ``HF_ENDPOINT`` is also how the port reaches
this module: it is read once, at import, so the server listens exactly where the clients will call.
The server itself starts lazily, the first time a test asks for the `hub` fixture::

    def test_push(hub, hub_repo_id):
        Dataset.from_dict({"x": [1]}).push_to_hub(hub_repo_id)
        assert "README.md" in hub.repo(hub_repo_id).head().files
"""

from __future__ import annotations

import itertools
import os
import re
import warnings
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from hub_server import HubServer  # tests/ is on sys.path (rootdir-relative conftest, no __init__.py)

_endpoint = urlsplit(os.environ.get("HF_ENDPOINT", ""))
if _endpoint.hostname != "127.0.0.1" or _endpoint.port is None:
    raise RuntimeError(
        f"hub_fixtures needs HF_ENDPOINT=http://127.0.0.1:<port>, set by tests/conftest.py before it imports "
        f"this module; got {os.environ.get('HF_ENDPOINT')!r}"
    )
FAKE_HUB_PORT = _endpoint.port


@pytest.fixture(scope="session")
def hub() -> Iterator[HubServer]:
    """The fake Hub that HF_ENDPOINT points at, started on first use and stopped at the end of the session."""
    server = HubServer(port=FAKE_HUB_PORT).start()
    try:
        yield server
    finally:
        server.stop()
        if server.unhandled_requests:
            warnings.warn(f"The fake Hub got requests it has no route for: {server.unhandled_requests}", stacklevel=1)


@pytest.fixture
def strict_hub(hub: HubServer) -> Iterator[HubServer]:
    """The fake Hub, failing the test if its clients called an endpoint it does not serve or crashed a handler."""
    hub.clear_request_log()
    yield hub
    assert hub.unhandled_requests == []
    assert hub.errors == []


_repo_counter = itertools.count()


@pytest.fixture
def hub_repo_id(hub: HubServer, request: pytest.FixtureRequest) -> str:
    """A repo id (``user/<test-name>-<n>``) that no other test uses, so no client cache is ever stale."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:60].strip("-")  # no "--", as the Hub requires
    return f"{hub.username}/{name}-{next(_repo_counter)}"
