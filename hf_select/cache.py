"""hf_select's own cache folder (file digests, write locks). Imports nothing."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$HF_SELECT_CACHE``, else ``~/.cache/hf_select``."""
    return Path(os.environ.get("HF_SELECT_CACHE", Path.home() / ".cache" / "hf_select")).expanduser()
