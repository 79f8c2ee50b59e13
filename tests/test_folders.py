"""hf_select never rebuilds, moves or deletes a folder or file that is not entirely its own: a stranger's
file, an edited card, a symlink, the source itself, whatever spelling reaches it."""

from __future__ import annotations

import json
import multiprocessing
import os
import textwrap
from pathlib import Path

import pytest
from datasets import Dataset, DownloadMode, load_dataset
from huggingface_hub import DatasetCard, HfApi
from huggingface_hub.errors import RepositoryNotFoundError

from hf_select import outputs
from hf_select.cli import main
from hf_select.errors import ConfigError, OutputError, PublishError
from hf_select.hub import push, push_folder, write_local
from hf_select.runner import run_recipe_file

FRESH = DownloadMode.FORCE_REDOWNLOAD
ROWS = {"prompt": ["1+1", "2+2"], "response": ["It is 2.", "It is 4."], "score": [0.5, 0.25]}


def _card(key: str) -> DatasetCard:
    return DatasetCard(
        f"---\nlicense: mit\n---\n<!-- hf_select:split={key} -->\n## {key}\n<!-- /hf_select:split={key} -->\n"
    )


def _write(folder, split="train", **kwargs):
    return write_local(Dataset.from_dict(ROWS), folder, split=split, card=_card(split), **kwargs)


# -- 1. never rebuild a folder that is not entirely yours ----------------------------------------------------------
def test_a_file_another_program_writes_meanwhile_is_kept(tmp_path, monkeypatch):
    folder = tmp_path / "out"
    _write(folder)
    import hf_select.hub

    real = hf_select.hub.write_parquet_shards

    def meanwhile(*args, **kwargs):  # a logger writes into the folder while hf_select writes its split
        (folder / "logs").mkdir()
        (folder / "logs" / "run.log").write_text("step 1\n")
        return real(*args, **kwargs)

    monkeypatch.setattr(hf_select.hub, "write_parquet_shards", meanwhile)
    _write(folder, "test")
    assert (folder / "logs" / "run.log").read_text() == "step 1\n"
    assert sorted(load_dataset(str(folder), download_mode=FRESH)) == ["test", "train"]


def test_the_folder_keeps_its_inode_mode_and_the_folders_inside_it(tmp_path, monkeypatch):
    folder = tmp_path / "out"
    folder.mkdir(mode=0o750)
    os.chmod(folder, 0o750)
    (folder / "volume").mkdir()
    (folder / "volume" / "big.bin").write_bytes(b"on another disk")
    before = folder.stat()
    volume = (folder / "volume").stat().st_ino
    real_ismount = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == folder / "volume" or real_ismount(p))
    _write(folder, overwrite=True)
    _write(folder, "test")
    after = folder.stat()
    assert (after.st_ino, after.st_mode, after.st_uid) == (before.st_ino, before.st_mode, before.st_uid)
    assert (folder / "volume").stat().st_ino == volume and (
        folder / "volume" / "big.bin"
    ).read_bytes() == b"on another disk"  # a volume mounted inside is never read, copied or emptied
    (folder / "images").mkdir()
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == folder / "images" or real_ismount(p))
    with pytest.raises(OutputError, match="mount point"):
        write_local(
            Dataset.from_dict(ROWS),
            folder,
            split="train",
            card=_card("train"),
            images={"images/train_scores.png": b"png"},
        )


def _write_rounds(folder: str, split: str, rounds: int, cache: str) -> None:
    os.environ["HF_SELECT_CACHE"] = cache  # each writer has a cache of its own: the lock is beside the data
    for _ in range(rounds):
        _write(folder, split)


