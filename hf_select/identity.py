"""What a model *is*, for cache keys: its weights and tokenizer, byte for byte, plus the dtype it runs in.

A cached score must never be served once any byte of the files that shaped it has changed, so identities
are content digests:

- A local folder or GGUF file: the SHA-256 of every one of the model's own files (weights, configuration,
  tokenizer, chat templates, custom code; `MODEL_FILES`), in full, whatever its size. A README or a results file
  beside the weights is not part of the model.
- A Hub model in the local cache (``.../models--owner--name/snapshots/<commit>/``): ``hub:owner/name@<commit>``
  when every file is a *verified* cache blob, i.e. a link into the repo's ``blobs/`` folder whose content
  hashes to the blob's own name (the SHA-256 of an LFS file, the git blob id of any other file), which is
  how the Hub names them. A file replaced in place fails that check, and the folder is then identified by its
  content like any local folder. A path that merely contains ``/snapshots/`` earns no trust.
- A Hub model not cached yet: ``hub:owner/name@<commit>`` from the Hub (a commit names immutable content),
  the same string the verified cache gives once the files are downloaded.

Hashing a 60 GB teacher takes a while, so digests are memoised (`hf_select.digests`).
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import re
from pathlib import Path

from hf_select.digests import file_digests

_BLOB_NAME = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


# What shapes a model's numbers: weights, configuration, tokenizer, chat templates, and custom code. A README, an
# evaluation log or an output folder written beside the weights does not, and is left out of its identity.
MODEL_FILES = (
    "*.safetensors",
    "*.bin",
    "*.pt",
    "*.pth",
    "*.ckpt",
    "*.gguf",
    "*.h5",
    "*.msgpack",
    "*.index.json",
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "*.tiktoken",
    "spiece.model",
    "sentencepiece*.model",
    "chat_template.json",
    "*.jinja",
    "*.py",
)


def model_files(folder: Path) -> list[Path]:
    """The files of a model folder that shape its numbers (`MODEL_FILES`), hidden ones excluded."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and any(fnmatch.fnmatch(p.name, pattern) for pattern in MODEL_FILES)
    )


def content_identity(folder: Path, gguf_file: str | None) -> str:
    """A digest of every byte of the model's own files (just the GGUF file when there is one)."""
    if gguf_file is not None:
        return f"gguf:{gguf_file}:{file_digests(folder / gguf_file)['sha256']}"
    h = hashlib.sha256()
    for p in model_files(folder):
        h.update(f"{p.relative_to(folder).as_posix()}={file_digests(p)['sha256']}\n".encode())
    return f"dir:{folder.name}:{h.hexdigest()}"


@functools.lru_cache(maxsize=64)
def hub_snapshot_repo(folder: Path) -> str | None:
    """``owner/name`` when ``folder`` is a snapshot of a model in a Hub cache (as huggingface_hub's
    ``scan_cache_dir`` reads the cache), else None."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    if folder.parent.name != "snapshots" or len(folder.parents) < 3:
        return None
    try:
        cache = scan_cache_dir(folder.parents[2])
    except (CacheNotFound, OSError, ValueError):
        return None
    return next(
        (
            repo.repo_id
            for repo in cache.repos
            if repo.repo_type == "model"
            for revision in repo.revisions
            if Path(revision.snapshot_path) == folder
        ),
        None,
    )


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
    wanted = [folder / gguf_file] if gguf_file else model_files(folder)
    if not all(_verified_blob(path, blobs) for path in wanted):
        return None
    return f"hub:{repo_id}@{folder.name}" + (f":{gguf_file}" if gguf_file else "")


def local_identity(folder: str | Path, gguf_file: str | None) -> str:
    """The identity of model files on this machine (see the module docstring)."""
    folder = Path(folder)
    return snapshot_identity(folder, gguf_file) or content_identity(folder, gguf_file)
