"""hf_select.hub: merging split sections into one card, the local dry-run layout, and publishing to the
fake Hub (tests/hub_server.py) with the real clients over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import Dataset, DatasetDict, DownloadMode, load_dataset
from hub_server import HubServer
from huggingface_hub import CommitOperationAdd, DatasetCard, HfApi, hf_hub_download

from hf_select import outputs
from hf_select.errors import OutputError, PublishError, SchemaError
from hf_select.hub import merge_card, push, push_folder, write_local

FRESH = DownloadMode.FORCE_REDOWNLOAD
TRAIN = {"prompt": ["1+1", "2+2", "3+3"], "response": ["2", "4", "6"], "score": [0.5, -1.0, 2.25]}
TEST = {"prompt": ["4+4"], "response": ["8"], "score": [0.0]}
PNG_TRAIN = b"\x89PNG\r\n\x1a\n-train-plot-"
PNG_TEST = b"\x89PNG\r\n\x1a\n-test-plot-"


pytestmark = pytest.mark.usefixtures("strict_hub")


def section(split: str, words: str = "made by keeping the best response") -> str:
    return (
        f"<!-- hf_select:split={split} -->\n## Split `{split}`\n\n{split}: {words}.\n\n"
        f"![plot](images/{split}_scores.png)\n<!-- /hf_select:split={split} -->"
    )


def header(title: str = "Curated traces") -> str:
    return f"<!-- hf_select:header -->\n# {title}\n\nShared intro.\n<!-- /hf_select:header -->"


def make_card(
    *splits: str, yaml: str = "license: mit\ntags:\n- hf-select\n- distillation", **words: str
) -> DatasetCard:  # a split of another config is named "config/split"
    """A card as hf_select.cards builds it: YAML, the header block, one block per split."""
    blocks = "\n\n".join(section(s, words[s]) if s in words else section(s) for s in splits)
    return DatasetCard(f"---\n{yaml}\n---\n\n{header()}\n\n{blocks}\n")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of a folder but hf_select's bookkeeping (what a Hub repo would hold)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not outputs._ours_internal(p.relative_to(folder))
    }


# ------------------------------------------------------------------------------------------------ merge_card


def test_merge_into_nothing_takes_the_new_card_minus_other_splits() -> None:
    new = make_card("train", "test")
    merged = merge_card(None, new, "train")
    assert merged.data.to_dict() == new.data.to_dict()
    assert header() in merged.text and section("train") in merged.text
    assert "hf_select:split=test" not in merged.text  # its data is not part of this publication
    # The YAML-only README that push_to_hub writes on a first push counts as no body.
    data_only = DatasetCard("---\nconfigs:\n- config_name: default\n---\n")
    assert merge_card(data_only, new, "train").text == merged.text


def test_merge_replaces_the_split_section_and_the_header() -> None:
    first = merge_card(None, make_card("train", train="old recipe"), "train")
    newer = DatasetCard(str(make_card("train", train="new recipe")).replace("Curated traces", "Renamed"))
    merged = merge_card(first, newer, "train")
    assert "new recipe" in merged.text and "old recipe" not in merged.text
    assert "# Renamed" in merged.text and "Curated traces" not in merged.text
    assert merged.text.count("<!-- hf_select:header -->") == 1
    assert merged.text.count("<!-- hf_select:split=train -->") == 1


def test_merge_adds_a_second_split_and_keeps_user_text() -> None:
    existing = DatasetCard(
        f"---\nlicense: mit\n---\nA note a person wrote above.\n\n{header()}\n\nBetween blocks, by hand.\n\n"
        f"{section('train', 'kept as is')}\n\n## Citation\n\n```bibtex\n@misc{{x}}\n```\n"
    )
    merged = merge_card(existing, make_card("test"), "test")
    text = merged.text
    for kept in (
        "A note a person wrote above.\n\n",
        "\n\nBetween blocks, by hand.\n\n",
        section("train", "kept as is"),
        "\n\n## Citation\n\n```bibtex\n@misc{x}\n```\n",
    ):
        assert kept in text
    assert text.index(section("train", "kept as is")) < text.index(section("test")) < text.index("## Citation")
    assert text.startswith("A note a person wrote above.")  # the header stays where the person left it
    # A card with no header gets it first; a split section then goes right after it.
    bare = merge_card(DatasetCard("---\nlicense: mit\n---\nOnly prose.\n"), make_card("train"), "train")
    assert bare.text.index(header()) < bare.text.index(section("train")) < bare.text.index("Only prose.")


def test_merge_yaml_keeps_data_fields_and_unions_tags() -> None:
    existing = DatasetCard(
        "---\ndataset_info:\n  features:\n  - name: x\n    dtype: int64\n  splits:\n  - name: train\n"
        "    num_examples: 3\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
        "    path: data/train-*\nlicense: mit\ntags:\n- a\n- b\npretty_name: Kept\n---\n"
    )
    new = make_card(
        "train",
        yaml="configs:\n- config_name: bogus\ndataset_info:\n  splits: []\nlicense: apache-2.0\n"
        "tags:\n- b\n- c\nsource_datasets:\n- org/source\nlanguage:\n- en",
    )
    merged = merge_card(existing, new, "train")
    data = merged.data.to_dict()
    assert data["configs"] == existing.data.configs
    assert data["dataset_info"] == existing.data.dataset_info
    assert data["tags"] == ["a", "b", "c"]
    assert data["license"] == "apache-2.0"
    assert (data["source_datasets"], data["language"], data["pretty_name"]) == (["org/source"], ["en"], "Kept")
    fields = ("dataset_info:", "configs:", "license:", "tags:", "pretty_name:", "source_datasets:", "language:")
    positions = [str(merged).index(f"\n{field}") for field in fields]
    assert positions == sorted(positions)  # the existing fields keep their order, new ones follow


def test_merge_is_idempotent() -> None:
    train, test = make_card("train"), make_card("test", yaml="license: mit\ntags:\n- extra")
    once = merge_card(None, train, "train")
    assert str(merge_card(once, train, "train")) == str(once)
    both = merge_card(once, test, "test")
    assert str(merge_card(both, test, "test")) == str(both)
    assert str(merge_card(both, train, "train")) == str(both)
    assert both.data.tags == ["hf-select", "distillation", "extra"]


def test_merge_rejects_missing_sections_and_broken_markers() -> None:
    with pytest.raises(ValueError, match="no section for split 'test'"):
        merge_card(None, make_card("train"), "test")
    broken = DatasetCard(f"---\nlicense: mit\n---\n{header()}\n<!-- hf_select:split=train -->\nunclosed\n")
    with pytest.raises(ValueError, match="never closed"):
        merge_card(broken, make_card("train"), "train")


# ------------------------------------------------------------------------------------------------ write_local


def test_write_local_two_splits_then_load_dataset(tmp_path: Path) -> None:
    folder = tmp_path / "curated"
    write_local(
        Dataset.from_dict(TRAIN),
        folder,
        split="train",
        card=make_card("train"),
        images={"images/train_scores.png": PNG_TRAIN},
    )
    write_local(
        Dataset.from_dict(TEST),
        folder,
        split="test",
        card=make_card("test"),
        images={"images/test_scores.png": PNG_TEST},
    )

    assert sorted(snapshot(folder)) == [
        "README.md",
        "data/test-00000-of-00001.parquet",
        "data/train-00000-of-00001.parquet",
        "images/test_scores.png",
        "images/train_scores.png",
    ]
    assert (folder / "images/train_scores.png").read_bytes() == PNG_TRAIN
    loaded = load_dataset(str(folder), download_mode=FRESH)
    assert isinstance(loaded, DatasetDict) and list(loaded) == ["train", "test"]
    assert loaded["train"].to_dict() == TRAIN and loaded["test"].to_dict() == TEST

    card = DatasetCard.load(folder / "README.md")
    assert card.data.configs == [
        {
            "config_name": "default",
            "data_files": [{"split": "train", "path": "data/train-*"}, {"split": "test", "path": "data/test-*"}],
        }
    ]
    assert {s["name"]: s["num_examples"] for s in card.data.dataset_info["splits"]} == {"train": 3, "test": 1}
    assert header() in card.text and section("train") in card.text and section("test") in card.text

    # Rewriting a split replaces its data and section, and keeps the other split.
    write_local(
        Dataset.from_dict({k: v[:1] for k, v in TRAIN.items()}),
        folder,
        split="train",
        card=make_card("train", train="rewritten"),
    )
    loaded = load_dataset(str(folder), download_mode=FRESH)
    assert loaded["train"]["prompt"] == ["1+1"] and loaded["test"].to_dict() == TEST
    card = DatasetCard.load(folder / "README.md")
    assert "rewritten" in card.text and section("test") in card.text
    assert {s["name"]: s["num_examples"] for s in card.data.dataset_info["splits"]} == {"train": 1, "test": 1}


def _raise(*args: object, **kwargs: object) -> None:
    raise OSError("disk full (simulated)")


@pytest.mark.parametrize("failure", ["parquet", "manifest", "features"])
def test_write_local_failure_leaves_the_previous_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    folder = tmp_path / "curated"
    write_local(
        Dataset.from_dict(TRAIN),
        folder,
        split="train",
        card=make_card("train"),
        images={"images/train_scores.png": PNG_TRAIN},
    )
    before, inode = snapshot(folder), folder.stat().st_ino

    second = Dataset.from_dict(TEST)
    if failure == "parquet":  # in the middle: while writing the new split's data
        monkeypatch.setattr(Dataset, "to_parquet", _raise)
    elif failure == "manifest":  # at the very end: every new file staged, the pending manifest fails to land
        monkeypatch.setattr(outputs, "_write_manifest", _raise)
    else:  # datasets refuses a split whose features differ from the existing splits'
        second = Dataset.from_dict({"other": [1]})
    with pytest.raises((OSError, ValueError)):
        write_local(
            second,
            folder,
            split="test",
            card=make_card("test", train="changed"),
            images={"images/train_scores.png": b"overwritten", "images/test_scores.png": PNG_TEST},
        )

    assert snapshot(folder) == before and folder.stat().st_ino == inode  # byte for byte, the folder itself kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curated"]  # nothing beside it
    assert not [p for p in folder.iterdir() if p.name.startswith(outputs.TMP_TAG)]  # no scratch left inside
    monkeypatch.undo()
    assert list(load_dataset(str(folder), download_mode=FRESH)) == ["train"]


def test_a_write_killed_between_its_renames_leaves_old_or_new_files_and_the_next_write_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "curated"
    write_local(
        Dataset.from_dict(TRAIN),
        folder,
        split="train",
        card=make_card("train"),
        images={"images/train_scores.png": PNG_TRAIN},
    )
    old = snapshot(folder)
    real_replace, moved = os.replace, []

    def crash_after_two(src, dst):  # into the folder: the pending manifest, one file, then the process dies
        if Path(dst).parent.parent in (folder, folder.parent) and outputs.TMP_TAG not in str(dst):
            if len(moved) == 2:
                raise KeyboardInterrupt
            moved.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        write_local(
            Dataset.from_dict(TRAIN),
            folder,
            split="train",
            card=make_card("train", train="second"),
            images={"images/train_scores.png": PNG_TEST},
        )
    monkeypatch.undo()
    manifest = json.loads((folder / outputs.MANIFEST).read_text())
    assert manifest["pending"]  # the manifest says which files the interrupted write was putting in place
    now = snapshot(folder)
    assert set(now) == set(old) and any(now[p] != old[p] for p in now)  # some paths new, the others old
    write_local(
        Dataset.from_dict(TRAIN),
        folder,
        split="train",
        card=make_card("train", train="second"),
        images={"images/train_scores.png": PNG_TEST},
    )  # hf_select's own files: no --overwrite needed
    assert snapshot(folder)["images/train_scores.png"] == PNG_TEST and "pending" not in json.loads(
        (folder / outputs.MANIFEST).read_text()
    )
    assert load_dataset(str(folder), split="train", download_mode=FRESH).to_dict() == TRAIN


def test_only_a_dead_writers_scratch_is_removed(tmp_path: Path) -> None:
    folder = tmp_path / "curated"
    write_local(Dataset.from_dict(TRAIN), folder, split="train", card=make_card("train"))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    host = socket.gethostname()
    for name in (f"{host}-{dead}-aaaa", f"{host}-{os.getpid()}-bbbb", f"other.host-{dead}-cccc"):
        (folder / f"{outputs.TMP_TAG}{name}").mkdir()
    write_local(Dataset.from_dict(TEST), folder, split="test", card=make_card("test"))
    left = sorted(p.name.removeprefix(outputs.TMP_TAG) for p in folder.iterdir() if p.name.startswith(outputs.TMP_TAG))
    assert left == sorted([f"{host}-{os.getpid()}-bbbb", f"other.host-{dead}-cccc"])  # alive, or not provably gone


def test_write_local_rejects_paths_outside_images(tmp_path: Path) -> None:
    for bad in ("../escape.png", "images/../README.md", "/abs.png", "data/x.png"):
        with pytest.raises(ValueError, match="under images/"):
            write_local(
                Dataset.from_dict(TRAIN), tmp_path / "f", split="train", card=make_card("train"), images={bad: b"x"}
            )
    with pytest.raises(ValueError, match="Invalid split"):
        write_local(Dataset.from_dict(TRAIN), tmp_path / "f", split="../train", card=make_card("train"))
    assert list(tmp_path.iterdir()) == []


def test_write_local_is_byte_identical_to_push(
    hub: HubServer, hub_repo_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dry run is the Hub repo: same paths, same parquet bytes, same README (configs, dataset_info, card),
    including push_to_hub's sharding rule and the removal of a rewritten split's old shards (that both equal
    what `Dataset.push_to_hub` writes is pinned in test_compat.py)."""
    import datasets.config

    folder = tmp_path / "curated"
    train = Dataset.from_dict(TRAIN)
    steps = [  # split, data, image, max_shard_size, expected parquet files of the split
        ("train", train, PNG_TRAIN, train._estimate_nbytes() // 2 + 1, ["00000-of-00002", "00001-of-00002"]),
        ("test", Dataset.from_dict(TEST), PNG_TEST, None, ["00000-of-00001"]),
        ("train", train.select([2, 0]), b"new plot", None, ["00000-of-00001"]),  # the 2 old shards go
    ]
    for split, ds, image, max_shard_size, shards in steps:
        if max_shard_size:
            monkeypatch.setattr(datasets.config, "MAX_SHARD_SIZE", max_shard_size)
        args = {"split": split, "card": make_card(split), "images": {f"images/{split}_scores.png": image}}
        push(ds, hub_repo_id, **args)
        write_local(ds, folder, **args)
        monkeypatch.undo()
        remote = {path: f.content for path, f in hub.repo(hub_repo_id).head().files.items()}
        remote.pop(".gitattributes")
        assert remote == snapshot(folder)
        assert [p for p in remote if p.startswith(f"data/{split}-")] == [f"data/{split}-{s}.parquet" for s in shards]
    loaded = load_dataset(str(folder), download_mode=FRESH)
    assert loaded["train"]["prompt"] == ["3+3", "1+1"] and loaded["test"].to_dict() == TEST


# ------------------------------------------------------------------------------------------------ push


def test_push_then_load_dataset_card_and_images(hub: HubServer, hub_repo_id: str) -> None:
    url = push(
        Dataset.from_dict(TRAIN),
        hub_repo_id,
        split="train",
        card=make_card("train"),
        images={"images/train_scores.png": PNG_TRAIN},
    )

    repo = hub.repo(hub_repo_id)
    assert url.endswith(repo.head().oid)
    assert [c.title for c in repo.log()] == ["Publish curated split(s) train with hf_select", "initial commit"]
    assert load_dataset(hub_repo_id, download_mode=FRESH)["train"].to_dict() == TRAIN
    card = DatasetCard.load(hub_repo_id)
    assert header() in card.text and section("train") in card.text
    assert card.data.configs == [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}]
    assert card.data.license == "mit" and card.data.tags == ["hf-select", "distillation"]
    with open(hf_hub_download(hub_repo_id, "images/train_scores.png", repo_type="dataset"), "rb") as file:
        assert file.read() == PNG_TRAIN


