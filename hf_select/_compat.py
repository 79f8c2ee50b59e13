"""Everything hf_select takes from `datasets` beyond its public API, in one place, each with why no public API
serves.

`SUPPORTED_DATASETS` is the range this module is written and tested against (pinned in ``pyproject.toml``
and checked by ``tests/test_compat.py``, which exercises each item below): a new `datasets` release that moves
one of these fails there, loudly, not in a user's run.

- the logical rows of a dataset as one arrow table (``ds._indices``): ``with_format("arrow")[:]`` gives the same
  rows but gathers an indices mapping into one chunk per row (100x slower for selections);
- a dataset over an in-memory arrow table (``InMemoryTable``): `Dataset` has no public constructor from arrow;
- a dataset's fingerprint (``ds._fingerprint``), and `datasets`' hash of a callable (``Hasher``): cache keys must
  be derived exactly as `datasets` derives its own, and neither is exposed;
- the split-name rule (``datasets.splits._split_re``) and the config-name rule (``datasets.naming``), so names
  `datasets` would refuse later are refused first;
- telling a batch from a row inside ``Dataset.map`` (``LazyBatch`` / ``LazyRow``): ``map`` does not say which;
  and whether a ``map`` would be served from the cache (``_get_cache_file_path``), so that scores computed
  together run only for what is missing;
- the exact files ``Dataset.push_to_hub`` writes (its shard size estimate, writer batch size and media
  embedding, then ``configs``/``dataset_info`` in the README, as ``_get_updated_dataset_card`` writes them) and
  the parsers of that README metadata (``DatasetInfosDict``, ``MetadataConfigs``): ``push_to_hub`` cannot publish
  data, card and images in one commit, and a local folder must be byte for byte what it would have written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
from datasets import Dataset, DatasetInfo, Features, SplitDict, SplitInfo, config, is_caching_enabled
from datasets.data_files import sanitize_patterns
from datasets.features.features import require_decoding
from datasets.formatting.formatting import LazyBatch, LazyRow
from datasets.info import DatasetInfosDict
from datasets.naming import INVALID_WINDOWS_CHARACTERS_IN_PATH
from datasets.splits import _split_re
from datasets.table import embed_table_storage
from datasets.utils.metadata import MetadataConfigs
from datasets.utils.py_utils import convert_file_size_to_int
from huggingface_hub import DatasetCard, DatasetCardData

from hf_select.errors import ConfigError, SchemaError

SUPPORTED_DATASETS = ">=4.0,<6"
SPLIT_NAME = _split_re  # what `datasets` accepts as a split name; it also keeps a split's files in its folder


def check_split_name(split: str) -> str:
    if not isinstance(split, str) or not re.match(SPLIT_NAME, split):
        raise ConfigError(f"Invalid split name {split!r}: it must match {SPLIT_NAME}")
    return split


def check_config_name(name: str) -> str:
    """A config name as `datasets` accepts one (``push_to_hub`` refuses "data"; the builder refuses its path
    characters), without glob characters (its files are found by the pattern ``<config>/<split>-*``)."""
    bad = set(INVALID_WINDOWS_CHARACTERS_IN_PATH) | set("[]{}") | {"\\"}
    if (
        not isinstance(name, str)
        or not name.strip()
        or name in ("data", ".", "..")
        or bad & set(name)
        or name != name.strip()
        or "\n" in name
    ):
        raise ConfigError(
            f"Invalid config name {name!r}: not 'data', '.' or '..', no spaces around it, none of "
            f"{''.join(sorted(bad))}"
        )
    return name


def logical_table(ds: Dataset, columns: Sequence[str] | None = None) -> pa.Table:
    """The logical rows of these columns (all when None): the dataset's arrow table with its indices mapping
    (from ``shuffle``/``select``) applied by one arrow ``take``. ``with_format("arrow")[:]`` gives the same
    rows, but gathers a mapping into one chunk per row, which makes every later kernel crawl."""
    table = ds.data.table
    if columns is not None:
        table = table.select(list(dict.fromkeys(columns)))
    indices = ds._indices  # None, or a one-column table of logical -> physical row numbers
    if indices is not None:
        table = table.take(indices.column(0))
    return table


def hash_callable(fn: Any) -> str:
    """What `datasets` keys a ``map`` function's cache on: a hash of its code, closure and the globals it uses."""
    from datasets.fingerprint import Hasher

    return Hasher.hash(fn)


