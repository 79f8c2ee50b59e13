"""Writing output folders without ever losing a file hf_select did not write.

Every folder hf_select writes (``save_to_disk`` output, the Hub layout of a curated split) goes through
`output_folder`, which guarantees:

- **Only its own folders.** It writes into a folder it created, an empty one, or one that carries its
  manifest (``.hf_select.json``, the list of files it wrote there). Any other non-empty folder is refused
  with one line, unless ``overwrite=True`` (``--overwrite``): then hf_select's files are added or replaced
  and every other file is kept.
- **Never a file it did not write.** Files are only removed when the manifest lists them; a stranger in the
  way is an error. Nothing is written through a symbolic link: a linked ``data/`` (or a linked output
  folder) is refused, never followed.
- **All or nothing.** The new state is built in a hidden sibling (a hard-linked copy of the current folder)
  and swapped in with two renames, so an error or a kill leaves the previous folder whole; an interrupted
  swap is repaired, and stale temporary folders of its own are removed, on the next write.
- **One writer at a time.** Writers of the same folder take a file lock (in hf_select's cache folder), so two
  runs writing different splits of one folder both land.
- **Never the source, never the working directory.** Paths are expanded (``~``) and resolved; a folder that
  is, contains or lies inside a source it reads, or that holds the current working directory, is refused.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

from hf_select.cache import cache_dir
from hf_select.errors import OutputError
from hf_select.version import __version__

MANIFEST = ".hf_select.json"
TMP_TAG = ".hf_select-tmp-"
OLD_TAG = ".hf_select-old-"


def resolve_output(folder: str | os.PathLike) -> Path:
    """The absolute path of an output folder, ``~`` expanded; the folder itself may be a link (refused later)."""
    path = Path(folder).expanduser()
    return path.parent.resolve() / path.name if path.name not in ("", ".", "..") else path.resolve()


def check_not_source(folder: Path, sources: Iterable[str | os.PathLike]) -> None:
    """Refuse an output folder that is, contains, or lies inside a local source of the data."""
    out = folder.resolve()
    for source in sources:
        src = Path(source).expanduser()
        if not src.exists():
            continue
        src = src.resolve()
        if out == src or out in src.parents or (src.is_dir() and src in out.parents):
            raise OutputError(f"refusing to write to {folder}: it overlaps the source data {source}. "
                              "Choose an output folder outside the source.")


def check_output(folder: str | os.PathLike, *, overwrite: bool = False,
                 sources: Iterable[str | os.PathLike] = ()) -> Path:
    """Every refusal `output_folder` would make, without writing anything (recipes check before scoring).
    Returns the resolved folder."""
    folder = _checked_path(folder, sources)
    with _lock(folder):  # another writer may be swapping the folder right now
        recover_interrupted_swap(folder)
        _inventory(folder, overwrite)
    return folder


def _checked_path(folder: str | os.PathLike, sources: Iterable[str | os.PathLike]) -> Path:
    folder = resolve_output(folder)
    if folder.is_symlink():
        raise OutputError(f"{folder} is a symbolic link; give the real folder it points to")
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} exists and is not a folder")
    cwd = Path.cwd().resolve()
    if folder.resolve() == cwd or folder.resolve() in cwd.parents:
        raise OutputError(f"refusing to write to {folder}: it is (or holds) the current working directory. "
                          "Give a new folder, e.g. out/.")
    check_not_source(folder, sources)
    return folder


def _lock(folder: Path) -> FileLock:
    """The lock writers of ``folder`` share (in hf_select's cache, so nothing is left next to the output)."""
    locks = cache_dir() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    return FileLock(str(locks / f"{hashlib.sha256(str(folder).encode()).hexdigest()[:32]}.lock"))


class Staging:
    """The new state of an output folder while it is being built (see `output_folder`)."""

    def __init__(self, root: Path, owned: set[str], foreign: set[str], overwrite: bool) -> None:
        self.root, self.owned, self.foreign, self.overwrite = root, owned, foreign, overwrite
        self.written: set[str] = set()

    def path(self, relative: str) -> Path:
        """Where to write ``relative`` (its folders created): never through a link, never over a stranger's file
        (unless overwriting was allowed)."""
        self._check_no_link(relative)
        if relative in self.foreign and not self.overwrite:
            raise OutputError(f"{self.root.name}/{relative} exists and was not written by hf_select; move it away "
                              "or allow overwriting (--overwrite, overwrite=True)")
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():
            target.unlink()  # a new inode: the old one may be a hard link shared with the published folder
        self.written.add(relative)
        self.foreign.discard(relative)
        return target

    def write_bytes(self, relative: str, content: bytes) -> None:
        self.path(relative).write_bytes(content)

    def remove(self, relative: str) -> None:
        """Remove a file hf_select wrote earlier; a file it did not write is an error, never deleted."""
        self._check_no_link(relative)
        if relative not in self.owned:
            raise OutputError(f"{self.root.name}/{relative} is in the way and was not written by hf_select; "
                              "hf_select never deletes such a file. Move it away and run again.")
        (self.root / relative).unlink()
        self.owned.discard(relative)

    def files(self, pattern: str) -> list[str]:
        """Relative paths of the files matching a glob ``pattern`` (links not followed)."""
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.glob(pattern)
                      if p.is_file() or p.is_symlink())

    @contextmanager
    def incoming(self) -> Iterator[Path]:
        """A scratch folder for writers that make a whole tree (``save_to_disk``, parquet shards); its files move
        into place, with every check of `path`, when the block ends. It lives inside the staging copy, so a
        killed run leaves nothing next to the output."""
        scratch = self.root / f"{TMP_TAG}{uuid.uuid4().hex}"  # made by the writer, as save_to_disk expects
        yield scratch
        for path in sorted(p for p in scratch.rglob("*") if p.is_file()):
            os.replace(path, self.path(path.relative_to(scratch).as_posix()))
        shutil.rmtree(scratch, ignore_errors=True)

    def _check_no_link(self, relative: str) -> None:
        parts = Path(relative).parts
        if Path(relative).is_absolute() or ".." in parts:
            raise OutputError(f"{relative!r} is not a path inside the output folder")
        for i in range(1, len(parts) + 1):
            if (self.root.joinpath(*parts[:i])).is_symlink():
                raise OutputError(f"{self.root.name}/{'/'.join(parts[:i])} is a symbolic link; hf_select writes only "
                                  "real files inside its output folder. Replace the link by a folder, or write "
                                  "elsewhere.")


