"""Publishing curated splits to the Hugging Face Hub, or writing the exact same repository layout locally.

A curated dataset is published one split at a time: the data goes through `datasets.Dataset.push_to_hub`
(so `configs:`/`dataset_info` in the README stay maintained by `datasets` and other splits are kept), then
one more commit puts the merged dataset card and its images next to it. The card, built by
`hf_select.cards.build_card`, marks a shared header and one section per split::

    <!-- hf_select:header --> ... <!-- /hf_select:header -->
    <!-- hf_select:split=train --> ... <!-- /hf_select:split=train -->

so that `merge_card` can replace or add one split's section while keeping the others and anything a person
wrote outside the markers.

`write_local` writes, into a folder, the files the Hub holds after `push` (same parquet file names and
bytes, same README), atomically; `push_folder` publishes such a folder. That gives a dry run one can
inspect, load with ``datasets.load_dataset(folder)`` and publish later unchanged.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from datasets import Dataset, DatasetInfo, DownloadMode, Features, SplitDict, SplitInfo, config, load_dataset
from datasets.data_files import sanitize_patterns
from datasets.features.features import require_decoding
from datasets.info import DatasetInfosDict
from datasets.splits import _split_re
from datasets.table import embed_table_storage
from datasets.utils.metadata import MetadataConfigs
from datasets.utils.py_utils import convert_file_size_to_int
from huggingface_hub import CommitOperationAdd, DatasetCard, DatasetCardData, HfApi
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError
from huggingface_hub.repocard import REGEX_YAML_BLOCK

from hf_select.sources import recover_interrupted_swap, staging_dir, swap_in

__all__ = ["CardCommitError", "merge_card", "push", "push_folder", "write_local"]

CONFIG_NAME = "default"  # the only config hf_select publishes (what push_to_hub uses without a config_name)
DATA_DIR = "data"  # push_to_hub's data_dir for the "default" config
IMAGES_DIR = "images"  # card images live here, so push_folder knows which files to publish
README = "README.md"
# YAML fields that describe the data files: owned by `datasets.push_to_hub`, never taken from a new card.
DATA_FIELDS = ("configs", "dataset_info")
UNION_FIELDS = ("tags",)  # list fields merged (order-preserving union) instead of replaced

_MARKER = re.compile(r"<!--\s*(/?)hf_select:(header|split=[^\s>]+)\s*-->")
_CARD_COMMIT_ATTEMPTS = 5


class CardCommitError(RuntimeError):
    """The data commit of a push succeeded but the card commit after it failed.

    The repo is consistent and loadable (the README is the one `datasets` wrote: previous card sections
    kept, new `configs`/`dataset_info`); only the new split's card section and images are missing.
    Re-running the same `push` fixes it. ``data_commit`` is the URL of the data commit that stands.
    """

    def __init__(self, message: str, data_commit: str | None) -> None:
        super().__init__(message)
        self.data_commit = data_commit


# ---------------------------------------------------------------------------------------------- card merging


def _blocks(body: str) -> list[tuple[str | None, str]]:
    """Split a card body into ``(key, text)`` segments: ``key`` is ``header``/``split=<name>`` for a marked
    block (text includes both markers), None for text outside any block. Raises on unbalanced markers,
    because guessing where a section ends could silently eat user text."""
    segments: list[tuple[str | None, str]] = []
    pos = 0
    open_key: str | None = None
    open_at = 0
    for match in _MARKER.finditer(body):
        closing, key = match.group(1) == "/", match.group(2)
        if open_key is None:
            if closing:
                raise ValueError(f"Malformed card: closing marker for {key!r} without an opening one")
            segments.append((None, body[pos : match.start()]))
            open_key, open_at = key, match.start()
        elif closing and key == open_key:
            segments.append((key, body[open_at : match.end()]))
            pos, open_key = match.end(), None
        else:
            raise ValueError(f"Malformed card: marker {match.group(0)!r} inside the {open_key!r} section")
    if open_key is not None:
        raise ValueError(f"Malformed card: the {open_key!r} section is never closed")
    segments.append((None, body[pos:]))
    return [(key, text) for key, text in segments if key is not None or text]


def _find(segments: list[tuple[str | None, str]], key: str) -> list[int]:
    return [i for i, (k, _) in enumerate(segments) if k == key]


def _drop(segments: list[tuple[str | None, str]], index: int) -> None:
    """Remove a block and the blank space just before it (so no growing run of empty lines is left)."""
    del segments[index]
    if index > 0 and segments[index - 1][0] is None:
        text = segments[index - 1][1].rstrip(" \t\r\n")
        segments[index - 1] = (None, text)


def _merge_body(existing: str, new: str, split: str) -> str:
    split_key = f"split={split}"
    new_segments = _blocks(new)
    new_split = [text for key, text in new_segments if key == split_key]
    if not new_split:
        raise ValueError(f"The new card has no section for split {split!r} (<!-- hf_select:{split_key} -->)")
    new_header = [text for key, text in new_segments if key == "header"]

    if not existing.strip():
        # A fresh card (or the YAML-only README datasets writes on a first push): the new card's body, minus
        # sections of other splits, which would describe data this push does not publish.
        segments = list(new_segments)
        for index in reversed(range(len(segments))):
            key = segments[index][0]
            if key is not None and key.startswith("split=") and key != split_key:
                _drop(segments, index)
        for index in reversed(_find(segments, split_key)[1:]):
            _drop(segments, index)
        return "".join(text for _, text in segments)

    segments = _blocks(existing)
    if new_header:
        headers = _find(segments, "header")
        if headers:
            segments[headers[0]] = ("header", new_header[0])
            for index in reversed(headers[1:]):
                _drop(segments, index)
        else:
            rest = "".join(text for _, text in segments).lstrip("\r\n")
            segments = [(None, "\n"), ("header", new_header[0]), (None, "\n\n")] + _blocks(rest)
    found = _find(segments, split_key)
    if found:
        segments[found[0]] = (split_key, new_split[0])
        for index in reversed(found[1:]):
            _drop(segments, index)
    else:
        anchors = [i for i, (key, _) in enumerate(segments) if key and key.startswith("split=")]
        anchors = anchors or _find(segments, "header")
        if anchors:
            at = anchors[-1] + 1
            segments[at:at] = [(None, "\n\n"), (split_key, new_split[0])]
        else:
            text = "".join(text for _, text in segments).rstrip("\r\n")
            segments = [(None, text + "\n\n" if text else "\n"), (split_key, new_split[0]), (None, "\n")]
    return "".join(text for _, text in segments)


def _union(first: Any, second: Any) -> list:
    as_list = [] if first is None else list(first) if isinstance(first, (list, tuple)) else [first]
    for item in [] if second is None else second if isinstance(second, (list, tuple)) else [second]:
        if item not in as_list:
            as_list.append(item)
    return as_list


def _yaml_fields(card: DatasetCard) -> dict[str, Any]:
    """The card's metadata in the order its README shows it (``card.data.to_dict()`` reorders known fields)."""
    match = REGEX_YAML_BLOCK.search(str(card))
    return (yaml.safe_load(match.group(2)) or {}) if match else {}