def card_splits(card: DatasetCard) -> list[tuple[str, str, list[str], SplitInfo | None, Features | None]]:
    """(config, split, file patterns, split info, features) of every split a README's ``configs``/``dataset_info``
    describe: the parsers `datasets` uses for them have no public API."""
    infos = DatasetInfosDict.from_dataset_card_data(card.data)
    out = []
    for config_name, entry in MetadataConfigs.from_dataset_card_data(card.data).items():
        info = infos.get(config_name)
        for item in entry.get("data_files", []):
            patterns = [item["path"]] if isinstance(item["path"], str) else list(item["path"])
            split_info = (info.splits or {}).get(item["split"]) if info is not None else None
            out.append((config_name, item["split"], patterns, split_info, info.features if info else None))
    return out


def is_cached(ds: Dataset, fingerprint: str) -> bool:
    """Whether ``ds.map(..., new_fingerprint=fingerprint)`` would load its result from `datasets`' cache (a map run
    with ``num_proc`` leaves one file per worker): `datasets` decides it inside ``map`` and does not say."""
    if not ds.cache_files or not is_caching_enabled():
        return False
    path = Path(ds._get_cache_file_path(fingerprint))
    return path.exists() or any(path.parent.glob(f"{path.stem}_*_of_*{path.suffix}"))


def dataset_from_arrow(table: pa.Table, fingerprint: str | None = None) -> Dataset:
    """A `Dataset` over an in-memory arrow table (rankings, joined columns): `datasets` has no public constructor
    from arrow. A ``fingerprint`` derived from the inputs keeps what follows cacheable."""
    from datasets.table import InMemoryTable

    return Dataset(InMemoryTable(table), fingerprint=fingerprint)


def fingerprint(ds: Dataset) -> str:
    """The dataset's cache fingerprint (what `datasets` keys its map cache on)."""
    return ds._fingerprint


def is_batch(batch: Mapping[str, Any], columns: Sequence[str]) -> bool:
    """Whether ``Dataset.map`` handed over a batch (``batched=True``) rather than one row.

    Inside ``map`` the answer is the type `datasets` passes. For a plain dict (a direct call) a batch is
    one where every given column holds a list, all of the same length; a row whose text cell is a list is
    therefore a row, and its scorer says the cell has the wrong type."""
    if isinstance(batch, LazyBatch):
        return True
    if isinstance(batch, LazyRow):
        return False
    values = [batch[c] for c in columns if c in batch] or list(batch.values())
    return bool(values) and all(isinstance(v, list) for v in values) and len({len(v) for v in values}) == 1


# -- the exact Hub layout ---------------------------------------------------------------------------------------
DEFAULT_CONFIG = "default"


def data_dir(config_name: str) -> str:
    """Where ``push_to_hub`` puts a config's files: ``data/`` for "default", else a folder named after it."""
    return "data" if config_name == DEFAULT_CONFIG else config_name


def estimate_nbytes(ds: Dataset) -> int:
    """What ``push_to_hub`` records as a split's ``num_bytes`` and shards by."""
    return ds._estimate_nbytes()


def write_parquet_shards(ds: Dataset, folder: Path, config_name: str, split: str) -> tuple[list[str], int]:
    """Write a split's parquet files into ``folder`` exactly as ``Dataset.push_to_hub`` uploads them.

    ``num_shards = int(nbytes / 500MB) + 1`` (``config.MAX_SHARD_SIZE``), contiguous shards named
    ``<data_dir>/<split>-<index:05d>-of-<num_shards:05d>.parquet``, external media embedded, the same writer
    batch size. Returns the repo paths and the bytes written."""
    from datasets.arrow_writer import get_writer_batch_size_from_data_size, get_writer_batch_size_from_features

    nbytes = estimate_nbytes(ds)
    writer_batch_size = get_writer_batch_size_from_features(ds.features) or get_writer_batch_size_from_data_size(
        len(ds), nbytes
    )
    embed = any(require_decoding(f, ignore_decode_attribute=True) for f in ds.features.values())
    num_shards = int(nbytes / convert_file_size_to_int(config.MAX_SHARD_SIZE)) + 1
    paths, written = [], 0
    (folder / data_dir(config_name)).mkdir(parents=True, exist_ok=True)
    for index in range(num_shards):
        shard = ds.shard(num_shards=num_shards, index=index, contiguous=True)
        if embed:
            shard_format = shard.format
            shard = shard.with_format("arrow").map(
                embed_table_storage, batched=True, batch_size=writer_batch_size, keep_in_memory=True
            )
            shard = shard.with_format(**shard_format)
        path = f"{data_dir(config_name)}/{split}-{index:05d}-of-{num_shards:05d}.parquet"
        shard.to_parquet(str(folder / path), batch_size=writer_batch_size)
        written += (folder / path).stat().st_size
        paths.append(path)
    return paths, written


