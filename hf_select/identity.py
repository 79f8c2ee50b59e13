"""What a model *is*, for cache keys: its weights and tokenizer, byte for byte, plus the dtype it runs in.

A cached score must never be served once any byte of the files that shaped it has changed, so identities
are content digests:

- A local folder or GGUF file: the SHA-256 of every file (in full, whatever its size).
- A Hub model in the local cache (``.../models--owner--name/snapshots/<commit>/``): ``hub:owner/name@<commit>``
  when every file is a *verified* cache blob, i.e. a link into the repo's ``blobs/`` folder whose content
  hashes to the blob's own name (the SHA-256 of an LFS file, the git blob id of any other file), which is
  how the Hub names them. A file replaced in place fails that check, and the folder is then identified by its
  content like any local folder. A path that merely contains ``/snapshots/`` earns no trust.
- A Hub model not cached yet: ``hub:owner/name@<commit>`` from the Hub (a commit names immutable content),
  the same string the verified cache gives once the files are downloaded.

Hashing a 60 GB teacher takes a while, so digests are memoised in ``$HF_SELECT_CACHE/digests.json``; an entry
is reused only while the file's size, modification time, change time, inode and device all match (so
``cp -p``, ``rsync -a`` or ``touch -r`` over the weights is noticed: they cannot keep the change time).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from hf_select.cache import cache_dir

_BLOB_NAME = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_SNAPSHOT = re.compile(r"models--(?P<owner_name>.+)")


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


def file_digests(path: str | Path) -> dict[str, str]:
    """``{"sha256", "git"}`` of a file's content, memoised while its size, times, inode and device match."""
    real = Path(path).resolve()
    stat = real.stat()
    cache_file = cache_dir() / "digests.json"
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    entry = cache.get(str(real))
    if isinstance(entry, dict) and entry.get("stat") == _stat_key(stat):
        return entry["digests"]
    digests = _hash_file(real)
    if _stat_key(real.stat()) != _stat_key(stat):  # changed while we read it: do not remember a torn read
        return digests
    cache[str(real)] = {"stat": _stat_key(stat), "digests": digests}
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_name(f"{cache_file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache))
        tmp.replace(cache_file)
    except OSError:
        pass  # a read-only home only costs a re-hash next time
    return digests


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def content_identity(folder: Path, gguf_file: str | None) -> str:
    """A digest of every byte of the model's files (just the GGUF file when there is one)."""
    if gguf_file is not None:
        return f"gguf:{gguf_file}:{file_digests(folder / gguf_file)['sha256']}"
    h = hashlib.sha256()
    for p in _files(folder):
        h.update(f"{p.relative_to(folder).as_posix()}={file_digests(p)['sha256']}\n".encode())
    return f"dir:{folder.name}:{h.hexdigest()}"


def hub_snapshot_repo(folder: Path) -> str | None:
    """``owner/name`` when ``folder`` sits where the Hub cache puts a snapshot, else None."""
    parent = folder.parent
    match = _SNAPSHOT.fullmatch(parent.parent.name) if parent.name == "snapshots" else None
    return match.group("owner_name").replace("--", "/") if match else None


def _verified_blob(path: Path, blobs: Path) -> bool:
    """Whether ``path`` is a link into ``blobs`` whose content hashes to the blob's name."""
    if not path.is_symlink():
        return False
    target = path.resolve()
    if target.parent != blobs.resolve() or not _BLOB_NAME.fullmatch(target.name):
        return False
    return target.name in file_digests(target).values()


def snapshot_identity(folder: Path, gguf_file: str | None) -> str | None:
    """``hub:owner/name@commit`` for a Hub cache snapshot whose files are all verified blobs, else None."""
    repo_id = hub_snapshot_repo(folder)
    if repo_id is None:
        return None
    blobs = folder.parent.parent / "blobs"
    wanted = [folder / gguf_file] if gguf_file else [folder / p for p in os.listdir(folder)
                                                     if not p.startswith(".")]
    for path in wanted:
        if path.is_dir() and not path.is_symlink():
            if not all(_verified_blob(p, blobs) for p in _files(path)):
                return None
        elif not _verified_blob(path, blobs):
            return None
    return f"hub:{repo_id}@{folder.name}" + (f":{gguf_file}" if gguf_file else "")


def local_identity(folder: str | Path, gguf_file: str | None) -> str:
    """The identity of model files on this machine (see the module docstring)."""
    folder = Path(folder)
    return snapshot_identity(folder, gguf_file) or content_identity(folder, gguf_file)
