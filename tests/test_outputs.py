"""Never lose a user's files: every way hf_select writes a folder (save_to_disk output, the Hub layout of a
curated split, a recipe run, `hf-select score`) refuses folders it did not write, never deletes or writes
through what is not its own, and serialises writers of one folder."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest
from datasets import Dataset, DownloadMode, load_dataset, load_from_disk
from huggingface_hub import DatasetCard

from hf_select import outputs
from hf_select.cli import main
from hf_select.errors import OutputError
from hf_select.hub import write_local
from hf_select.runner import run_recipe_file

FRESH = DownloadMode.FORCE_REDOWNLOAD
ROWS = {"prompt": ["1+1", "2+2"], "response": ["It is 2.", "It is 4."], "score": [0.5, 0.25]}


def _card(split: str) -> DatasetCard:
    return DatasetCard(
        f"---\nlicense: mit\n---\n<!-- hf_select:split={split} -->\n## {split}\n<!-- /hf_select:split={split} -->\n"
    )


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def users_folder(tmp_path: Path) -> Path:
    """A folder of the user's own files, one of them the input data."""
    folder = tmp_path / "mine"
    (folder / "data").mkdir(parents=True)
    Dataset.from_dict(ROWS).to_json(folder / "data" / "traces.jsonl")
    (folder / "README.md").write_text("# My notes\n")
    (folder / "data" / "train-00000-of-00001.parquet").write_bytes(b"my own parquet")
    return folder


