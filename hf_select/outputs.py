"""Writing output folders: hf_select's own files, in place, one atomic rename each; never anything else.

Every folder hf_select writes (``save_to_disk`` output, the Hub layout of a curated split) goes through
`output_folder`, which guarantees:

- **Only its own files, in place.** New files are staged in a hidden scratch folder *inside* the output (same
  filesystem) and each is moved into place with one atomic rename; the manifest (``.hf_select.json``: every file
  hf_select wrote there, with its SHA-256) goes last. The folder itself, and every file, folder and mount point
  hf_select did not write, are never copied, moved, re-owned or recreated, so anything another program writes
  meanwhile is kept. A crash leaves at every path either the old or the new file, and the manifest (which lists
  the pending new files before any is moved) says which of them are hf_select's.
- **Never someone else's file.** hf_select writes into a folder it created, an empty one, or one that carries its
  manifest. Any other non-empty folder is refused with one line unless ``overwrite=True`` (``--overwrite``): then
  hf_select's files are added or replaced and every other file is kept. A file hf_select wrote but a person has
  changed since (its hash differs from the manifest) is not replaced or removed without ``overwrite=True``, except
  the card (README), which is merged into, a person's edits kept; a file it did not write is never removed.
  Nothing is written through a symbolic link or into a mount point.
- **Refused whatever the options.** The filesystem root, the home folder itself, system folders (``/etc``,
  ``/usr``, ...), a mount point, the current working directory (or a folder holding it), a folder that overlaps
  the data's source, and a folder inside a model's folder.
- **One writer at a time.** Writers take a lock that lives in the folder itself (``.hf_select.lock``), so every
  writer of one folder, whatever path it came by, takes the same lock. A scratch folder is removed as stale only
  when its name proves it is hf_select's and its writer (this host, that process) is gone.
- **Checked before any work.** `check_output` makes every refusal, checks that the folder can be written (and that
  file names fit the filesystem) and that a README to merge into can be read, before a model loads.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

from hf_select.digests import file_digests
from hf_select.errors import OutputError
from hf_select.version import __version__

MANIFEST = ".hf_select.json"
LOCK = ".hf_select.lock"
TMP_TAG = ".hf_select-tmp-"
SYSTEM_FOLDERS = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
)  # refused, and everything inside them
SYSTEM_ROOTS = ("/", "/home", "/mnt", "/media", "/opt", "/root", "/srv", "/tmp", "/var", "/Users", "/Volumes")


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
            raise OutputError(
                f"refusing to write to {folder}: it overlaps the source data {source}. "
                "Choose an output folder outside the source."
            )


def check_output(
    folder: str | os.PathLike,
    *,
    overwrite: bool = False,
    sources: Iterable[str | os.PathLike] = (),
    inside_of: Iterable[str | os.PathLike] = (),
    files: Iterable[str] = (),
    merged: Iterable[str] = (),
) -> Path:
    """Every refusal `output_folder` would make, without writing anything (runs check it before scoring):
    the refused places, a non-empty folder hf_select did not write, ``files`` (the relative paths a run will
    write) that are someone else's or were changed by a person, file names too long for the filesystem, a folder
    that cannot be written. ``inside_of``: folders the output may not lie in (a model's); ``merged``: files the
    run merges into rather than replaces (the card). Returns the folder."""
    folder = _checked_path(folder, sources, inside_of)
    files = list(files)
    _check_names(folder, files)
    if folder.exists():
        owned, foreign = _inventory(folder, overwrite)
        for pattern in files:
            matches = [p.relative_to(folder).as_posix() for p in folder.glob(pattern)] if "*" in pattern else [pattern]
            for relative in matches:
                _may_replace(folder, relative, owned, foreign, overwrite, merged=relative in set(merged))
    _check_writable(folder)
    return folder


def _checked_path(
    folder: str | os.PathLike, sources: Iterable[str | os.PathLike], inside_of: Iterable[str | os.PathLike] = ()
) -> Path:
    folder = resolve_output(folder)
    real = folder.resolve()
    if folder.is_symlink():
        raise OutputError(f"{folder} is a symbolic link; give the real folder it points to")
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} exists and is not a folder")
    blocked = next((p for p in folder.parents if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        raise OutputError(f"cannot write to {folder}: {blocked} is a file, not a folder")
    if (
        str(real) in (*SYSTEM_FOLDERS, *SYSTEM_ROOTS)
        or real == Path.home().resolve()
        or any(str(real).startswith(system + "/") for system in SYSTEM_FOLDERS)
    ):
        raise OutputError(
            f"refusing to write to {folder}: it is the filesystem root, your home folder or a system "
            "folder (even with --overwrite). Give a folder of its own, e.g. out/."
        )
    if folder.exists() and os.path.ismount(folder):
        raise OutputError(
            f"refusing to write to {folder}: it is a mount point (even with --overwrite). Write to a folder inside it."
        )
    cwd = Path.cwd().resolve()
    if real == cwd or real in cwd.parents:
        raise OutputError(
            f"refusing to write to {folder}: it is (or holds) the current working directory. "
            "Give a new folder, e.g. out/."
        )
    check_not_source(folder, sources)
    for model in inside_of:
        model_folder = Path(model).expanduser().resolve()
        if real == model_folder or model_folder in real.parents:
            raise OutputError(
                f"refusing to write to {folder}: it lies inside the model folder {model}. "
                "Choose an output folder outside the model."
            )
    return folder


def _check_names(folder: Path, files: Iterable[str]) -> None:
    """File and folder names the filesystem cannot hold are refused before any work (not after scoring)."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    name_max = os.pathconf(existing, "PC_NAME_MAX")
    path_max = os.pathconf(existing, "PC_PATH_MAX")
    for relative in ["", *files]:
        target = folder / relative if relative else folder
        too_long = next((part for part in target.relative_to(existing).parts if len(part.encode()) > name_max), None)
        if too_long or len(str(target).encode()) >= path_max:
            shown = too_long or str(target)
            raise OutputError(
                f"cannot write {shown[:60]}...: the name is longer than this filesystem allows "
                f"({name_max} bytes a name, {path_max} a path). Choose shorter names."
            )


def _check_writable(folder: Path) -> None:
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".hf_select-probe-"):
            pass
    except OSError as err:
        raise OutputError(
            f"cannot write to {folder}: {existing} is not writable ({err.strerror or err}). Choose "
            "another output folder."
        ) from None