def test_push_second_split_keeps_the_first(hub: HubServer, hub_repo_id: str) -> None:
    push(
        Dataset.from_dict(TRAIN),
        hub_repo_id,
        split="train",
        card=make_card("train"),
        images={"images/train_scores.png": PNG_TRAIN},
    )
    push(
        Dataset.from_dict(TEST),
        hub_repo_id,
        split="test",
        card=make_card("test"),
        images={"images/test_scores.png": PNG_TEST},
    )

    loaded = load_dataset(hub_repo_id, download_mode=FRESH)
    assert loaded["train"].to_dict() == TRAIN and loaded["test"].to_dict() == TEST
    card = DatasetCard.load(hub_repo_id)
    assert section("train") in card.text and section("test") in card.text
    assert card.text.count("<!-- hf_select:header -->") == 1
    files = hub.repo(hub_repo_id).head().files
    assert files["images/train_scores.png"].content == PNG_TRAIN and files["images/test_scores.png"].lfs


def test_push_to_a_branch_leaves_main_untouched(hub: HubServer, hub_repo_id: str) -> None:
    push(Dataset.from_dict(TRAIN), hub_repo_id, split="train", card=make_card("train"))
    main = hub.repo(hub_repo_id).head("main")

    push(
        Dataset.from_dict(TEST),
        hub_repo_id,
        split="test",
        card=make_card("test"),
        branch="dev",
        images={"images/test_scores.png": PNG_TEST},
    )
    repo = hub.repo(hub_repo_id)
    assert repo.head("main").oid == main.oid
    assert [c.title for c in repo.log("dev")][:2] == [
        "Publish curated split(s) test with hf_select",
        "Publish curated split(s) train with hf_select",
    ]
    assert sorted(load_dataset(hub_repo_id, revision="dev", download_mode=FRESH)) == ["test", "train"]
    assert list(load_dataset(hub_repo_id, download_mode=FRESH)) == ["train"]
    assert "hf_select:split=test" in repo.head("dev").text("README.md")
    assert "images/test_scores.png" not in repo.head("main").files