@contextmanager
def output_folder(folder: str | os.PathLike, *, overwrite: bool = False,
                  sources: Iterable[str | os.PathLike] = ()) -> Iterator[Staging]:
    """Build the new state of ``folder`` in a `Staging` copy and swap it in when the block ends without error.

    ``sources``: local paths the data was read from (refused as outputs). See the module docstring."""
    folder = _checked_path(folder, sources)
    with _lock(folder):
        recover_interrupted_swap(folder)
        _remove_stale_temporaries(folder)
        owned, foreign = _inventory(folder, overwrite)
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = folder.with_name(f".{folder.name}{TMP_TAG}{uuid.uuid4().hex}")
        try:
            if folder.exists():
                shutil.copytree(folder, staging, symlinks=True, copy_function=_link_or_copy)
                shutil.copystat(folder, staging)
            else:
                staging.mkdir()
            state = Staging(staging, owned, foreign, overwrite)
            yield state
            manifest = {"written_by": "hf_select", "version": __version__,
                        "files": sorted((state.owned | state.written) - {MANIFEST})}
            (staging / MANIFEST).unlink(missing_ok=True)
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
            swap_in(staging, folder)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)


def _inventory(folder: Path, overwrite: bool) -> tuple[set[str], set[str]]:
    """(files hf_select wrote there, other files); refuses a stranger's non-empty folder unless overwriting."""
    if not folder.exists():
        return set(), set()
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()}
    manifest = folder / MANIFEST
    if manifest.is_file():
        try:
            owned = set(json.loads(manifest.read_text())["files"])
        except (ValueError, KeyError, TypeError):
            raise OutputError(f"{manifest} is damaged; hf_select cannot tell which files it wrote there. "
                              "Restore it, or write to a new folder.") from None
        owned &= present
        return owned, present - owned - {MANIFEST}
    if present and not overwrite:
        raise OutputError(f"refusing to write to {folder}: it is not empty and hf_select did not create it. "
                          "Choose a new folder, or allow writing into it with --overwrite (overwrite=True): "
                          "files hf_select does not write are kept.")
    return set(), present


def _link_or_copy(src: str, dst: str) -> None:
    # Staging copies share the published files' inodes (cheap for big parquet files); nothing is ever modified
    # in place: files are only added, replaced (a new inode) or unlinked.
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def swap_in(staging: Path, folder: Path) -> None:
    """Replace ``folder`` by the finished ``staging``: two renames, rolled back if the second fails. A crash
    between them leaves the previous state whole next to the finished staging folder, and
    `recover_interrupted_swap` puts it back."""
    if not folder.exists():
        os.rename(staging, folder)
        return
    old = folder.with_name(staging.name.replace(TMP_TAG, OLD_TAG, 1))
    os.rename(folder, old)
    try:
        os.rename(staging, folder)
    except BaseException:
        os.rename(old, folder)
        raise
    shutil.rmtree(old, ignore_errors=True)


def recover_interrupted_swap(folder: Path) -> None:
    """If a write died between its two renames (``folder`` gone, its old state and the staging folder both
    left), put the previous state back. A lone old state (a cleanup that failed after a complete swap) is
    never revived."""
    if folder.exists():
        return
    for old in sorted(folder.parent.glob(f".{glob.escape(folder.name)}{OLD_TAG}*")):
        staging = folder.with_name(old.name.replace(OLD_TAG, TMP_TAG, 1))
        if staging.is_dir():
            os.rename(old, folder)
            shutil.rmtree(staging, ignore_errors=True)
            return


def _remove_stale_temporaries(folder: Path) -> None:
    """Temporary siblings of ``folder`` left by killed writers (only ever hf_select's own, by their names)."""
    for tag in (TMP_TAG, OLD_TAG):
        for stale in folder.parent.glob(f".{glob.escape(folder.name)}{tag}*"):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)


def save_to_disk(ds, folder: str | os.PathLike, *, overwrite: bool = False,
                 sources: Iterable[str | os.PathLike] = ()) -> Path:
    """``ds.save_to_disk(folder)`` with every guarantee of `output_folder`: the files hf_select wrote there
    before are replaced, any other file is kept."""
    with output_folder(folder, overwrite=overwrite, sources=sources) as staging:
        for relative in sorted(staging.owned):
            staging.remove(relative)
        with staging.incoming() as fresh:
            ds.save_to_disk(str(fresh))
    return resolve_output(folder)
