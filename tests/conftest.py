# ==================================================================================================
# BEGIN fake Hugging Face Hub (tests/hub_server.py) -- keep this block first in the file.
#
# `huggingface_hub` and `datasets` read their endpoint, cache and token settings from the environment
# once, at import time.  So, before anything imports them, point them at a fake Hub on a free loopback
# port and at a throw-away HF_HOME; the server itself starts lazily, the first time a test asks for the
# `hub` fixture:
#
#     def test_push(hub, hub_repo_id):
#         Dataset.from_dict({"x": [1]}).push_to_hub(hub_repo_id)
#         assert "README.md" in hub.repo(hub_repo_id).head().files
# ==================================================================================================
import atexit
import itertools
import os
import re
import shutil
import socket
import sys
import tempfile
import warnings
from collections.abc import Iterator

import pytest
from hub_server import HubServer  # tests/ is on sys.path (rootdir-relative conftest, no __init__.py)

if "huggingface_hub" in sys.modules or "datasets" in sys.modules:
    raise RuntimeError(
        "tests/conftest.py must configure the Hugging Face clients before they are imported, but "
        "huggingface_hub/datasets were already imported (by a plugin or an earlier conftest)."
    )


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


FAKE_HUB_PORT = _free_loopback_port()
FAKE_HUB_HOME = tempfile.mkdtemp(prefix="hf-select-tests-hf-home-")
atexit.register(shutil.rmtree, FAKE_HUB_HOME, ignore_errors=True)

for _name in (
    # Anything that would take precedence over HF_ENDPOINT / HF_HOME, or force offline mode.
    "HUGGINGFACE_CO_STAGING",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_ASSETS_CACHE",
    "HUGGINGFACE_ASSETS_CACHE",
    "HF_DATASETS_CACHE",
    "HF_XET_CACHE",
    "HF_TOKEN_PATH",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "HF_ENDPOINT": f"http://127.0.0.1:{FAKE_HUB_PORT}",
        "HF_HUB_DISABLE_XET": "1",  # the fake Hub speaks Git LFS, not Xet
        "HF_TOKEN": "hf_fake_hub_test_token",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HOME": FAKE_HUB_HOME,
    }
)
for _name in ("NO_PROXY", "no_proxy"):  # never send loopback traffic through a proxy
    os.environ[_name] = ",".join(filter(None, [os.environ.get(_name), "127.0.0.1", "localhost"]))


@pytest.fixture(scope="session")
def hub() -> Iterator[HubServer]:
    """The fake Hub that HF_ENDPOINT points at, started on first use and stopped at the end of the session."""
    server = HubServer(port=FAKE_HUB_PORT).start()
    try:
        yield server
    finally:
        server.stop()
        if server.unhandled_requests:
            warnings.warn(
                f"The fake Hub got requests it has no route for: {server.unhandled_requests}", stacklevel=1
            )


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


# ==================================================================================================
# END fake Hugging Face Hub
# ==================================================================================================


# Tiny in-process models (tests/tiny_models.py), shared by the scoring tests.
from tiny_models import gpt2, llama, llama_b, nobos, tiny, tiny_root  # noqa: E402, F401