def test_score_cli_refuses_a_non_empty_folder_it_did_not_create(users_folder, tiny_root, tmp_path, capsys):
    before = _files(users_folder)
    data = users_folder / "data" / "traces.jsonl"
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("keep me")
    for out in (users_folder, users_folder / "data", other):
        assert main(["score", str(data), "--model", str(tiny_root / "llama"), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err and "refusing to write to" in err
    assert _files(users_folder) == before and (other / "keep.txt").read_text() == "keep me"
    # --overwrite writes into a stranger's folder but keeps every file it does not write.
    assert (
        main(
            [
                "score",
                str(data),
                "--model",
                str(tiny_root / "llama"),
                "--out",
                str(other),
                "--overwrite",
                "--scores",
                "global",
            ]
        )
        == 0
    )
    assert (other / "keep.txt").read_text() == "keep me" and len(load_from_disk(str(other))) == 2
    # --overwrite never allows writing over the input itself.
    assert (
        main(["score", str(data), "--model", str(tiny_root / "llama"), "--out", str(users_folder), "--overwrite"]) == 2
    )
    assert "overlaps the source data" in capsys.readouterr().err and _files(users_folder) == before


def test_its_own_folder_is_rewritten_and_other_files_in_it_survive(tmp_path):
    out = tmp_path / "scored"
    outputs.save_to_disk(Dataset.from_dict(ROWS), out)
    (out / "my_notes.txt").write_text("mine")  # a file the user added to hf_select's folder
    outputs.save_to_disk(Dataset.from_dict({"x": [1, 2, 3]}), out)
    assert load_from_disk(str(out))["x"] == [1, 2, 3] and (out / "my_notes.txt").read_text() == "mine"
    assert "my_notes.txt" not in (out / outputs.MANIFEST).read_text()  # never claimed as its own


def test_recipe_output_dir_refusals(users_folder, tiny_root, tmp_path, monkeypatch, capsys):
    before = _files(users_folder)
    base = [f"models.student.name_or_path={tiny_root / 'llama'}", "dataset.limit=8"]
    # A folder of the user's files.
    assert (
        main(
            [
                "run",
                "local_response_selection",
                *(w for o in [*base, f"output.dir={users_folder}"] for w in ("--set", o)),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "not empty and hf_select did not create it" in err and "--overwrite" in err
    # The working directory (`.`), and a folder that holds it.
    monkeypatch.chdir(users_folder / "data")
    for out in (".", str(users_folder)):
        with pytest.raises(OutputError, match="current working directory"):
            run_recipe_file(
                "local_response_selection", [*base, f"output.dir={out}", "output.overwrite=true"], push=False
            )
    # The source folder itself (a save_to_disk folder the recipe reads), even one hf_select wrote.
    source = tmp_path / "scored"
    outputs.save_to_disk(Dataset.from_dict(ROWS | {"teacher": ["a", "b"], "answer": ["2", "4"]}), source)
    source_before = _files(source)
    with pytest.raises(OutputError, match="overlaps the source data"):
        run_recipe_file(
            "local_response_selection", [*base, f"dataset.path={source}", f"output.dir={source}"], push=False
        )
    assert _files(source) == source_before and _files(users_folder) == before


def test_run_takes_the_overwrite_flag_its_refusal_names(tiny_root, tmp_path, capsys):
    """`hf-select run` said "allow writing into it with --overwrite" and then rejected the flag (#29)."""
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "notes.txt").write_text("a colleague's notes")
    sets = [f"models.student.name_or_path={tiny_root / 'llama'}", "dataset.limit=8", f"output.dir={folder}"]
    args = ["run", "local_response_selection", *(w for o in sets for w in ("--set", o))]
    assert main(args) == 2 and "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    assert (folder / "notes.txt").read_text() == "a colleague's notes" and (folder / "README.md").is_file()


def test_a_linked_data_folder_is_refused_and_nothing_outside_is_touched(tmp_path):
    folder = tmp_path / "curated"
    write_local(Dataset.from_dict(ROWS), folder, split="train", card=_card("train"))
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "train-00000-of-00001.parquet").write_bytes(b"precious")
    (folder / "data" / "train-00000-of-00001.parquet").unlink()
    (folder / "data").rmdir()
    os.symlink(outside, folder / "data")
    with pytest.raises(OutputError, match="symbolic link"):
        write_local(Dataset.from_dict(ROWS), folder, split="train", card=_card("train"))
    assert _files(outside) == {"train-00000-of-00001.parquet": b"precious"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curated", "elsewhere"]
    linked = tmp_path / "link"
    os.symlink(folder, linked)
    with pytest.raises(OutputError, match="symbolic link"):
        write_local(Dataset.from_dict(ROWS), linked, split="train", card=_card("train"))


def test_a_strangers_file_in_the_way_is_never_deleted(tmp_path):
    folder = tmp_path / "curated"
    write_local(Dataset.from_dict(ROWS), folder, split="train", card=_card("train"))
    (folder / "data" / "train-extra.parquet").write_bytes(b"not hf_select's")
    with pytest.raises(OutputError, match="was not written by hf_select"):
        write_local(Dataset.from_dict(ROWS), folder, split="train", card=_card("train"))
    assert (folder / "data" / "train-extra.parquet").read_bytes() == b"not hf_select's"


def test_home_is_expanded_and_a_folder_beside_the_output_is_never_touched(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".curated.hf_select-tmp-deadbeef").mkdir()  # beside the output: not provably hf_select's
    write_local(Dataset.from_dict(ROWS), "~/curated", split="train", card=_card("train"))
    assert (tmp_path / "curated" / "README.md").is_file() and not (tmp_path / "~").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".cache") == [
        ".curated.hf_select-tmp-deadbeef",
        "curated",
    ]


def _write_split(folder: str, split: str, rounds: int) -> None:
    for _ in range(rounds):
        write_local(Dataset.from_dict(ROWS), folder, split=split, card=_card(split))


def test_concurrent_writers_of_one_folder_both_land(tmp_path):
    folder = tmp_path / "curated"
    context = multiprocessing.get_context("fork")
    for attempt in range(4):
        workers = [context.Process(target=_write_split, args=(str(folder), split, 2)) for split in ("a", "b")]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
            assert worker.exitcode == 0
        loaded = load_dataset(str(folder), download_mode=FRESH)
        assert sorted(loaded) == ["a", "b"], attempt
        card = DatasetCard.load(folder / "README.md").text
        assert "hf_select:split=a" in card and "hf_select:split=b" in card


def test_rows_scored_under_different_students_and_concatenated_say_so(llama, gpt2):
    """Two shards scored apart (one per student), concatenated as people merge runs: the metadata and the card
    name both students and say the column's values are comparable only among rows scored alike (#32)."""
    from datasets import concatenate_datasets

    from hf_select import GlobalNaturalness, score
    from hf_select.cards import build_card
    from hf_select.metadata import read_metadata

    rows = [{"prompt": "What is 2 + 2?", "response": "It is 4."}, {"prompt": "Name a colour.", "response": "Red."}]
    first = score(Dataset.from_list(rows), GlobalNaturalness(llama))
    second = score(Dataset.from_list(rows), GlobalNaturalness(gpt2))
    merged = concatenate_datasets([first, second])
    meta = read_metadata(merged)
    models = {c["model"] for c in meta["mixed"]["global_naturalness"]}
    assert models == {llama.name, gpt2.name}
    card = build_card(merged)[0].text
    assert "**Rows scored apart.**" in card and f"`{llama.name}`" in card and f"`{gpt2.name}`" in card
    again = score(merged, GlobalNaturalness(llama, column_suffix="again"))  # scoring on keeps what it knew
    assert {c["model"] for c in read_metadata(again)["mixed"]["global_naturalness"]} == models
    assert "global_naturalness_again" not in read_metadata(again)["mixed"]
    assert read_metadata(concatenate_datasets([first, first]))["mixed"] == {}  # scored alike: nothing to say
