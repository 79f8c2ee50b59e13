# ==================================================================================================
# BEGIN fake Hugging Face Hub (tests/hub_server.py, fixtures in tests/hub_fixtures.py) -- keep this block first.
#
# `huggingface_hub` and `datasets` read their endpoint, cache and token settings from the environment
# once, at import time.  So, before anything imports them, point them at a fake Hub on a free loopback
# port and at a throw-away HF_HOME.  Then import the fixtures (`hub`, `strict_hub`, `hub_repo_id`) from
# tests/hub_fixtures.py: they read the port back from HF_ENDPOINT, and the server itself starts lazily,
# the first time a test asks for the `hub` fixture.
# ==================================================================================================
import atexit
import os
import shutil
import socket
import sys
import tempfile

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


# tests/ is on sys.path (rootdir-relative conftest, no __init__.py).
import pytest  # noqa: E402
from hub_fixtures import hub, hub_repo_id, strict_hub  # noqa: E402, F401

# ==================================================================================================
# END fake Hugging Face Hub
# ==================================================================================================
# Tiny in-process models (tests/tiny_models.py), shared by the scoring tests.
from tiny_models import gpt2, llama, llama_b, nobos, tiny, tiny_root  # noqa: E402, F401


@pytest.fixture
def no_model_loads(monkeypatch):
    """Fail the test if a model's weights are read (a mistake must be found before)."""
    from transformers import AutoModelForCausalLM

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the mistake was found")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", refuse)