class Staging:
    """What a write will change in an output folder: new files in ``scratch``, removals, the folder's current
    state to read. Nothing in the folder changes until the block of `output_folder` ends."""

    def __init__(
        self, folder: Path, scratch: Path, owned: dict[str, str | None], foreign: set[str], overwrite: bool
    ) -> None:
        self.folder, self.scratch, self.owned, self.foreign, self.overwrite = folder, scratch, owned, foreign, overwrite
        self.written: set[str] = set()
        self.removed: set[str] = set()
        self.merged: dict[str, str | None] = {}  # a file written as a merge into its content: that content's hash

    def existing(self, pattern: str) -> list[str]:
        """Relative paths of the folder's current files matching a glob ``pattern`` (never through a link)."""
        found = (p.relative_to(self.folder) for p in self.folder.glob(pattern))
        return sorted(
            r.as_posix()
            for r in found
            if not _ours_internal(r)
            and not through_link(self.folder, r)
            and ((self.folder / r).is_file() or (self.folder / r).is_symlink())
        )

    def read_bytes(self, relative: str) -> bytes | None:
        """The current content of a file of the folder (None when there is none)."""
        path = self.folder / relative
        return path.read_bytes() if path.is_file() and not path.is_symlink() else None

    def path(self, relative: str) -> Path:
        """Where to write the new ``relative`` (inside the scratch folder; its folders created)."""
        _check_relative(relative)
        target = self.scratch / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        self.written.add(relative)
        self.removed.discard(relative)
        return target

    def write_bytes(self, relative: str, content: bytes) -> None:
        self.path(relative).write_bytes(content)

    def write_merged(self, relative: str, content: bytes, merged_into: bytes | None) -> None:
        """Write a file whose new content was merged into ``merged_into`` (what `read_bytes` gave): it replaces the
        file even after a person edited it (the edit is in the merge; the README is the file people edit), unless
        the file changed again before the write ends."""
        self.write_bytes(relative, content)
        self.merged[relative] = None if merged_into is None else hashlib.sha256(merged_into).hexdigest()

    def remove(self, relative: str) -> None:
        """Remove a file hf_select wrote earlier; a file it did not write is an error, never deleted."""
        _check_relative(relative)
        if relative not in self.owned:
            raise OutputError(
                f"{self.folder.name}/{relative} is in the way and was not written by hf_select; "
                "hf_select never deletes such a file. Move it away and run again."
            )
        self.removed.add(relative)

    @contextmanager
    def incoming(self) -> Iterator[Path]:
        """A folder for writers that make a whole tree (``save_to_disk``, parquet shards): its files are staged
        like `path`'s when the block ends."""
        tree = self.scratch / f"{TMP_TAG}tree"
        yield tree
        for path in sorted(p for p in tree.rglob("*") if p.is_file()):
            os.replace(path, self.path(path.relative_to(tree).as_posix()))
        shutil.rmtree(tree, ignore_errors=True)


