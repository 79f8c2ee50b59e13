"""What the fake Hugging Face Hub holds: repositories, commits and files (standard library only).

Repositories live in memory: each has branches, tags and pull-request refs pointing at commits, and each
commit is a full, immutable snapshot of the file tree.  Files are stored whole; those git keeps in Git
LFS are flagged, so the git blob id (of the LFS pointer or of the content) is the one the Hub reports.
Tests read these objects through `hub_server.HubServer.repo`; the HTTP handlers that fill them are in
`hub_app`.  Also here: the small git helpers (blob ids, ``.gitattributes`` / ``.gitignore`` patterns).
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

REPO_TYPES = ("model", "dataset", "space")
DEFAULT_BRANCH = "main"

# `.gitattributes` of a freshly created repo: binary formats go to LFS.
INITIAL_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (
        "*.7z *.arrow *.avro *.bin *.bz2 *.ckpt *.gguf *.gz *.h5 *.joblib *.lz4 *.msgpack *.npy *.npz *.onnx"
        " *.parquet *.pb *.pickle *.pkl *.pt *.pth *.rar *.safetensors *.tar *.tgz *.xz *.zip *.zst"
        " *.mp3 *.wav *.flac *.jpg *.jpeg *.png *.gif *.webp *.mp4"
    ).split()
)


def git_blob_oid(data: bytes) -> str:
    """The git object id (sha1 of ``blob <size>\\0<data>``) of a blob."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class StoredFile:
    """One file of a commit snapshot: its bytes, and whether git stores it through LFS."""

    content: bytes = field(repr=False)
    lfs: bool = False

    @property
    def size(self) -> int:
        return len(self.content)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @cached_property
    def lfs_pointer(self) -> bytes:
        """The Git LFS pointer file that git itself stores for an LFS file."""
        return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {self.size}\n").encode()

    @cached_property
    def git_oid(self) -> str:
        """The blob id git records: of the pointer for LFS files, of the content otherwise."""
        return git_blob_oid(self.lfs_pointer if self.lfs else self.content)


@dataclass(frozen=True)
class Commit:
    """An immutable commit: a full snapshot of the repository's files."""

    oid: str
    parent: str | None
    title: str
    description: str
    created_at: datetime
    author: str
    files: Mapping[str, StoredFile] = field(repr=False)

    def read(self, path: str) -> bytes:
        """The content of `path` in this commit (raises `KeyError` if absent)."""
        return self.files[path].content

    def text(self, path: str) -> str:
        return self.read(path).decode("utf-8")


@dataclass
class Repo:
    """A repository: commits, and refs (branches, tags, pull requests) that point at them."""

    repo_type: str
    repo_id: str
    private: bool
    created_at: datetime
    gated: bool | str = False
    commits: dict[str, Commit] = field(default_factory=dict, repr=False)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    pull_requests: dict[int, str] = field(default_factory=dict)
    lfs_objects: dict[str, bytes] = field(default_factory=dict, repr=False)  # sha256 -> content

    @property
    def url_prefix(self) -> str:
        """The path of the repo's web pages and files: ``/user/m``, ``/datasets/user/d``..."""
        return f"/{self.repo_type}s/{self.repo_id}" if self.repo_type != "model" else f"/{self.repo_id}"

    def resolve(self, revision: str) -> Commit | None:
        """The commit a revision names: a branch, tag, ``refs/...`` ref or (prefix of a) commit oid."""
        for prefix, refs in (("refs/heads/", self.branches), ("refs/tags/", self.tags)):
            name = revision.removeprefix(prefix)
            if name in refs:
                return self.commits[refs[name]]
        if match := re.fullmatch(r"refs/pr/(\d+)", revision):
            oid = self.pull_requests.get(int(match.group(1)))
            return self.commits[oid] if oid else None
        if re.fullmatch(r"[0-9a-f]{7,40}", revision):
            found = [commit for oid, commit in self.commits.items() if oid.startswith(revision)]
            return found[0] if len(found) == 1 else None
        return None

    def head(self, revision: str = DEFAULT_BRANCH) -> Commit:
        """The commit at `revision` (raises `KeyError` if the revision does not exist)."""
        commit = self.resolve(revision)
        if commit is None:
            raise KeyError(f"no revision {revision!r} in {self.repo_type} repo {self.repo_id!r}")
        return commit

    def log(self, revision: str = DEFAULT_BRANCH) -> list[Commit]:
        """The history of `revision`, newest commit first (including the initial commit)."""
        history = []
        commit: Commit | None = self.head(revision)
        while commit is not None:
            history.append(commit)
            commit = self.commits[commit.parent] if commit.parent else None
        return history


def _matches_pattern(path: str, pattern: str) -> bool:
    """Whether `path` matches a .gitattributes / .gitignore style pattern (simplified)."""
    pattern = pattern.strip().rstrip("/")
    if not pattern:
        return False
    if pattern.startswith("/"):
        return fnmatch.fnmatchcase(path, pattern[1:])
    if "/" in pattern:
        return fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path, pattern.replace("**/", ""))
    parts = path.split("/")
    return any(fnmatch.fnmatchcase(part, pattern) for part in parts)


def _lfs_patterns(gitattributes: str) -> list[str]:
    return [
        line.split()[0]
        for line in gitattributes.splitlines()
        if line.strip() and not line.lstrip().startswith("#") and "filter=lfs" in line.split()[1:]
    ]


def _ignore_patterns(gitignore: str) -> list[str]:
    return [line.strip() for line in gitignore.splitlines() if line.strip() and not line.startswith(("#", "!"))]


__all__ = [
    "DEFAULT_BRANCH",
    "INITIAL_GITATTRIBUTES",
    "REPO_TYPES",
    "Commit",
    "Repo",
    "StoredFile",
    "git_blob_oid",
]
