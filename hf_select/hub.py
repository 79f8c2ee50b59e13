"""Publishing curated splits to the Hugging Face Hub, or writing the exact same repository layout locally.

A curated split is published as **one commit**: its parquet shards (named and written exactly as
``Dataset.push_to_hub`` writes them, see `hf_select._compat`), the README with ``configs``/``dataset_info``
updated for it and the card's section for it merged in (`hf_select.card_sections`), and the card's images.
One commit means every state the repo ever has is loadable and described by its card: a failed or refused
publication changes nothing, and a split republished with other columns brings its features along. The
commit is made on top of the exact revision the README was read from, and re-read and retried if someone
else committed in between.

`write_local` writes into a folder what the Hub holds after `push`, with the guarantees of
`hf_select.outputs.output_folder`; `push_folder` publishes such a folder. That gives a dry run one can
inspect, load with ``datasets.load_dataset(folder)`` and publish later unchanged.

hf_select refuses to publish over the dataset a curation read from (however it was named: ``owner/name``,
``hf://datasets/owner/name/...``, a URL), and refuses ``private=True`` on an existing public repo rather than
publish into it publicly.
"""

from __future__ import annotations

import fnmatch
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml
from datasets import Dataset, Features, SplitInfo
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, DatasetCard, HfApi
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RepositoryNotFoundError

from hf_select._compat import (
    DEFAULT_CONFIG,
    card_splits,
    check_config_name,
    check_split_name,
    data_dir,
    split_info,
    updated_data_card,
    write_parquet_shards,
)
from hf_select.card_sections import check_markers, keep_layout, merge_card, section_key
from hf_select.cards import REPO_PLACEHOLDER, VIEWER_DIR, CardContext, build_card, image_stem, viewer_folder
from hf_select.errors import CardError, HfSelectError, NotFoundError, OutputError, PublishError
from hf_select.outputs import check_output, manifest_of, output_folder, resolve_output, through_link
from hf_select.results import RunRecord
from hf_select.sources import hub_dataset_id, refuse_publishing_over

__all__ = ["check_write_local", "merge_card", "push", "push_folder", "write_local"]

IMAGES_DIR = "images"  # card images live here, so push_folder knows which files to publish
README = "README.md"
_COMMIT_ATTEMPTS = 5


@dataclass
class _SplitFiles:
    """One split ready to publish: its files (repo path -> local path) and what the README says of it."""

    config_name: str
    split: str
    files: dict[str, Path]
    info: SplitInfo
    features: Features

    @property
    def uploaded(self) -> int:
        return sum(path.stat().st_size for path in self.files.values())


def _check_files(images: dict[str, bytes] | None) -> dict[str, bytes]:
    """Image and viewer paths are repo paths under ``images/`` or ``viewer/``: relative, no ``..``, never the
    README or data files."""
    checked: dict[str, bytes] = {}
    for path, content in (images or {}).items():
        parts = path.split("/") if isinstance(path, str) else []
        if (
            not parts
            or parts[0] not in (IMAGES_DIR, VIEWER_DIR)
            or len(parts) < 2
            or any(p in ("", ".", "..") for p in parts)
            or "\\" in path
        ):
            raise CardError(
                f"Image path {path!r} must be a relative path under {IMAGES_DIR}/ or {VIEWER_DIR}/ (no '..')"
            )
        if not isinstance(content, (bytes, bytearray)):
            raise CardError(f"Image {path!r} must be bytes, not {type(content).__name__}")
        checked[path] = bytes(content)
    return checked


def _card_for(
    ds: Dataset,
    split: str,
    card: DatasetCard | None,
    images: dict[str, bytes] | None,
    config_name: str = DEFAULT_CONFIG,
    viewer: dict[str, bytes] | None = None,
) -> tuple[DatasetCard, dict[str, bytes]]:
    """The card to publish with ``ds`` (the one given, or one built from the dataset's own metadata), and every
    file beside it: the images and the viewer's files in the split's viewer folder."""
    if card is None:
        card, built = build_card(
            ds, ds, CardContext(split=split, run=RunRecord(loaded=[("published", len(ds))]), config_name=config_name)
        )
        images = {**built, **(images or {})}
    merge_card(None, card, section_key(config_name, split))  # a card without this split's section fails here
    where = viewer_folder(config_name, split)
    return card, _check_files(
        {**(images or {}), **{f"{where}/{path}": content for path, content in (viewer or {}).items()}}
    )