def split_info(ds: Dataset, split: str) -> SplitInfo:
    return SplitInfo(name=split, num_bytes=estimate_nbytes(ds), num_examples=len(ds))


def updated_data_card(
    card: DatasetCard | None, config_name: str, info: SplitInfo, features: Features, uploaded: int, deleted: int
) -> DatasetCard:
    """The README after publishing one split, with ``dataset_info`` and ``configs`` updated as
    ``push_to_hub`` updates them, except that a split that replaces the config's only split brings its own
    features (``push_to_hub`` keeps the old ones, which makes the repo fail to load). A split whose features
    differ from the config's other splits is refused: one config holds one schema. The body is kept as is."""
    card_data = card.data if card is not None else DatasetCardData()
    split = info.name
    repo_info = DatasetInfosDict.from_dataset_card_data(card_data).get(config_name)
    if repo_info is not None:
        others = [s for s in (repo_info.splits or {}) if s != split]
        if others and repo_info.features is not None and features != repo_info.features:
            old, new = set(repo_info.features), set(features)
            change = "; ".join(
                x
                for x in (
                    f"new columns {sorted(new - old)}" if new - old else "",
                    f"no columns {sorted(old - new)}" if old - new else "",
                )
                if x
            )
            raise SchemaError(
                f"split {split!r} does not have the columns of split(s) {others} of config {config_name!r} "
                f"({change or 'other column types'}); one config holds one schema. Publish it to another config "
                "(config_name=... in Python, `output.config` in a recipe) or republish the other splits with the "
                "same scores."
            )
        if split in repo_info.splits:
            repo_info.download_size = (repo_info.download_size or 0) - deleted
            repo_info.dataset_size = (repo_info.dataset_size or 0) - (repo_info.splits[split].num_bytes or 0)
        repo_info.features = features
        repo_info.download_checksums = None
        repo_info.download_size = (repo_info.download_size or 0) + uploaded
        repo_info.dataset_size = (repo_info.dataset_size or 0) + info.num_bytes
        repo_info.size_in_bytes = repo_info.download_size + repo_info.dataset_size
        repo_info.splits.pop(split, None)
        repo_info.splits[split] = info
    else:
        repo_info = DatasetInfo(
            config_name=config_name,
            features=features,
            splits=SplitDict(),
            download_size=uploaded,
            dataset_size=info.num_bytes,
        )
        repo_info.splits.add(info)
        repo_info.size_in_bytes = repo_info.download_size + repo_info.dataset_size
    configs = MetadataConfigs.from_dataset_card_data(card_data)
    files: dict[str, list[str]] = {}
    if config_name in configs and "data_files" in configs[config_name]:
        files = sanitize_patterns(configs[config_name]["data_files"])
    files[split] = [f"{data_dir(config_name)}/{split}-*"]
    entry = {k: v for k, v in configs.get(config_name, {}).items() if k != "data_files"}
    entry["data_files"] = [
        {"split": name, "path": patterns[0] if len(patterns) == 1 else patterns} for name, patterns in files.items()
    ]
    DatasetInfosDict({config_name: repo_info}).to_dataset_card_data(card_data)
    MetadataConfigs({config_name: entry}).to_dataset_card_data(card_data)
    # Round-trip through text, as the Hub does between two commits.
    return DatasetCard(str(card) if card is not None else f"---\n{card_data}\n---\n")