def _card(data: dict[str, Any], body: str) -> DatasetCard:
    # `original_order`: keep the fields in the order they come (DatasetCardData would reorder its known ones).
    yaml_block = DatasetCardData(**copy.deepcopy(data)).to_yaml(original_order=list(data)) if data else ""
    return DatasetCard(f"---\n{yaml_block}\n---\n{body}")


def merge_card(existing: DatasetCard | None, new: DatasetCard, split: str) -> DatasetCard:
    """The card after publishing ``split`` with ``new``'s header and section, on top of ``existing``.

    Several splits share one README, published at different times, and the README also holds what
    `datasets` maintains (``configs``/``dataset_info``) and whatever a person added by hand; so the merge
    only ever touches what this split's card owns.

    YAML: ``existing``'s fields, in their order; ``configs``/``dataset_info`` always stay those of
    ``existing`` (they describe the files in the repo, not this card); every other field set in ``new``
    replaces the existing value, except ``tags`` (order-preserving union). With ``existing=None``, ``new``'s
    YAML is used as is.

    Body: ``new``'s header block replaces ``existing``'s (or goes first); ``new``'s ``split=<split>`` block
    replaces ``existing``'s (or goes right after the last split block, else after the header). Other split
    blocks and all text outside the markers are kept byte for byte. When ``existing`` has no body (None,
    or the YAML-only README that ``push_to_hub`` writes on a first push), the body is ``new``'s, minus any
    other split's section. Merging the same card twice gives the same text.

    Raises `ValueError` if ``new`` has no section for ``split`` or a card has unbalanced markers.
    """
    if not re.match(_split_re, split):
        raise ValueError(f"Invalid split name {split!r}: it must match {_split_re}")
    new_data = _yaml_fields(new)
    if existing is None:
        return _card(new_data, _merge_body("", new.text, split))
    data = _yaml_fields(existing)
    for key, value in new_data.items():
        if key in DATA_FIELDS:
            continue
        data[key] = _union(data.get(key), value) if key in UNION_FIELDS else copy.deepcopy(value)
    return _card(data, _merge_body(existing.text, new.text, split))