def _refuse_source(repo_id: str, sources: Iterable[str], card: DatasetCard | None) -> None:
    """Never publish over the dataset the curation read from: a curated subset pushed there would replace the
    source's splits. ``sources`` are paths, ids or ``hf://`` URLs; the card's ``source_datasets`` count too."""
    listed = list(sources)
    if card is not None:
        declared = card.data.get("source_datasets")
        listed += [declared] if isinstance(declared, str) else list(declared or [])
    refuse_publishing_over(repo_id, listed)


# ---------------------------------------------------------------------------------------------- local layout


def write_local(
    ds: Dataset,
    folder: str | os.PathLike,
    *,
    split: str,
    card: DatasetCard | None = None,
    images: dict[str, bytes] | None = None,
    config_name: str = DEFAULT_CONFIG,
    overwrite: bool = False,
    sources: Iterable[str | os.PathLike] = (),
    viewer: dict[str, bytes] | None = None,
) -> Path:
    """Write into ``folder`` what the Hub repo holds after ``push(ds, repo_id, split=split, card=card,
    images=images)``: a dry run to inspect, ``load_dataset(folder)``, and publish later with `push_folder`.

    Layout (``config_name`` "default", as ``push_to_hub`` without ``config_name``)::

        folder/README.md                                      # configs + dataset_info + merged card
        folder/data/<split>-00000-of-00001.parquet            # more shards above 500MB, as push_to_hub
        folder/images/...                                     # the card's images
        folder/viewer/<split>/index.html, ...                 # `viewer` (hf_select.viewer.viewer_files), if given

    Splits written before are kept (their data, ``configs`` entry and card section); rewriting a split
    replaces all of its ``data/<split>-*`` files and brings its new features. Without ``card`` one is built
    from the dataset's metadata. Only folders hf_select wrote (or empty ones) are written unless
    ``overwrite=True``, each file in place with one rename, and nothing it did not write is ever deleted (see
    `hf_select.outputs`). ``sources`` (local paths, Hub ids or URLs the data came from) are recorded in the
    folder's manifest, so `push_folder` refuses to publish it over its own source. A rewritten split's old
    viewer files go (the viewer shows the data it was written with). Returns the folder.
    """
    check_split_name(split)
    check_config_name(config_name)
    card, images = _card_for(ds, split, card, images, config_name, viewer)
    sources = [str(s) for s in sources]
    local = [s for s in sources if not hub_dataset_id(s)]
    record = {"sources": sorted({repo for s in sources if (repo := hub_dataset_id(s))})}
    with output_folder(folder, overwrite=overwrite, sources=local, record=record) as staging:
        stale = staging.existing(f"{data_dir(config_name)}/{split}-*")
        deleted = sum((staging.folder / path).stat().st_size for path in stale)
        for path in stale:
            staging.remove(path)
        for path in staging.existing(f"{viewer_folder(config_name, split)}/**/*"):
            if path in staging.owned and path not in images:
                staging.remove(path)
        with staging.incoming() as fresh:
            _, uploaded = write_parquet_shards(ds, fresh, config_name, split)
        existing = staging.read_bytes(README)
        existing_card = _readable_card(staging.folder / README, existing) if existing is not None else None
        data_card = updated_data_card(existing_card, config_name, split_info(ds, split), ds.features, uploaded, deleted)
        merged = merge_card(data_card, card, section_key(config_name, split))
        text = keep_layout(existing.decode("utf-8") if existing is not None else None, merged)
        staging.write_merged(README, text.encode("utf-8"), existing)
        for path, content in images.items():
            staging.write_bytes(path, content)
    return resolve_output(folder)


