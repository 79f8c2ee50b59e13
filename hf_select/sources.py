"""Reading the data a user points at, and writing results without ever leaving half a folder behind."""

from __future__ import annotations

import glob
import os
import re
import shutil
import uuid
from pathlib import Path

from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

_FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}


def hub_dataset_id(path: str) -> str | None:
    """``path`` when it names a Hub dataset (``owner/name``, not a local file or folder), else None."""
    if Path(path).exists() or not re.fullmatch(r"[\w.-]+/[\w.-]+", path):
        return None
    return path


def load_source(path: str, *, split: str | None = "train", name: str | None = None,
                data_files: str | list[str] | dict | None = None, revision: str | None = None,
                ) -> Dataset | DatasetDict:
    """Anything ``load_dataset`` accepts (a Hub id, a builder name with ``data_files``), a local data file,
    or a folder written by ``save_to_disk``."""
    local = Path(path)
    if local.is_dir() and ((local / "dataset_info.json").exists() or (local / "dataset_dict.json").exists()):
        ds = load_from_disk(str(local))
        return ds[split] if split and isinstance(ds, DatasetDict) else ds
    if local.is_file():
        builder = _FILE_BUILDERS.get(local.suffix)
        if builder is None:
            raise ValueError(f"Cannot tell the format of {path!r}; use one of {sorted(_FILE_BUILDERS)}")
        return load_dataset(builder, data_files=str(local), split=split)
    return load_dataset(path, name, data_files=data_files, split=split, revision=revision)


# Writing folders: build the new state in a hidden sibling, then swap it in with two renames.
TMP_TAG = ".hf_select-tmp-"
OLD_TAG = ".hf_select-old-"


def staging_dir(folder: Path) -> Path:
    """A fresh hidden sibling of ``folder`` (same file system, so the swap is a rename)."""
    return folder.with_name(f".{folder.name}{TMP_TAG}{uuid.uuid4().hex}")


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


def save_atomically(ds: Dataset | DatasetDict, out_dir: str | Path) -> Path:
    """``save_to_disk`` into a staging folder, then swap it in: an interrupted run leaves no partial output."""
    out_dir = Path(out_dir).absolute()
    recover_interrupted_swap(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(out_dir)
    try:
        ds.save_to_disk(str(staging))
        swap_in(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir
