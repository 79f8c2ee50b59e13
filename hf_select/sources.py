"""Reading the data a user points at, and writing results without ever leaving half a folder behind."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

_FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}


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


def save_atomically(ds: Dataset | DatasetDict, out_dir: str | Path) -> Path:
    """``save_to_disk`` into a temporary sibling, then swap it in: an interrupted run leaves no partial output."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}")
    ds.save_to_disk(str(tmp))
    replace_dir(tmp, out_dir)
    return out_dir


def replace_dir(new: Path, target: Path) -> None:
    """Put the finished folder ``new`` at ``target``; the previous ``target`` is removed only afterwards."""
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)