# ---------------------------------------------------------------------------------------------- validation


def _check_split(split: str) -> None:
    # The split name becomes a file name: datasets' own rule also keeps it from escaping the folder.
    if not isinstance(split, str) or not re.match(_split_re, split):
        raise ValueError(f"Invalid split name {split!r}: it must match {_split_re}")


def _check_images(images: dict[str, bytes] | None) -> dict[str, bytes]:
    """Image paths are repo paths under ``images/``: relative, no ``..``, never the README or data files."""
    checked: dict[str, bytes] = {}
    for path, content in (images or {}).items():
        parts = path.split("/") if isinstance(path, str) else []
        if (
            not parts
            or parts[0] != IMAGES_DIR
            or len(parts) < 2
            or any(part in ("", ".", "..") for part in parts)
            or "\\" in path
        ):
            raise ValueError(f"Image path {path!r} must be a relative path under {IMAGES_DIR}/ (no '..')")
        if not isinstance(content, (bytes, bytearray)):
            raise TypeError(f"Image {path!r} must be bytes, not {type(content).__name__}")
        checked[path] = bytes(content)
    return checked


def _normalize_repo_id(repo_id: str) -> str:
    repo_id = repo_id.strip().removeprefix("https://huggingface.co/").removeprefix("datasets/")
    return repo_id.strip("/").lower()


def _refuse_source(
    repo_id: str, source_repo_id: str | None, card: DatasetCard | None, api: HfApi
) -> None:
    """Never publish over the dataset the curation read from (named explicitly, or in the card's
    ``source_datasets``): a curated subset pushed there would replace the source's splits."""
    sources = [source_repo_id] if source_repo_id else []
    if card is not None:
        listed = card.data.get("source_datasets")
        sources += [listed] if isinstance(listed, str) else list(listed or [])
    sources = [_normalize_repo_id(s) for s in sources if isinstance(s, str) and "/" in s]
    if not sources:
        return
    target = _normalize_repo_id(repo_id)
    if "/" not in target:  # push_to_hub puts a bare name in the token owner's namespace
        target = f"{api.whoami()['name']}/{target}".lower()
    if target in sources:
        raise ValueError(
            f"Refusing to publish to {repo_id!r}: it is the source dataset of this curation. "
            "Publish the curated subset to a new repo id."
        )


# ---------------------------------------------------------------------------------------------- local layout


def _nbytes(ds: Dataset) -> int:
    # What push_to_hub records as the split's num_bytes and uses to shard (a private helper of datasets).
    estimate = getattr(ds, "_estimate_nbytes", None)
    return estimate() if estimate is not None else ds.data.nbytes