def test_push_private(hub: HubServer, hub_repo_id: str) -> None:
    push(Dataset.from_dict(TRAIN), hub_repo_id, split="train", card=make_card("train"), private=True)
    assert hub.repo(hub_repo_id).private
    assert HfApi().dataset_info(hub_repo_id).private is True


def test_push_refuses_to_overwrite_the_source(hub: HubServer, hub_repo_id: str) -> None:
    ds = Dataset.from_dict(TRAIN)
    with pytest.raises(PublishError, match="source dataset"):
        push(ds, hub_repo_id, split="train", card=make_card("train"), sources=[hub_repo_id])
    with pytest.raises(PublishError, match="source dataset"):  # a bare name lands in the user's namespace
        push(ds, hub_repo_id.split("/")[1], split="train", card=make_card("train"), sources=[hub_repo_id])
    from_card = make_card("train", yaml=f"source_datasets:\n- {hub_repo_id.upper()}")
    with pytest.raises(PublishError, match="source dataset"):  # the source the card names
        push(ds, hub_repo_id, split="train", card=from_card)
    for url in (
        f"hf://datasets/{hub_repo_id}/data/train-00000-of-00001.parquet",  # data files of the target
        f"hf://datasets/{hub_repo_id}@main/data/*.parquet",
        f"https://huggingface.co/datasets/{hub_repo_id}",
        f"datasets/{hub_repo_id}",
    ):
        with pytest.raises(PublishError, match="source dataset"):
            push(ds, hub_repo_id, split="train", card=make_card("train"), sources=["parquet", url])
    assert not hub.has_repo(hub_repo_id)