@contextmanager
def output_folder(
    folder: str | os.PathLike,
    *,
    overwrite: bool = False,
    sources: Iterable[str | os.PathLike] = (),
    inside_of: Iterable[str | os.PathLike] = (),
    record: dict | None = None,
) -> Iterator[Staging]:
    """Stage the new files of ``folder`` in a `Staging` and move each into place when the block ends without error.

    ``sources``: local paths the data was read from (refused as outputs); ``record``: more facts for the manifest
    (the data's sources, so that publishing a folder over its own source is refused). See the module docstring."""
    folder = _checked_path(folder, sources, inside_of)
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / LOCK)):
        _remove_stale_scratch(folder)
        owned, foreign = _inventory(folder, overwrite)
        scratch = folder / f"{TMP_TAG}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        scratch.mkdir()
        try:
            staging = Staging(folder, scratch, owned, foreign, overwrite)
            yield staging
            _commit(staging, record or {})
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise OutputError(
                    f"no space left while writing {folder}; nothing of the previous output was "
                    "replaced. Free some space and run again."
                ) from None
            raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _commit(staging: Staging, record: dict) -> None:
    """Move the staged files into place, one rename each, after a manifest that lists them as pending."""
    folder, written = staging.folder, sorted(staging.written)
    for relative in [*written, *staging.removed]:
        _may_replace(
            folder, relative, staging.owned, staging.foreign, staging.overwrite, merged=relative in staging.merged
        )
        if (
            relative in staging.merged
            and (folder / relative).is_file()
            and not staging.overwrite
            and file_digests(folder / relative)["sha256"] != staging.merged[relative]
        ):
            raise OutputError(
                f"{folder.name}/{relative} changed while hf_select was merging into it; nothing was "
                "replaced. Run again."
            )
    hashes = {relative: file_digests(staging.scratch / relative)["sha256"] for relative in written}
    kept = {relative: digest for relative, digest in staging.owned.items() if relative not in staging.removed}
    manifest = {"written_by": "hf_select", "version": __version__, **record}
    _write_manifest(folder, staging.scratch, {**manifest, "files": kept, "pending": hashes})
    for relative in written:
        target = folder / relative
        _make_parents(folder, target.parent)
        os.replace(staging.scratch / relative, target)
    for relative in sorted(staging.removed):
        (folder / relative).unlink(missing_ok=True)
    _write_manifest(folder, staging.scratch, {**manifest, "files": {**kept, **hashes}})


def _write_manifest(folder: Path, scratch: Path, manifest: dict) -> None:
    path = scratch / MANIFEST
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(path, folder / MANIFEST)


def _make_parents(folder: Path, parent: Path) -> None:
    """Create the folders of a file inside ``folder``, never through a link or into another mount."""
    path = folder
    for part in parent.relative_to(folder).parts:
        path = path / part
        if path.is_symlink() or path.is_dir() and os.path.ismount(path):
            raise OutputError(
                f"{path} is a symbolic link or a mount point; hf_select writes only real files inside "
                "its output folder. Replace it by a folder, or write elsewhere."
            )
        path.mkdir(exist_ok=True)


def _check_relative(relative: str) -> None:
    parts = Path(relative).parts
    if not parts or Path(relative).is_absolute() or ".." in parts or _ours_internal(Path(relative)):
        raise OutputError(f"{relative!r} is not a path inside the output folder")


def through_link(folder: Path, relative: Path) -> bool:
    """Whether a folder on the way to ``relative`` is a symbolic link."""
    return any(folder.joinpath(*relative.parts[:i]).is_symlink() for i in range(1, len(relative.parts)))


def _ours_internal(relative: Path) -> bool:
    """hf_select's bookkeeping inside an output folder: the manifest, the lock, scratch folders."""
    first = relative.parts[0] if relative.parts else ""
    return first in (MANIFEST, LOCK) or first.startswith(TMP_TAG)