def test_writers_by_other_paths_and_caches_take_the_same_lock(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "alias")
    by_path = [str(tmp_path / "real" / "out"), str(tmp_path / "alias" / "out")]
    context = multiprocessing.get_context("fork")
    for attempt in range(3):
        workers = [
            context.Process(target=_write_rounds, args=(path, split, 2, str(tmp_path / f"cache-{split}")))
            for path, split in zip(by_path, ("a", "b"), strict=True)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
            assert worker.exitcode == 0
        assert sorted(load_dataset(by_path[0], download_mode=FRESH)) == ["a", "b"], attempt


def test_the_card_a_person_edited_is_merged_into_and_keeps_their_yaml_comments(tmp_path):
    """The README is the one file people are meant to edit: a YAML comment, a gated-access field and notes outside
    the markers survive a rewrite of the split, without --overwrite (#32); any other file hf_select wrote and a
    person changed is still replaced only with overwrite."""
    folder = tmp_path / "out"
    _write(folder)
    readme = folder / "README.md"
    text = readme.read_text().replace("---\n", "---\n# reviewed by the data team, do not drop\n", 1)
    text = text.replace("---\n", "---\nextra_gated_prompt: Agree to the terms first  # legal asked\n", 1)
    readme.write_text(text + "\nMy own note about this split.\n")
    _write(folder)  # no overwrite needed: merged into
    merged = readme.read_text()
    assert "# reviewed by the data team, do not drop\n" in merged
    assert "extra_gated_prompt: Agree to the terms first  # legal asked\n" in merged
    assert "My own note about this split." in merged and "## train" in merged
    assert DatasetCard(merged).data.extra_gated_prompt == "Agree to the terms first"
    _write(folder, split="test")  # another split's section and configs entry land, the person's lines stay
    again = readme.read_text()
    assert "# reviewed by the data team" in again and "My own note" in again and "## test" in again
    data = next((folder / "data").glob("train-*"))
    data.write_bytes(data.read_bytes() + b" ")
    with pytest.raises(OutputError, match="was written by hf_select but has been changed since"):
        _write(folder)
    _write(folder, overwrite=True)


@pytest.mark.parametrize("place", ["/", "~", "/etc/hf_select_out", "/usr/local/out", "/var", "mount", "model"])
def test_places_refused_even_with_overwrite(place, tmp_path, monkeypatch, tiny_root):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    target = {
        "~": str(tmp_path / "home"),
        "mount": str(tmp_path / "disk"),
        "model": str(tiny_root / "llama" / "scores"),
    }.get(place, place)
    if place == "mount":
        (tmp_path / "disk").mkdir()
        real = os.path.ismount
        monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == tmp_path / "disk" or real(p))
    inside = [tiny_root / "llama"] if place == "model" else []
    with pytest.raises(OutputError, match="system folder|mount point|model folder"):
        outputs.check_output(target, overwrite=True, inside_of=inside)
    if place != "model":
        with pytest.raises(OutputError):
            _write(target, overwrite=True)
    data = tmp_path / "rows.jsonl"
    Dataset.from_dict(ROWS).to_json(data)
    if place == "model":  # the CLI knows its model's folder
        assert main(["score", str(data), "--model", str(tiny_root / "llama"), "--out", target, "--overwrite"]) == 2


def test_config_names_and_two_configs_train_splits(tmp_path, strict_hub, hub_repo_id):
    for bad in ("data", "a*b", "x/y", "[x]", " padded"):
        with pytest.raises(ConfigError, match="Invalid config name"):
            write_local(Dataset.from_dict(ROWS), tmp_path / "bad", split="train", card=_card("train"), config_name=bad)
    assert not (tmp_path / "bad").exists()
    folder = tmp_path / "out"
    for config in ("alpha", "beta"):
        rows = Dataset.from_dict({**ROWS, "score": [1.0, 2.0] if config == "beta" else ROWS["score"]})
        write_local(
            rows,
            folder,
            split="train",
            card=_card(f"{config}/train"),
            config_name=config,
            images={f"images/{config}-train_scores.png": config.encode()},
        )
        push(
            rows,
            hub_repo_id,
            split="train",
            card=_card(f"{config}/train"),
            config_name=config,
            images={f"images/{config}-train_scores.png": config.encode()},
        )
    for where in (str(folder), hub_repo_id):
        assert load_dataset(where, "alpha", split="train", download_mode=FRESH)["score"] == ROWS["score"]
        assert load_dataset(where, "beta", split="train", download_mode=FRESH)["score"] == [1.0, 2.0]
    card = (folder / "README.md").read_text()
    assert "hf_select:split=alpha/train" in card and "hf_select:split=beta/train" in card
    assert (folder / "images" / "alpha-train_scores.png").read_bytes() == b"alpha"


def test_push_publishes_only_folders_hf_select_wrote_and_never_over_their_source(tmp_path, strict_hub):
    user = strict_hub.username
    mine = tmp_path / "mine"
    (mine / "data").mkdir(parents=True)
    (mine / "README.md").write_text("---\nlicense: mit\n---\nmy notes\n")
    with pytest.raises(OutputError, match="not a folder hf_select wrote"):
        push_folder(mine, f"{user}/anything")
    folder = tmp_path / "out"
    _write(folder, sources=[f"{user}/the-source"])
    assert json.loads((folder / outputs.MANIFEST).read_text())["sources"] == [f"{user}/the-source"]
    with pytest.raises(PublishError, match="is the source dataset"):
        push_folder(folder, f"{user}/the-source")
    with pytest.raises(RepositoryNotFoundError):  # nothing was created on the Hub before the refusal
        HfApi().repo_info(f"{user}/the-source", repo_type="dataset")


def test_a_file_url_spelling_of_the_source_is_refused_as_the_plain_path_is(tmp_path, tiny_root, no_model_loads):
    data = tmp_path / "rows" / "traces.jsonl"
    data.parent.mkdir()
    Dataset.from_dict(ROWS).to_json(data)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        textwrap.dedent(f"""\
        name: url
        dataset: {{path: "file://{data}"}}
        models: {{student: {{name_or_path: {tiny_root / "llama"}}}}}
        scores: [{{type: global_naturalness}}]
        select: {{method: none}}
        output: {{dir: {data.parent}, overwrite: true}}
        """)
    )
    with pytest.raises(OutputError, match="overlaps the source data"):
        run_recipe_file(str(recipe), push=False)