def check_write_local(
    folder: str | os.PathLike,
    *,
    split: str,
    config_name: str = DEFAULT_CONFIG,
    overwrite: bool = False,
    sources: Iterable[str | os.PathLike] = (),
    inside_of: Iterable[str | os.PathLike] = (),
    viewer: bool = False,
) -> Path:
    """Every refusal `write_local` would make, before any work: those of `hf_select.outputs.check_output` for
    the files it writes (the split's viewer too, with ``viewer``), bad split or config names, and a README to merge
    into that cannot be read."""
    check_split_name(split)
    check_config_name(config_name)
    files = [
        README,
        f"{data_dir(config_name)}/{split}-*",
        f"{data_dir(config_name)}/{split}-00000-of-00001.parquet",
        f"{IMAGES_DIR}/{image_stem(config_name, split)}_scores.png",
    ]
    if viewer:  # the viewer files a rewrite replaces or removes: those hf_select wrote there before
        written = (manifest_of(resolve_output(folder)) or {}).get("files") or {}
        files += [f for f in written if f.startswith(viewer_folder(config_name, split) + "/")]
    local = [s for s in map(str, sources) if not hub_dataset_id(s)]
    folder = check_output(folder, overwrite=overwrite, sources=local, inside_of=inside_of, files=files, merged=[README])
    readme = folder / README
    if readme.is_file() and not readme.is_symlink():
        _readable_card(readme, readme.read_bytes())
    return folder


def _readable_card(path: Path, content: bytes) -> DatasetCard:
    """A README to merge into: valid UTF-8 with a valid YAML header and balanced section markers, or a one-line
    error naming it."""
    try:
        card = DatasetCard(content.decode("utf-8"))
        card.data  # noqa: B018 - parsed YAML
        check_markers(card)
    except (UnicodeDecodeError, ValueError, CardError, yaml.YAMLError) as err:
        raise OutputError(
            f"{path} is not a README hf_select can merge into ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:120] if str(err) else ''}); fix it or move it away"
        ) from None
    return card


# ---------------------------------------------------------------------------------------------- Hub


def _full_repo_id(api: HfApi, repo_id: str) -> str:
    repo_id = repo_id.strip().removeprefix("https://huggingface.co/").removeprefix("datasets/").strip("/")
    return repo_id if "/" in repo_id else f"{api.whoami()['name']}/{repo_id}"


def _prepare_repo(api: HfApi, repo_id: str, private: bool, branch: str | None) -> None:
    """Create the repo (private when asked) and the branch from ``main`` if missing. ``private=True`` on an
    existing public repo is refused: publishing there would make the data public."""
    try:
        info = api.repo_info(repo_id, repo_type="dataset")
    except RepositoryNotFoundError:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    else:
        if private and not info.private:
            raise PublishError(
                f"refusing to publish to {repo_id!r} with private=True: the repo exists and is public, so the split "
                "would be public. Make the repo private first (HfApi().update_repo_settings(repo_id, private=True, "
                "repo_type='dataset')), or publish to a new repo id."
            )
    if branch is not None:
        api.create_branch(repo_id, branch=branch, repo_type="dataset", exist_ok=True)


def _hub_readme(api: HfApi, repo_id: str, revision: str) -> str | None:
    # DatasetCard.load has no `revision` (huggingface_hub 2.x): download the README of that exact commit.
    try:
        path = api.hf_hub_download(repo_id, README, repo_type="dataset", revision=revision)
    except EntryNotFoundError:
        return None
    return Path(path).read_text(encoding="utf-8")


def _commit(
    api: HfApi,
    repo_id: str,
    splits: list[_SplitFiles],
    sections: list[tuple[DatasetCard, str]],
    images: dict[str, bytes],
    branch: str | None,
) -> str:
    """One commit with the splits' files, the updated README and the images, on top of the revision the README
    was read from (retried when another commit landed in between). Returns the commit URL."""
    attempt = 1
    while True:
        head = api.repo_info(repo_id, repo_type="dataset", revision=branch).sha
        try:
            return api.create_commit(
                repo_id,
                repo_type="dataset",
                revision=branch,
                parent_commit=head,
                operations=_operations(api, repo_id, head, splits, sections, images),
                commit_message="Publish curated split(s) "
                + ", ".join(
                    s.split + (f" ({s.config_name})" if s.config_name != DEFAULT_CONFIG else "") for s in splits
                )
                + " with hf_select",
            ).commit_url
        except HfHubHTTPError as err:
            status = err.response.status_code if err.response is not None else None
            if status not in (409, 412) or attempt == _COMMIT_ATTEMPTS:
                raise
            attempt += 1  # a commit landed since we read the README: merge again on top of it