def _may_replace(
    folder: Path, relative: str, owned: dict[str, str | None], foreign: set[str], overwrite: bool, merged: bool = False
) -> None:
    """Refuse to replace or remove someone else's file, or one of hf_select's that a person has changed (unless the
    new content is ``merged`` into it, as a card is)."""
    target = folder / relative
    parts = Path(relative).parts
    for i in range(1, len(parts) + 1):
        if (folder.joinpath(*parts[:i])).is_symlink():
            raise OutputError(
                f"{folder.name}/{'/'.join(parts[:i])} is a symbolic link; hf_select writes only real "
                "files inside its output folder. Replace the link by a folder, or write elsewhere."
            )
    if not target.exists() or overwrite:
        return
    if relative in foreign:
        raise OutputError(
            f"{folder.name}/{relative} exists and was not written by hf_select; move it away or allow "
            "overwriting (--overwrite, overwrite=True)"
        )
    recorded = owned.get(relative)
    if recorded is not None and not merged and file_digests(target)["sha256"] != recorded:
        raise OutputError(
            f"{folder.name}/{relative} was written by hf_select but has been changed since; it is not "
            "replaced. Move it away, or allow overwriting (--overwrite, overwrite=True)."
        )


def _inventory(folder: Path, overwrite: bool) -> tuple[dict[str, str | None], set[str]]:
    """({file hf_select wrote there: its recorded hash}, other files); refuses a stranger's non-empty folder
    unless overwriting. Files pending in an interrupted write count as hf_select's with either hash."""
    present = set()
    for root, dirs, names in os.walk(folder):
        base = Path(root)
        dirs[:] = [
            d for d in dirs if not os.path.ismount(base / d) and not _ours_internal((base / d).relative_to(folder))
        ]  # another volume mounted inside is never read or written
        present |= {
            (base / n).relative_to(folder).as_posix()
            for n in names
            if not _ours_internal((base / n).relative_to(folder))
        }
    manifest = folder / MANIFEST
    if manifest.is_file():
        try:
            data = json.loads(manifest.read_text())
            files = data["files"]
            recorded = dict.fromkeys(files) if isinstance(files, list) else dict(files)  # a 0.2 manifest: no hashes
            pending = data.get("pending", {})
        except (ValueError, KeyError, TypeError, AttributeError):
            raise OutputError(
                f"{manifest} is damaged; hf_select cannot tell which files it wrote there. "
                "Restore it, or write to a new folder."
            ) from None
        for relative, digest in pending.items():  # an interrupted write: the old or the new file, both ours
            path = folder / relative
            if path.is_file() and (relative not in recorded or file_digests(path)["sha256"] == digest):
                recorded[relative] = digest
        owned = {relative: digest for relative, digest in recorded.items() if relative in present}
        return owned, present - set(owned)
    if present and not overwrite:
        raise OutputError(
            f"refusing to write to {folder}: it is not empty and hf_select did not create it. "
            "Choose a new folder, or allow writing into it with --overwrite (overwrite=True): "
            "files hf_select does not write are kept."
        )
    return {}, present


def manifest_of(folder: str | os.PathLike) -> dict | None:
    """The manifest of a folder hf_select wrote (None when it has none)."""
    path = Path(folder).expanduser() / MANIFEST
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except ValueError:
        return None


def _remove_stale_scratch(folder: Path) -> None:
    """Scratch folders of writers that died on this host (their name says host and process): hf_select's own."""
    host = socket.gethostname()
    for scratch in folder.glob(f"{TMP_TAG}*"):
        name = scratch.name.removeprefix(TMP_TAG)
        owner, _, rest = name.rpartition("-")[0].rpartition("-")
        if owner != host or not rest.isdigit() or not scratch.is_dir() or scratch.is_symlink():
            continue
        try:
            os.kill(int(rest), 0)
        except ProcessLookupError:
            shutil.rmtree(scratch, ignore_errors=True)
        except OSError:
            pass  # alive, or not ours to signal: keep it


def save_to_disk(
    ds, folder: str | os.PathLike, *, overwrite: bool = False, sources: Iterable[str | os.PathLike] = ()
) -> Path:
    """``ds.save_to_disk(folder)`` with every guarantee of `output_folder`: the files hf_select wrote there
    before are replaced, any other file is kept."""
    with output_folder(folder, overwrite=overwrite, sources=sources) as staging:
        for relative in sorted(staging.owned):
            staging.remove(relative)
        with staging.incoming() as fresh:
            ds.save_to_disk(str(fresh))
    return resolve_output(folder)
