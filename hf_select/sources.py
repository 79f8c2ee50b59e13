"""Reading the data a user points at, and knowing where it came from.

A source is anything ``load_dataset`` accepts (a Hub id, a builder name with ``data_files``, ``hf://`` URLs),
a local data file, or a folder written by ``save_to_disk``. Where it came from matters twice: outputs must
never overlap a local source (`local_paths`), and a curated subset must never be published over the Hub repo
it was read from (`hub_repo_ids`), however that repo was named.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict, IterableDataset, IterableDatasetDict, load_dataset, load_from_disk

from hf_select.cache import cache_dir
from hf_select.digests import file_digests
from hf_select.errors import ConfigError, DataFormatError, HubError, NotFoundError, PublishError

FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}
_REPO_ID = r"[\w.-]+/[\w.-]+"
_HUB_URL = re.compile(rf"(?:hf://|https?://huggingface\.co/)datasets/(?P<repo>{_REPO_ID})(?:@[^/]*)?(?:/.*)?")
_BUILTIN_DATA = {"hf_select:math_teachers": "math_teachers.jsonl"}


def builtin_data_path(path: str) -> str:
    """Paths such as ``hf_select:math_teachers`` point at data shipped in the package; a ``file://`` URL is the
    local path it spells."""
    if path in _BUILTIN_DATA:
        from importlib import resources

        return str(resources.files("hf_select.data").joinpath(_BUILTIN_DATA[path]))
    if isinstance(path, str) and path.startswith("file://"):
        from urllib.parse import unquote, urlsplit

        return unquote(urlsplit(path).path)
    return path


def is_local(path: str) -> bool:
    """Whether ``path`` names data on this machine (a file, a folder, the bundled data), not a Hub dataset."""
    return isinstance(path, str) and _looks_local(builtin_data_path(path))


def _looks_local(path: str) -> bool:
    return (
        path.startswith(("/", "./", "../", "~"))
        or Path(path).suffix in FILE_BUILDERS
        or Path(path).expanduser().exists()
    )


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


def refuse_publishing_over(repo_id: str, sources: Iterable[Any]) -> None:
    """Never publish over a dataset the curation read from (a curated subset would replace the source's splits),
    however either was spelled: ``owner/name``, ``datasets/owner/name``, ``hf://`` or Hub URLs, ``data_files``."""
    target = repo_id.strip().removeprefix("https://huggingface.co/").removeprefix("datasets/").strip("/").lower()
    if target in {hub_dataset_id(s) for s in sources if isinstance(s, str)}:
        raise PublishError(
            f"refusing to publish to {repo_id!r}: it is the source dataset of this curation. "
            "Publish the curated subset to a new repo id."
        )


def local_paths(path: str, data_files: str | list | dict | None = None) -> list[Path]:
    """Every local file or folder the source reads from (globs expanded), resolved."""
    out = []
    for item in [builtin_data_path(path), *map(builtin_data_path, _as_list(data_files))]:
        if not isinstance(item, str) or hub_dataset_id(item) or "://" in item:
            continue
        expanded = Path(item).expanduser()
        matches = [expanded] if expanded.exists() else [Path(p) for p in _glob(expanded)]
        out += [m.resolve() for m in matches]
    return out


def _glob(pattern: Path) -> Iterable[str]:
    import glob

    return glob.glob(str(pattern), recursive=True)


def load_source(
    path: str,
    *,
    split: str | None = "train",
    name: str | None = None,
    data_files: str | list[str] | dict | None = None,
    revision: str | None = None,
    streaming: bool = False,
) -> Dataset | DatasetDict | IterableDataset | IterableDatasetDict:
    """Anything ``load_dataset`` accepts, a local data file, or a ``save_to_disk`` folder (``~`` expanded).
    ``split=None`` gives every split (a `DatasetDict`).

    A setting that would do nothing is an error: ``name``, ``data_files`` or ``revision`` with a local file or a
    ``save_to_disk`` folder, a split of a folder that holds one dataset. A local file whose content changed since
    `datasets` built it is built again, even at the same size and modification time (its content is hashed), and
    data that cannot be read, or holds no rows, is one line naming the file."""
    path = builtin_data_path(path)
    local = Path(path).expanduser()
    if local.is_dir() and ((local / "dataset_info.json").exists() or (local / "dataset_dict.json").exists()):
        _nothing_to_set(path, "a save_to_disk folder", name=name, data_files=data_files, revision=revision)
        try:
            ds = load_from_disk(str(local))
        except IndexError:  # datasets concatenates the folder's arrow files, and a folder of 0 rows has none
            raise DataFormatError(f"{path} holds no rows; nothing to curate") from None
        if split and isinstance(ds, DatasetDict):
            if split not in ds:
                raise NotFoundError(f"{path} has no split {split!r} (splits: {sorted(ds)})")
            ds = ds[split]
        elif split not in (None, "train"):
            raise NotFoundError(f"{path} holds one dataset, not splits: leave the split unset (it has no {split!r})")
        if all(len(part) == 0 for part in (ds.values() if isinstance(ds, DatasetDict) else [ds])):
            raise DataFormatError(f"{path} holds no rows; nothing to curate")
        return ds.to_iterable_dataset() if streaming and isinstance(ds, Dataset) else ds
    if local.is_file():
        builder = FILE_BUILDERS.get(local.suffix)
        if builder is None:
            raise NotFoundError(f"Cannot tell the format of {path!r}; use one of {sorted(FILE_BUILDERS)}")
        _nothing_to_set(path, "a local data file", name=name, data_files=data_files, revision=revision)
        path, data_files = builder, str(local)
    elif _looks_local(path) and not local.exists():
        raise NotFoundError(f"No such file or folder: {path}")
    elif local.is_dir() and revision is not None:
        _nothing_to_set(path, "a local folder", revision=revision)
    files = [f for f in (local_paths(path, data_files) if not hub_dataset_id(path) else []) if f.is_file()]
    empty = next((f for f in files if f.stat().st_size == 0), None)
    if empty is not None:
        raise DataFormatError(f"{empty} is empty: no rows to curate")
    mode = "force_redownload" if _stale_build(files) else None
    try:
        ds = load_dataset(
            path, name, data_files=data_files, split=split, revision=revision, streaming=streaming, download_mode=mode
        )
    except ValueError as err:
        if "split" not in str(err).lower():
            raise _unreadable(path, data_files, err) from None
        raise NotFoundError(f"{data_files if local.is_file() else path}: {str(err).splitlines()[0]}") from None
    except (FileNotFoundError, ConnectionError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        if hub_dataset_id(path):
            raise HubError(f"Could not load the Hub dataset {path!r}: {first}") from None
        raise NotFoundError(f"Could not load {path!r}: {first}") from None
    except Exception as err:  # a malformed local file: datasets and pyarrow raise many kinds
        if not files:
            raise
        raise _unreadable(path, data_files, err) from None
    if not streaming and all(len(part) == 0 for part in (ds.values() if isinstance(ds, DatasetDict) else [ds])):
        raise DataFormatError(f"{data_files if local.is_file() else path} holds no rows; nothing to curate")
    return ds


def _nothing_to_set(path: str, what: str, **settings: Any) -> None:
    given = [key for key, value in settings.items() if value is not None]
    if given:
        raise ConfigError(
            f"{path} is {what}: `{given[0]}` applies to Hub datasets and builders only (it would be "
            f"ignored); drop it (in a recipe: --set dataset.{given[0]}=null)"
        )


def _unreadable(path: str, data_files: Any, err: Exception) -> DataFormatError:
    cause = err.__cause__ or err
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:200]
    return DataFormatError(
        f"cannot read {data_files or path}: {first}. Check that the file is valid "
        f"({', '.join(sorted(FILE_BUILDERS))}) and not empty"
    )


def _stale_build(files: list[Path]) -> bool:
    """Whether `datasets` may serve a stale build of these local files. It keys a local file's build by its
    modification time, which a rewrite of the same size within the same tick, ``touch -r`` or ``cp -p`` keep:
    hf_select records each file's content digest with the modification time it had, and a file whose content
    changed since while its time did not is built again. Nothing else is: a rebuild deletes the build's folder, and
    with it every map `datasets` cached beside it (scores computed in Python on this file, which ``hf-select run``
    reuses). A file hf_select has not loaded before is keyed by `datasets` alone."""
    if not files:
        return False
    record = cache_dir() / "sources.json"
    try:
        built = json.loads(record.read_text())
    except (OSError, ValueError):
        built = {}
    now = {str(f.resolve()): {"sha256": file_digests(f)["sha256"], "mtime": str(f.stat().st_mtime)} for f in files}
    stale = False
    for key, current in now.items():
        before = built.get(key)
        if isinstance(before, str):  # recorded by hf_select 0.4 (the digest alone): any change is a rebuild
            before = {"sha256": before, "mtime": current["mtime"]}
        stale |= (
            isinstance(before, dict)
            and before.get("sha256") != current["sha256"]
            and before.get("mtime") == current["mtime"]
        )
    if all(built.get(key) == current for key, current in now.items()):
        return stale
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        tmp = record.with_name(f"{record.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**built, **now}))
        tmp.replace(record)
    except OSError:
        pass  # unrecorded: the next load is keyed by `datasets` alone, as for a file hf_select never loaded
    return stale


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