def _operations(
    api: HfApi,
    repo_id: str,
    head: str,
    splits: list[_SplitFiles],
    sections: list[tuple[DatasetCard, str]],
    images: dict[str, bytes],
) -> list:
    """What the commit adds and deletes, given the repo at ``head``: the splits' files, their stale shards
    removed, the README with ``configs``/``dataset_info`` and the card sections merged in, the images."""
    before = _hub_readme(api, repo_id, head)
    card = DatasetCard(before) if before is not None else None
    present = {
        f.path: f.size
        for f in api.list_repo_tree(repo_id, repo_type="dataset", revision=head, recursive=True)
        if hasattr(f, "size")
    }
    deletions = []
    for s in splits:
        prefix = f"{data_dir(s.config_name)}/{s.split}-"
        stale = [path for path in present if path.startswith(prefix)]
        deletions += [path for path in stale if path not in s.files]
        viewer = f"{viewer_folder(s.config_name, s.split)}/"
        deletions += [path for path in present if path.startswith(viewer) and path not in images]
        card = updated_data_card(
            card, s.config_name, s.info, s.features, s.uploaded, sum(present[path] for path in stale)
        )
    for section, key in sections:
        card = merge_card(card, section, key)
    readme = keep_layout(before, card).replace(REPO_PLACEHOLDER, repo_id).encode("utf-8")  # a person's lines kept
    return [
        *(CommitOperationAdd(repo_path, str(local)) for s in splits for repo_path, local in s.files.items()),
        CommitOperationAdd(README, readme),
        *(CommitOperationAdd(path, content) for path, content in images.items()),
        *(CommitOperationDelete(path) for path in deletions),
    ]


@contextmanager
def _publishing(repo_id: str) -> Iterator[None]:
    """Turn a failure of the Hub clients into one `PublishError` line (nothing was committed)."""
    try:
        yield
    except HfSelectError:
        raise
    except Exception as err:
        if not _hub_failure(err):
            raise  # a bug keeps its traceback
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PublishError(f"publishing to {repo_id!r} failed, nothing was committed: {first}") from err


def _hub_failure(err: Exception) -> bool:
    """Whether ``err`` comes from talking to the Hub (HTTP errors, connection errors of whichever HTTP stack
    huggingface_hub uses, a refused repo id), not from a bug."""
    stack = type(err).__module__.split(".")[0]
    return isinstance(err, (HfHubHTTPError, OSError)) or stack in (
        "httpx",
        "httpx2",
        "requests",
        "urllib3",
        "huggingface_hub",
    )


