"""Reading the data a user points at, and knowing where it came from.

A source is anything ``load_dataset`` accepts (a Hub id, a builder name with ``data_files``, ``hf://`` URLs),
a local data file, or a folder written by ``save_to_disk``. Where it came from matters twice: outputs must
never overlap a local source (`local_paths`), and a curated subset must never be published over the Hub repo
it was read from (`hub_repo_ids`), however that repo was named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from datasets import Dataset, DatasetDict, IterableDataset, IterableDatasetDict, load_dataset, load_from_disk

from hf_select.errors import HubError, NotFoundError

FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}
_REPO_ID = r"[\w.-]+/[\w.-]+"
_HUB_URL = re.compile(rf"(?:hf://|https?://huggingface\.co/)datasets/(?P<repo>{_REPO_ID})(?:@[^/]*)?(?:/.*)?")
_BUILTIN_DATA = {"hf_select:math_teachers": "math_teachers.jsonl"}


def builtin_data_path(path: str) -> str:
    """Paths such as ``hf_select:math_teachers`` point at data shipped in the package."""
    if path in _BUILTIN_DATA:
        from importlib import resources

        return str(resources.files("hf_select.data").joinpath(_BUILTIN_DATA[path]))
    return path


def _looks_local(path: str) -> bool:
    return (path.startswith(("/", "./", "../", "~")) or Path(path).suffix in FILE_BUILDERS
            or Path(path).expanduser().exists())


def hub_dataset_id(path: str) -> str | None:
    """The Hub dataset a path names (``owner/name``, ``datasets/owner/name``, ``hf://datasets/owner/name/...``,
    ``https://huggingface.co/datasets/owner/name``), lower-cased as the Hub compares ids; None when local."""
    if not isinstance(path, str):
        return None
    url = _HUB_URL.fullmatch(path.strip())
    if url:
        return url.group("repo").lower()
    bare = path.strip().removeprefix("datasets/")
    if _looks_local(path) or not re.fullmatch(_REPO_ID, bare):
        return None
    return bare.lower()


def _as_list(data_files: str | list | dict | None) -> list[str]:
    if data_files is None:
        return []
    if isinstance(data_files, str):
        return [data_files]
    if isinstance(data_files, dict):
        return [f for value in data_files.values() for f in _as_list(value)]
    return [f for value in data_files for f in _as_list(value)]


def hub_repo_ids(path: str, data_files: str | list | dict | None = None) -> set[str]:
    """Every Hub dataset the source reads from: its path and its ``data_files`` URLs."""
    return {repo for item in [path, *_as_list(data_files)] if (repo := hub_dataset_id(item))}


def local_paths(path: str, data_files: str | list | dict | None = None) -> list[Path]:
    """Every local file or folder the source reads from (globs expanded), resolved."""
    out = []
    for item in [builtin_data_path(path), *_as_list(data_files)]:
        if not isinstance(item, str) or hub_dataset_id(item) or "://" in item:
            continue
        expanded = Path(item).expanduser()
        matches = [expanded] if expanded.exists() else [Path(p) for p in _glob(expanded)]
        out += [m.resolve() for m in matches]
    return out


def _glob(pattern: Path) -> Iterable[str]:
    import glob

    return glob.glob(str(pattern), recursive=True)


def load_source(path: str, *, split: str | None = "train", name: str | None = None,
                data_files: str | list[str] | dict | None = None, revision: str | None = None,
                streaming: bool = False) -> Dataset | DatasetDict | IterableDataset | IterableDatasetDict:
    """Anything ``load_dataset`` accepts, a local data file, or a ``save_to_disk`` folder (``~`` expanded).
    ``split=None`` gives every split (a `DatasetDict`)."""
    path = builtin_data_path(path)
    local = Path(path).expanduser()
    if local.is_dir() and ((local / "dataset_info.json").exists() or (local / "dataset_dict.json").exists()):
        ds = load_from_disk(str(local))
        if split and isinstance(ds, DatasetDict):
            if split not in ds:
                raise NotFoundError(f"{path} has no split {split!r} (splits: {sorted(ds)})")
            ds = ds[split]
        return ds.to_iterable_dataset() if streaming and isinstance(ds, Dataset) else ds
    if local.is_file():
        builder = FILE_BUILDERS.get(local.suffix)
        if builder is None:
            raise NotFoundError(f"Cannot tell the format of {path!r}; use one of {sorted(FILE_BUILDERS)}")
        path, name, data_files = builder, None, str(local)
    elif _looks_local(path) and not local.exists():
        raise NotFoundError(f"No such file or folder: {path}")
    try:
        return load_dataset(path, name, data_files=data_files, split=split, revision=revision, streaming=streaming)
    except ValueError as err:
        if "split" not in str(err).lower():
            raise
        raise NotFoundError(f"{data_files if local.is_file() else path}: {str(err).splitlines()[0]}") from None
    except (FileNotFoundError, ConnectionError, OSError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        if hub_dataset_id(path):
            raise HubError(f"Could not load the Hub dataset {path!r}: {first}") from None
        raise NotFoundError(f"Could not load {path!r}: {first}") from None


def source_license(path: str) -> str | None:
    """The source's license when its card is at hand: a README.md beside a local file, or the card of a Hub
    dataset as `load_dataset` left it in the local cache (no extra network call)."""
    from huggingface_hub import DatasetCard, try_to_load_from_cache

    local = Path(builtin_data_path(path)).expanduser()
    repo = hub_dataset_id(path)
    if local.exists():
        readme: Path | None = (local.parent if local.is_file() else local) / "README.md"
    elif repo:
        cached = try_to_load_from_cache(repo, "README.md", repo_type="dataset")
        readme = Path(cached) if isinstance(cached, str) else None
    else:
        return None
    if readme is None or not readme.is_file():
        return None
    license_ = DatasetCard.load(readme).data.license
    return license_ if isinstance(license_, str) else None