def _write_parquet_shards(ds: Dataset, folder: Path, split: str) -> tuple[list[str], int, int]:
    """Write the split's parquet files exactly as `Dataset.push_to_hub` does (datasets 5.x).

    Rule mirrored from datasets: ``num_shards = int(nbytes / 500MB) + 1`` (``config.MAX_SHARD_SIZE``),
    contiguous shards named ``data/<split>-<index:05d>-of-<num_shards:05d>.parquet``, external media
    files embedded, same writer batch size. Returns the repo paths, the bytes written and the split's
    estimated in-memory size.
    """
    from datasets.arrow_writer import get_writer_batch_size_from_data_size, get_writer_batch_size_from_features

    nbytes = _nbytes(ds)
    writer_batch_size = get_writer_batch_size_from_features(ds.features) or get_writer_batch_size_from_data_size(
        len(ds), nbytes
    )
    embed = any(require_decoding(f, ignore_decode_attribute=True) for f in ds.features.values())
    num_shards = int(nbytes / convert_file_size_to_int(config.MAX_SHARD_SIZE)) + 1
    paths, written = [], 0
    (folder / DATA_DIR).mkdir(parents=True, exist_ok=True)
    for index in range(num_shards):
        shard = ds.shard(num_shards=num_shards, index=index, contiguous=True)
        if embed:
            shard_format = shard.format
            shard = shard.with_format("arrow").map(
                embed_table_storage, batched=True, batch_size=writer_batch_size, keep_in_memory=True
            )
            shard = shard.with_format(**shard_format)
        path = f"{DATA_DIR}/{split}-{index:05d}-of-{num_shards:05d}.parquet"
        shard.to_parquet(str(folder / path), batch_size=writer_batch_size)
        written += (folder / path).stat().st_size
        paths.append(path)
    return paths, written, nbytes


def _update_data_card(
    card: DatasetCard | None, split_info: SplitInfo, features: Features, uploaded: int, deleted: int
) -> DatasetCard:
    """The README after a push of one split, with ``dataset_info`` and ``configs`` updated as
    `datasets.push_to_hub` updates them (mirrors ``datasets.arrow_dataset._get_updated_dataset_card``,
    config "default", no legacy ``dataset_infos.json``); the body is kept as is."""
    card_data = card.data if card is not None else DatasetCardData()
    split = split_info.name
    repo_info = DatasetInfosDict.from_dataset_card_data(card_data).get(CONFIG_NAME)
    if repo_info is not None:
        if repo_info.splits and any(s != split for s in repo_info.splits) and features != repo_info.features:
            raise ValueError(
                f"Features of the new split don't match the features of the existing splits: "
                f"{features} != {repo_info.features}"
            )
        if split in repo_info.splits:
            repo_info.download_size = (repo_info.download_size or 0) - deleted
            repo_info.dataset_size = (repo_info.dataset_size or 0) - (repo_info.splits[split].num_bytes or 0)
        repo_info.download_checksums = None
        repo_info.download_size = (repo_info.download_size or 0) + uploaded
        repo_info.dataset_size = (repo_info.dataset_size or 0) + split_info.num_bytes
        repo_info.size_in_bytes = repo_info.download_size + repo_info.dataset_size
        repo_info.splits.pop(split, None)
        repo_info.splits[split] = split_info
        info = repo_info
    else:
        info = DatasetInfo(
            config_name=CONFIG_NAME, features=features, splits=SplitDict(), download_size=uploaded,
            dataset_size=split_info.num_bytes,
        )
        info.splits.add(split_info)
        info.size_in_bytes = info.download_size + info.dataset_size
    configs = MetadataConfigs.from_dataset_card_data(card_data)
    data_files: dict[str, list[str]] = {}
    if CONFIG_NAME in configs and "data_files" in configs[CONFIG_NAME]:
        data_files = sanitize_patterns(configs[CONFIG_NAME]["data_files"])
    data_files[split] = [f"{DATA_DIR}/{split}-*"]
    config_to_dump = {
        "data_files": [
            {"split": name, "path": patterns[0] if len(patterns) == 1 else patterns}
            for name, patterns in data_files.items()
        ]
    }
    DatasetInfosDict({CONFIG_NAME: info}).to_dataset_card_data(card_data)
    MetadataConfigs({CONFIG_NAME: config_to_dump}).to_dataset_card_data(card_data)
    # Round-trip through text, as the Hub does between push_to_hub's commit and our card commit.
    return DatasetCard(str(card) if card is not None else f"---\n{card_data}\n---\n")


