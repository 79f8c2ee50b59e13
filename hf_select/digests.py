"""Content digests of files, memoised while a file provably has not changed.

Cache keys (a model's identity, a local data file) and hf_select's output manifests need the SHA-256 of files that
may be tens of GB, so the digests of large files are memoised, one small file per digested file under
``$HF_SELECT_CACHE/digests/`` (a lookup reads one entry, whatever else was ever digested: a single shared file
grew with every file and was read and rewritten whole on each call, 40 of the 50 s a 10,000-prompt viewer took
to write); an entry is reused only while the file's size, modification time, change time, inode and device all
match (``cp -p``, ``rsync -a`` or ``touch -r`` over a file is noticed: they cannot keep the change time). Files
under `MEMO_BYTES` are hashed each time, which is cheaper than a lookup.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from hf_select.cache import cache_dir


def _stat_key(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev]


def _hash_file(path: Path) -> dict[str, str]:
    """SHA-256 of the content, and the git blob id (how the Hub names a non-LFS file), in one read."""
    size = path.stat().st_size
    sha256, git = hashlib.sha256(), hashlib.sha1(f"blob {size}\0".encode())  # noqa: S324 - git's own id
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**22), b""):
            sha256.update(block)
            git.update(block)
    return {"sha256": sha256.hexdigest(), "git": git.hexdigest()}


MEMO_BYTES = 1 << 20  # files at least this large have their digests memoised


def file_digests(path: str | Path) -> dict[str, str]:
    """``{"sha256", "git"}`` of a file's content, memoised while its size, times, inode and device match."""
    real = Path(path).resolve()
    stat = real.stat()
    if stat.st_size < MEMO_BYTES:
        return _hash_file(real)
    entry_file = cache_dir() / "digests" / f"{hashlib.sha256(str(real).encode()).hexdigest()[:32]}.json"
    try:
        entry = json.loads(entry_file.read_text())
    except (OSError, ValueError):
        entry = None
    if isinstance(entry, dict) and entry.get("path") == str(real) and entry.get("stat") == _stat_key(stat):
        return entry["digests"]
    digests = _hash_file(real)
    if _stat_key(real.stat()) != _stat_key(stat):  # changed while we read it: do not remember a torn read
        return digests
    try:
        entry_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry_file.with_name(f"{entry_file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"path": str(real), "stat": _stat_key(stat), "digests": digests}))
        tmp.replace(entry_file)
    except OSError:
        pass  # a read-only home only costs a re-hash next time
    return digests