def test_a_failed_commit_changes_nothing_on_the_hub(
    hub: HubServer, hub_repo_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Data, README and images go in one commit: a failure leaves the repo exactly as it was, and says so in
    one line."""
    push(Dataset.from_dict(TRAIN), hub_repo_id, split="train", card=make_card("train"))
    before = hub.repo(hub_repo_id).head().oid

    def failing_commit(self: HfApi, *args: object, **kwargs: object) -> object:
        raise ConnectionError("network down (simulated)")

    monkeypatch.setattr(HfApi, "create_commit", failing_commit)
    with pytest.raises(PublishError, match="nothing was committed: network down"):
        push(Dataset.from_dict(TEST), hub_repo_id, split="test", card=make_card("test"))
    monkeypatch.undo()
    assert hub.repo(hub_repo_id).head().oid == before
    assert list(load_dataset(hub_repo_id, download_mode=FRESH)) == ["train"]
    push(Dataset.from_dict(TEST), hub_repo_id, split="test", card=make_card("test"))  # re-running publishes it
    card = DatasetCard.load(hub_repo_id)
    assert section("train") in card.text and section("test") in card.text


def test_push_merges_a_concurrent_card_edit(hub: HubServer, hub_repo_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone edits the README between our read and our commit: the card commit is refused (parent_commit),
    re-read and merged again, so the edit survives."""
    push(Dataset.from_dict(TRAIN), hub_repo_id, split="train", card=make_card("train"))
    real_commit = HfApi.create_commit
    edited: list[str] = []

    def commit_with_a_concurrent_edit(self: HfApi, repo_id: str, **kwargs: object) -> object:
        if str(kwargs.get("commit_message", "")).startswith("Publish curated split(s) test") and not edited:
            readme = hub.repo(repo_id).head().text("README.md") + "\nA hand-written note.\n"
            edited.append(
                real_commit(
                    HfApi(),
                    repo_id,
                    repo_type="dataset",
                    commit_message="Edit README",
                    operations=[CommitOperationAdd("README.md", readme.encode())],
                ).oid
            )
        return real_commit(self, repo_id, **kwargs)

    monkeypatch.setattr(HfApi, "create_commit", commit_with_a_concurrent_edit)
    push(Dataset.from_dict(TEST), hub_repo_id, split="test", card=make_card("test"))

    repo = hub.repo(hub_repo_id)
    assert [c.title for c in repo.log()][:2] == ["Publish curated split(s) test with hf_select", "Edit README"]
    text = repo.head().text("README.md")
    assert "A hand-written note." in text and section("train") in text and section("test") in text


def test_push_keeps_the_yaml_comments_a_person_wrote_on_the_hub(hub: HubServer, hub_repo_id: str) -> None:
    """The card on the Hub is edited, not regenerated: a YAML comment and a gated-access field a person added
    survive publishing another split, line for line (#32)."""
    push(Dataset.from_dict(TRAIN), hub_repo_id, split="train", card=make_card("train"))
    readme = (
        hub.repo(hub_repo_id)
        .head()
        .text("README.md")
        .replace("---\n", "---\n# curated by the data team\nextra_gated_prompt: Agree first  # legal\n", 1)
    )
    HfApi().create_commit(
        hub_repo_id,
        repo_type="dataset",
        commit_message="Edit README",
        operations=[CommitOperationAdd("README.md", readme.encode())],
    )
    push(Dataset.from_dict(TEST), hub_repo_id, split="test", card=make_card("test"))
    text = hub.repo(hub_repo_id).head().text("README.md")
    assert "# curated by the data team\nextra_gated_prompt: Agree first  # legal\n" in text
    assert section("train") in text and section("test") in text
    assert list(load_dataset(hub_repo_id, download_mode=FRESH)) == ["train", "test"]


# ------------------------------------------------------------------------------------------------ push_folder


def test_push_folder_round_trip(hub: HubServer, hub_repo_id: str, tmp_path: Path) -> None:
    folder = tmp_path / "curated"
    write_local(
        Dataset.from_dict(TRAIN),
        folder,
        split="train",
        card=make_card("train"),
        images={"images/train_scores.png": PNG_TRAIN},
    )
    write_local(
        Dataset.from_dict(TEST),
        folder,
        split="test",
        card=make_card("test"),
        images={"images/test_scores.png": PNG_TEST},
    )

    push_folder(folder, hub_repo_id)

    loaded = load_dataset(hub_repo_id, download_mode=FRESH)
    assert loaded["train"].to_dict() == TRAIN and loaded["test"].to_dict() == TEST
    repo = hub.repo(hub_repo_id)
    titles = [c.title for c in repo.log()]
    assert titles == ["Publish curated split(s) train, test with hf_select", "initial commit"]
    remote = {path: f.content for path, f in repo.head().files.items() if path != ".gitattributes"}
    assert remote == snapshot(folder)  # what was checked locally is exactly what got published
    card = DatasetCard.load(hub_repo_id)
    assert section("train") in card.text and section("test") in card.text


def _published_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "curated"
    write_local(
        Dataset.from_dict(TRAIN),
        folder,
        split="train",
        card=make_card("train"),
        images={"images/train_scores.png": PNG_TRAIN, "viewer/train/index.html": b"<html></html>"},
    )
    return folder


def test_push_folder_publishes_only_the_files_hf_select_wrote(hub: HubServer, hub_repo_id: str, tmp_path: Path) -> None:
    """A person's file and a link to a secret placed in viewer/ stay local (#29); what hf_select wrote goes up."""
    folder = _published_folder(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("HF_TOKEN=hf_fake_key")
    (folder / "viewer" / "train" / "notes.txt").write_text("my own notes")
    (folder / "viewer" / "train" / "key.js").symlink_to(secret)
    (folder / "images" / "linked.png").symlink_to(secret)
    push_folder(folder, hub_repo_id)
    remote = hub.repo(hub_repo_id).head().files
    assert "viewer/train/index.html" in remote and "images/train_scores.png" in remote
    assert not {"viewer/train/notes.txt", "viewer/train/key.js", "images/linked.png"} & set(remote)
    assert not any(b"hf_fake_key" in f.content for f in remote.values())


@pytest.mark.parametrize("case", ["data outside", "edited viewer file", "linked data file", "linked folder"])
def test_push_folder_refuses_before_the_repo_is_created(case, hub: HubServer, hub_repo_id: str, tmp_path: Path) -> None:
    """Every check passes before anything reaches the Hub: no repo is created for a refused push (#32)."""
    folder = _published_folder(tmp_path)
    private = tmp_path / "private"
    private.mkdir()
    (private / "train-0.parquet").write_bytes(b"PAR1 secret rows")
    if case == "data outside":  # a person edited the README's data_files
        readme = folder / "README.md"
        readme.write_text(readme.read_text().replace("path: data/train-*", "path: ../private/train-*"))
        match = "names data files outside the folder"
    elif case == "edited viewer file":
        (folder / "viewer" / "train" / "index.html").write_text("<script>fetch('https://example.org')</script>")
        match = "was changed after hf_select wrote it"
    elif case == "linked data file":
        data = next((folder / "data").glob("train-*"))
        data.unlink()
        data.symlink_to(private / "train-0.parquet")
        match = "is a link or lies outside the folder"
    else:
        (folder / "viewer").rename(tmp_path / "viewer-elsewhere")
        (folder / "viewer").symlink_to(tmp_path / "viewer-elsewhere")
        match = "is a link or lies outside the folder"
    with pytest.raises(OutputError, match=match):
        push_folder(folder, hub_repo_id)
    assert not hub.has_repo(hub_repo_id)


# ------------------------------------------------------------------------------------------------ schemas


def _more_columns(rows: dict) -> dict:
    return {**rows, "extra_score": [0.0] * len(rows["prompt"])}


def test_republishing_a_split_with_more_columns_stays_loadable(
    hub: HubServer, hub_repo_id: str, tmp_path: Path
) -> None:
    """The same recipe plus one more score, republished: the README's features follow the data."""
    folder = tmp_path / "curated"
    for rows in (TRAIN, _more_columns(TRAIN)):
        write_local(Dataset.from_dict(rows), folder, split="train", card=make_card("train"))
        push(Dataset.from_dict(rows), hub_repo_id, split="train", card=make_card("train"))
        assert load_dataset(str(folder), split="train", download_mode=FRESH).to_dict() == rows
        assert load_dataset(hub_repo_id, split="train", download_mode=FRESH).to_dict() == rows


def test_two_schemas_live_in_two_configs(hub: HubServer, hub_repo_id: str, tmp_path: Path) -> None:
    """One config holds one schema: a split with other columns is refused there before anything is written,
    and lands in a config of its own; every split then loads with its own features."""
    folder = tmp_path / "curated"
    write_local(Dataset.from_dict(TRAIN), folder, split="train", card=make_card("train"))
    push(Dataset.from_dict(TRAIN), hub_repo_id, split="train", card=make_card("train"))
    before, head = snapshot(folder), hub.repo(hub_repo_id).head().oid
    wide = Dataset.from_dict(_more_columns(TEST))
    with pytest.raises(SchemaError, match="one config holds one schema"):
        write_local(wide, folder, split="test", card=make_card("test"))
    with pytest.raises(SchemaError, match="one config holds one schema"):
        push(wide, hub_repo_id, split="test", card=make_card("test"))
    assert snapshot(folder) == before and hub.repo(hub_repo_id).head().oid == head

    write_local(wide, folder, split="test", card=make_card("scored/test"), config_name="scored")
    push(wide, hub_repo_id, split="test", card=make_card("scored/test"), config_name="scored")
    assert "<!-- hf_select:split=scored/test -->" in (folder / "README.md").read_text()
    for where in (str(folder), hub_repo_id):
        assert load_dataset(where, split="train", download_mode=FRESH).to_dict() == TRAIN
        assert load_dataset(where, "scored", split="test", download_mode=FRESH).to_dict() == _more_columns(TEST)


def test_private_on_an_existing_public_repo_is_refused(
    hub: HubServer, hub_repo_id: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    push(Dataset.from_dict(TRAIN), hub_repo_id, split="train", card=make_card("train"))
    head = hub.repo(hub_repo_id).head().oid
    with pytest.raises(PublishError, match="exists and is public"):
        push(Dataset.from_dict(TEST), hub_repo_id, split="test", card=make_card("test"), private=True)
    folder = tmp_path / "curated"
    write_local(Dataset.from_dict(TEST), folder, split="test", card=make_card("test"))
    from hf_select.cli import main

    capsys.readouterr()
    assert main(["push", str(folder), hub_repo_id, "--private"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists and is public" in err
    assert hub.repo(hub_repo_id).head().oid == head and not hub.repo(hub_repo_id).private


def test_hub_failures_are_one_line(hub: HubServer, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "curated"
    write_local(Dataset.from_dict(TRAIN), folder, split="train", card=make_card("train"))
    from hf_select.cli import main

    capsys.readouterr()
    hub.stop()
    try:
        assert main(["push", str(folder), f"{hub.username}/unreachable"]) == 2
    finally:
        hub.start()
    err = capsys.readouterr().err
    assert err.startswith("hf-select push: error: publishing to") and err.count("\n") == 1
    assert main(["push", str(tmp_path / "missing"), f"{hub.username}/x"]) == 2
    err = capsys.readouterr().err
    assert "No such folder" in err and "Hub" not in err


def test_push_and_write_local_build_the_card_from_the_data_when_none_is_given(
    hub: HubServer, hub_repo_id: str, tmp_path: Path
) -> None:
    from hf_select.metadata import record_score

    ds = Dataset.from_dict(TRAIN)
    record_score(
        ds,
        "toy",
        {"score": "toy", "model": "m"},
        {"score": {"score": "toy", "higher_is_better": True, "definition": "a toy"}},
        {"explanation": "A toy explanation.", "citation": "", "fields": {"score": "a toy"}},
    )
    push(ds, hub_repo_id, split="train")
    card = DatasetCard.load(hub_repo_id)
    assert f'load_dataset("{hub_repo_id}", split="train")' in card.text and "<this-repo>" not in card.text
    assert "A toy explanation." in card.text and "| `score` | float64 | a toy |" in card.text
    assert card.data.size_categories == ["n<1K"]
    write_local(ds, tmp_path / "curated", split="train")
    assert "A toy explanation." in (tmp_path / "curated" / "README.md").read_text()