def _write_file(path: Path, content: bytes) -> None:
    """Write through a new inode: files of the staging copy may be hard links to the published folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(content)
    os.replace(partial, path)


def _link_or_copy(src: str, dst: str) -> None:
    # Staging copies share the published files' inodes (cheap for big parquet files); nothing is ever
    # modified in place -- files are only added, replaced (new inode) or unlinked.
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_local(
    ds: Dataset,
    folder: str | Path,
    *,
    split: str,
    card: DatasetCard,
    images: dict[str, bytes] | None = None,
) -> Path:
    """Write into ``folder`` what the Hub repo holds after ``push(ds, repo_id, split=split, card=card,
    images=images)``: a dry run to inspect, ``load_dataset(folder)``, and publish later with `push_folder`.

    Layout (one config, "default", as ``push_to_hub`` without ``config_name``)::

        folder/README.md                                      # configs + dataset_info + merged card
        folder/data/<split>-00000-of-00001.parquet            # more shards above 500MB, as push_to_hub
        folder/images/...                                     # the card's images

    Splits written before are kept (their data, ``configs`` entry and card section); rewriting a split
    replaces all of its ``data/<split>-*`` files, as ``push_to_hub`` does. The new state is built in a
    sibling staging folder (a hard-linked copy of the current one) and swapped in, so an error or
    interruption never leaves a half-written folder and never damages the previous one. Returns the folder.
    """
    _check_split(split)
    images = _check_images(images)
    folder = Path(folder).absolute()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} exists and is not a folder")
    recover_interrupted_swap(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(folder)
    try:
        if folder.exists():
            shutil.copytree(folder, staging, symlinks=True, copy_function=_link_or_copy)
        else:
            staging.mkdir()
        stale = sorted((staging / DATA_DIR).glob(f"{split}-*")) if (staging / DATA_DIR).is_dir() else []
        deleted = sum(path.stat().st_size for path in stale)
        for path in stale:
            path.unlink()
        _, uploaded, nbytes = _write_parquet_shards(ds, staging, split)
        readme = staging / README
        existing = DatasetCard.load(readme) if readme.is_file() else None
        split_info = SplitInfo(name=split, num_bytes=nbytes, num_examples=len(ds))
        data_card = _update_data_card(existing, split_info, ds.features, uploaded, deleted)
        _write_file(readme, str(merge_card(data_card, card, split)).encode("utf-8"))
        for path, content in images.items():
            _write_file(staging / path, content)
        swap_in(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return folder


# ---------------------------------------------------------------------------------------------- Hub


def _prepare_repo(api: HfApi, repo_id: str, private: bool, branch: str | None) -> str:
    """Create the repo (``private`` only counts here) and the branch from ``main`` if missing; returns the
    full repo id (a bare name lands in the token owner's namespace)."""
    repo_id = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True).repo_id
    if branch is not None:
        api.create_branch(repo_id, branch=branch, repo_type="dataset", exist_ok=True)
    return repo_id


def _push_split(ds: Dataset, repo_id: str, split: str, private: bool, branch: str | None, token: str | None) -> str:
    """Push one split's data with `datasets` itself (it keeps other splits and maintains configs/dataset_info)."""
    return ds.push_to_hub(repo_id, split=split, private=private, revision=branch, token=token).commit_url


def _hub_card(api: HfApi, repo_id: str, revision: str) -> DatasetCard | None:
    # DatasetCard.load has no `revision` (huggingface_hub 2.x): download the README of that exact commit.
    try:
        path = api.hf_hub_download(repo_id, README, repo_type="dataset", revision=revision)
    except EntryNotFoundError:
        return None
    return DatasetCard.load(path)