def push(
    ds: Dataset,
    repo_id: str,
    *,
    split: str,
    card: DatasetCard | None = None,
    images: dict[str, bytes] | None = None,
    config_name: str = DEFAULT_CONFIG,
    private: bool = False,
    branch: str | None = None,
    token: str | None = None,
    sources: Iterable[str] = (),
    viewer: dict[str, bytes] | None = None,
) -> str:
    """Publish one curated split, its card section and images to the dataset repo ``repo_id``, in one commit.

    The data files are exactly those ``ds.push_to_hub(repo_id, split=split)`` writes; other splits, their
    card sections and anything a person wrote in the README outside hf_select's markers are kept. Without
    ``card`` one is built from the dataset's metadata. On ``branch`` (created from ``main`` if missing) when
    given. ``viewer``: the split's viewer files (`hf_select.viewer.viewer_files`), published under
    ``viewer/<split>/`` (an earlier viewer of the split is replaced). Returns the commit URL.

    Refuses (`PublishError`, before anything is sent): ``sources`` or the card's ``source_datasets`` naming
    ``repo_id``; ``private=True`` on an existing public repo; a split whose columns differ from the other
    splits of its config (publish it with another ``config_name``).
    """
    check_split_name(split)
    check_config_name(config_name)
    card, images = _card_for(ds, split, card, images, config_name, viewer)
    api = HfApi(token=token)
    with _publishing(repo_id):
        repo_id = _full_repo_id(api, repo_id)
        _refuse_source(repo_id, sources, card)
        _prepare_repo(api, repo_id, private, branch)
        with tempfile.TemporaryDirectory() as tmp:
            paths, _ = write_parquet_shards(ds, Path(tmp), config_name, split)
            files = _SplitFiles(
                config_name, split, {p: Path(tmp) / p for p in paths}, split_info(ds, split), ds.features
            )
            return _commit(api, repo_id, [files], [(card, section_key(config_name, split))], images, branch)


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    branch: str | None = None,
    token: str | None = None,
    sources: Iterable[str] = (),
) -> str:
    """Publish a folder written by `write_local`: every split in it, its card sections and every file under
    ``images/`` and ``viewer/``, in one commit, with the same guarantees as `push`. Splits already on the Hub but
    not in the folder are kept. Only folders hf_select wrote (its manifest) are published, never over a source their
    manifest records. Returns the commit URL."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise NotFoundError(f"No such folder: {folder} (publish a folder written by hf-select run or write_local)")
    readme, manifest = folder / README, manifest_of(folder)
    if manifest is None or not readme.is_file():
        raise OutputError(
            f"{folder} is not a folder hf_select wrote (it has no {README} and manifest); publish "
            "folders written by hf-select run or write_local"
        )
    sources = [*sources, *manifest.get("sources", [])]
    local_card = DatasetCard.load(readme)
    written = _written_files(folder, manifest)
    splits = _local_splits(folder, local_card, written)
    for s in splits:
        merge_card(None, local_card, section_key(s.config_name, s.split))  # every section, checked before sending
    images = _check_files(
        {
            relative: path.read_bytes()
            for relative, path in sorted(written.items())
            if relative.split("/")[0] in (IMAGES_DIR, VIEWER_DIR)
        }
    )
    api = HfApi(token=token)
    with _publishing(repo_id):
        repo_id = _full_repo_id(api, repo_id)
        _refuse_source(repo_id, sources, local_card)
        _prepare_repo(api, repo_id, private, branch)
        return _commit(
            api, repo_id, splits, [(local_card, section_key(s.config_name, s.split)) for s in splits], images, branch
        )


def _written_files(folder: Path, manifest: dict) -> dict[str, Path]:
    """The files of ``folder`` that hf_select wrote and nobody changed since: listed in its manifest, inside the
    folder, reached through no link, with the content the manifest records. Only these are ever published (a
    person's file or a link placed in ``viewer/`` stays local); a listed file that was edited is refused, before
    anything reaches the Hub."""
    from hf_select.digests import file_digests

    files = manifest.get("files") or {}
    out = {}
    for relative, digest in files.items() if isinstance(files, dict) else ():
        path, parts = folder / relative, Path(relative).parts
        if Path(relative).is_absolute() or ".." in parts or through_link(folder, Path(relative)) or path.is_symlink():
            raise OutputError(
                f"{folder}: {relative} is a link or lies outside the folder; hf_select publishes only "
                "the files it wrote there. Rewrite the folder with hf_select"
            )
        if not path.is_file() or relative == README:
            continue  # the card is merged from its own sections; a file that is gone is not published
        if digest is not None and file_digests(path)["sha256"] != digest:
            raise OutputError(
                f"{path} was changed after hf_select wrote it; only files it wrote are published. "
                "Rewrite the folder with hf_select (or restore the file)"
            )
        out[Path(relative).as_posix()] = path
    return out


def _local_splits(folder: Path, card: DatasetCard, written: dict[str, Path]) -> list[_SplitFiles]:
    """The splits a local Hub-layout folder holds, read from its README's ``configs``/``dataset_info``: their
    ``data_files`` patterns matched against the files hf_select wrote (a pattern reaching outside the folder, e.g.
    after a person edited the README, is refused before anything reaches the Hub)."""
    out = []
    for config_name, split, patterns, info, features in card_splits(card):
        for pattern in patterns:
            if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
                raise OutputError(
                    f"{folder / README}: split {split!r} of config {config_name!r} names data files "
                    f"outside the folder ({pattern!r}); only files inside {folder} are published"
                )
        files = {
            relative: path
            for relative, path in written.items()
            if any(fnmatch.fnmatchcase(relative, pattern) for pattern in patterns)
        }
        if info is None or not files:
            raise OutputError(
                f"{folder / README} does not describe split {split!r} of config {config_name!r} with "
                "its files; rewrite the folder with hf_select"
            )
        out.append(_SplitFiles(config_name, split, files, info, features))
    return out