def _commit_card(
    api: HfApi,
    repo_id: str,
    sections: Iterable[tuple[DatasetCard, str]],
    images: dict[str, bytes],
    branch: str | None,
    data_commit: str | None,
) -> str:
    """One commit with the merged README and the images, on top of the exact commit the card was read from
    (``parent_commit``), re-reading and retrying if someone else committed in between."""
    sections = list(sections)
    splits = ", ".join(split for _, split in sections)
    try:
        attempt = 0
        while True:
            attempt += 1
            head = api.repo_info(repo_id, repo_type="dataset", revision=branch).sha
            merged = _hub_card(api, repo_id, head)
            for card, split in sections:
                merged = merge_card(merged, card, split)
            operations = [CommitOperationAdd(README, str(merged).encode("utf-8"))]
            operations += [CommitOperationAdd(path, content) for path, content in images.items()]
            try:
                info = api.create_commit(
                    repo_id,
                    repo_type="dataset",
                    operations=operations,
                    commit_message=f"Update dataset card ({splits})",
                    revision=branch,
                    parent_commit=head,
                )
            except HfHubHTTPError as err:
                status = err.response.status_code if err.response is not None else None
                if status in (409, 412) and attempt < _CARD_COMMIT_ATTEMPTS:
                    continue  # a commit landed since we read the card: merge again on top of it
                raise
            return info.commit_url
    except Exception as err:
        raise CardCommitError(
            f"The data of split(s) {splits} is published to {repo_id} ({data_commit}) and loadable, but "
            f"committing the card and images failed: {err}. Fix the cause and run the same push again.",
            data_commit,
        ) from err


def push(
    ds: Dataset,
    repo_id: str,
    *,
    split: str,
    card: DatasetCard,
    images: dict[str, bytes] | None = None,
    private: bool = False,
    branch: str | None = None,
    token: str | None = None,
    source_repo_id: str | None = None,
) -> str:
    """Publish one curated split, its card section and images to the dataset repo ``repo_id``.

    Two commits: ``ds.push_to_hub`` (data, ``configs``/``dataset_info``, other splits kept), then one
    `HfApi.create_commit` with the README (``merge_card`` of the card the Hub now has with ``card``) and
    the images. On ``branch`` (created from ``main`` if missing) when given; ``private`` applies only when
    the repo is created. Returns the URL of the card commit.

    Refuses (`ValueError`) to publish over the source dataset: ``source_repo_id``, or a repo id listed in
    the card's ``source_datasets``.

    If the card commit fails, `CardCommitError` is raised and the data commit stands: the repo loads, with
    datasets' README (earlier card sections kept, this split's section missing or stale); running the same
    push again fixes it. A previously published split is never damaged: its files are not touched, and a
    split whose features differ from the published ones is refused by `datasets` before any commit.
    """
    _check_split(split)
    images = _check_images(images)
    api = HfApi(token=token)
    _refuse_source(repo_id, source_repo_id, card, api)
    merge_card(None, card, split)  # fail on a card without this split's section before touching the Hub
    repo_id = _prepare_repo(api, repo_id, private, branch)
    data_commit = _push_split(ds, repo_id, split, private, branch, token)
    return _commit_card(api, repo_id, [(card, split)], images, branch, data_commit)


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    branch: str | None = None,
    token: str | None = None,
    source_repo_id: str | None = None,
) -> str:
    """Publish a folder written by `write_local`: every split in it, then one commit with the card (each
    split's section merged from the local card into the Hub's) and every file under ``images/``.

    Same guarantees as `push` (one data commit per split, then the card commit; `CardCommitError` if only
    that last one fails). Splits already on the Hub but not in the folder are kept. Returns the URL of
    the card commit.
    """
    folder = Path(folder)
    readme = folder / README
    if not readme.is_file():
        raise FileNotFoundError(f"{readme} not found: not a folder written by hf_select.hub.write_local")
    local_card = DatasetCard.load(readme)
    api = HfApi(token=token)
    _refuse_source(repo_id, source_repo_id, local_card, api)
    images_dir = folder / IMAGES_DIR
    images = _check_images(
        {
            path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(images_dir.rglob("*"))
            if path.is_file()
        }
        if images_dir.is_dir()
        else {}
    )
    # Force a fresh read: the folder may have been rewritten since datasets last cached it.
    splits = load_dataset(str(folder), download_mode=DownloadMode.FORCE_REDOWNLOAD)
    for split in splits:
        merge_card(None, local_card, split)  # every split needs its section, checked before pushing anything
    repo_id = _prepare_repo(api, repo_id, private, branch)
    data_commit = None
    for split, ds in splits.items():
        data_commit = _push_split(ds, repo_id, split, private, branch, token)
    return _commit_card(api, repo_id, [(local_card, split) for split in splits], images, branch, data_commit)
