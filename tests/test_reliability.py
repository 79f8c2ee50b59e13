"""Reliability, round 3: hf_select never rebuilds a folder that is not entirely its own, no setting is ignored,
and every refusal comes before any scoring, in one line. (Exactness across architectures: test_architectures.py.)"""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import textwrap
from pathlib import Path

import pytest
from datasets import Dataset, DownloadMode, load_dataset
from huggingface_hub import DatasetCard, HfApi
from huggingface_hub.errors import RepositoryNotFoundError

from hf_select import GlobalNaturalness, LocalNaturalness, ScoringInputError, outputs
from hf_select.cli import main
from hf_select.errors import ConfigError, OutputError, PublishError, RecipeError
from hf_select.hub import push, push_folder, write_local
from hf_select.models import ModelConfig, load_model
from hf_select.recipes import load_recipe
from hf_select.runner import run_recipe_file
from hf_select.sources import builtin_data_path, load_source

FRESH = DownloadMode.FORCE_REDOWNLOAD
ROWS = {"prompt": ["1+1", "2+2"], "response": ["It is 2.", "It is 4."], "score": [0.5, 0.25]}


def _card(key: str) -> DatasetCard:
    return DatasetCard(f"---\nlicense: mit\n---\n<!-- hf_select:split={key} -->\n## {key}\n"
                       f"<!-- /hf_select:split={key} -->\n")


def _write(folder, split="train", **kwargs):
    return write_local(Dataset.from_dict(ROWS), folder, split=split, card=_card(split), **kwargs)


@pytest.fixture
def no_model_loads(monkeypatch):
    from transformers import AutoModelForCausalLM

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the mistake was found")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", refuse)


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
    assert (folder / "volume").stat().st_ino == volume and (folder / "volume" / "big.bin").read_bytes() == \
        b"on another disk"  # a volume mounted inside is never read, copied or emptied
    (folder / "images").mkdir()
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == folder / "images" or real_ismount(p))
    with pytest.raises(OutputError, match="mount point"):
        write_local(Dataset.from_dict(ROWS), folder, split="train", card=_card("train"),
                    images={"images/train_scores.png": b"png"})


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
        workers = [context.Process(target=_write_rounds, args=(path, split, 2, str(tmp_path / f"cache-{split}")))
                   for path, split in zip(by_path, ("a", "b"), strict=True)]
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
    target = {"~": str(tmp_path / "home"), "mount": str(tmp_path / "disk"),
              "model": str(tiny_root / "llama" / "scores")}.get(place, place)
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
        write_local(rows, folder, split="train", card=_card(f"{config}/train"), config_name=config,
                    images={f"images/{config}-train_scores.png": config.encode()})
        push(rows, hub_repo_id, split="train", card=_card(f"{config}/train"), config_name=config,
             images={f"images/{config}-train_scores.png": config.encode()})
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
    recipe.write_text(textwrap.dedent(f"""\
        name: url
        dataset: {{path: "file://{data}"}}
        models: {{student: {{name_or_path: {tiny_root / 'llama'}}}}}
        scores: [{{type: global_naturalness}}]
        select: {{method: none}}
        output: {{dir: {data.parent}, overwrite: true}}
        """))
    with pytest.raises(OutputError, match="overlaps the source data"):
        run_recipe_file(str(recipe), push=False)


# -- 2. no stale build, and a model is its own files -------------------------------------------------------------
def test_a_local_data_file_changed_at_the_same_size_and_mtime_is_read_again(tmp_path):
    data = tmp_path / "rows.jsonl"
    data.write_text('{"prompt": "1+1", "response": "2"}\n')
    stat = data.stat()
    assert load_source(str(data))["response"] == ["2"]
    data.write_text('{"prompt": "1+1", "response": "3"}\n')  # same size
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same modification time
    assert load_source(str(data))["response"] == ["3"]


def test_scores_computed_in_python_are_reused_by_a_recipe_on_the_same_file(tiny_root, llama, tmp_path, monkeypatch):
    """Same file, score and student: one cache key, whichever entry point computed it first (#29: `hf-select run`
    rebuilt a file hf_select had not loaded itself, which deleted `datasets`' maps cached beside the build). A
    rewrite that changes the modification time is still read again."""
    from hf_select import score
    from hf_select.engine import ScoringEngine

    data = tmp_path / "rows.jsonl"
    Dataset.from_list([{"prompt": f"{i} + {i}?", "response": f"It is {2 * i}."} for i in range(6)]).to_json(data)
    score(load_dataset("json", data_files=str(data), split="train"), LocalNaturalness(llama))
    calls = []
    original = ScoringEngine.score
    monkeypatch.setattr(ScoringEngine, "score", lambda self, requests, **kw: calls.append(1) or original(
        self, requests, **kw))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(textwrap.dedent(f"""\
        name: reuse
        dataset: {{path: {data}}}
        models: {{student: {{name_or_path: {tiny_root / 'llama'}}}}}
        scores: [{{type: local_naturalness, model: student}}]
        select: {{method: none}}
        output: {{dir: {tmp_path / 'out'}}}
        """))
    run_recipe_file(str(recipe), push=False)
    assert calls == []  # served from the scores Python computed
    Dataset.from_list([{"prompt": "7 + 7?", "response": "It is 14."}]).to_json(data)
    os.utime(data, (data.stat().st_atime + 5, data.stat().st_mtime + 5))
    assert load_source(str(data))["response"] == ["It is 14."]


def test_file_digests_notice_a_rewrite_and_keep_one_small_entry_per_large_file(tmp_path, monkeypatch):
    """Digests of large files are memoised one entry per file (a single shared file, read and rewritten whole on
    every call, made writing a 10,000-prompt viewer take 50 s instead of 10); a rewrite that keeps the size and
    modification time is still noticed (the change time moves)."""
    from hf_select.digests import MEMO_BYTES, file_digests

    monkeypatch.setenv("HF_SELECT_CACHE", str(tmp_path / "cache"))
    big = tmp_path / "weights.bin"
    big.write_bytes(b"a" * MEMO_BYTES)
    first = file_digests(big)
    assert file_digests(big) == first
    stat = big.stat()
    big.write_bytes(b"b" * MEMO_BYTES)
    os.utime(big, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_digests(big)["sha256"] != first["sha256"]
    for i in range(50):  # small files are hashed, never memoised
        (tmp_path / f"page-{i}.js").write_text(f"page {i}")
        file_digests(tmp_path / f"page-{i}.js")
    assert [p.suffix for p in (tmp_path / "cache" / "digests").iterdir()] == [".json"]


def test_a_models_identity_is_its_own_files_not_its_folder(tiny_root, tmp_path):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_root / "llama", folder)
    identity = load_model(str(folder), lazy=True).identity
    (folder / "README.md").write_text("# my notes on this model\n")
    (folder / "eval").mkdir()
    (folder / "eval" / "results.csv").write_text("step,loss\n")
    assert load_model(str(folder), lazy=True).identity == identity
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": 77}))
    assert load_model(str(folder), lazy=True).identity != identity


# -- 3. no setting ignored ---------------------------------------------------------------------------------------
@pytest.fixture
def local_data(tmp_path):
    rows = load_dataset("json", data_files=builtin_data_path("hf_select:math_teachers"), split="train")
    data = tmp_path / "traces.jsonl"
    rows.select(range(8)).to_json(data)
    saved = tmp_path / "saved"
    rows.select(range(8)).save_to_disk(str(saved))
    return data, saved


def test_source_settings_that_would_be_ignored_are_errors(local_data):
    data, saved = local_data
    for kwargs in ({"name": "main"}, {"data_files": "x.jsonl"}, {"revision": "v2"}):
        for path in (data, saved):
            with pytest.raises(ConfigError, match=f"`{next(iter(kwargs))}` applies to Hub datasets"):
                load_source(str(path), **kwargs)
    with pytest.raises(Exception, match="holds one dataset, not splits"):
        load_source(str(saved), split="test")
    with pytest.raises(Exception, match="test"):
        load_source(str(data), split="test")


@pytest.mark.parametrize(("args", "message"), [
    (["--limit", "0"], "must be a positive number of rows"),
    (["--limit", "-3"], "must be a positive number of rows"),
    (["--scores", "global", "--window", "3"], "--window is an option of --scores local"),
    (["--revision", "v2"], "revision applies to Hub models"),
    (["--gguf-file", "other.gguf", "--model", "__GGUF__"], "disagrees with the file"),
    (["--device", "cuda"], "no CUDA GPU"),
    (["--device", "tpu"], "device must be cpu, cuda"),
])
def test_cli_settings_that_would_be_ignored_are_one_line_errors(args, message, local_data, tiny_root, tmp_path,
                                                                  capsys, no_model_loads):
    data, _ = local_data
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    args = [str(gguf) if a == "__GGUF__" else a for a in args]
    model = [] if "--model" in args else ["--model", str(tiny_root / "llama")]
    assert main(["score", str(data), *model, "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and not (tmp_path / "o").exists()


RECIPE = """\
    name: checks
    dataset: {{path: {data}}}
    models: {{student: {{name_or_path: {model}}}}}
    scores:
      - type: local_naturalness
    select: {{method: none}}
    output: {{dir: {out}}}
    """


@pytest.mark.parametrize(("edit", "message"), [
    ("scores.0.splitter=line|scores.0.max_step_tokens=40", "max_step_tokens applies to the paragraph splitter"),
    ("scores.0.layout=chat", "layout applies with include_prompt=True only"),
    ("scores.0.max_step_tokens=0", "max_step_tokens must be a positive int, not 0"),  # once read as "unset"
    ("rank_teachers={by: [local_naturalness], seed: 3}", "`rank_teachers.seed` applies to the bootstrap only"),
    ("rank_teachers={by: [local_naturalness], group: prompt}", "`rank_teachers.group` applies to the bootstrap"),
    ("output.private=true", "`output.private` applies when publishing"),
    ("output.branch=dev", "`output.branch` applies when publishing"),
    ("dataset.name=main", "`name` applies to Hub datasets and builders only"),
])
def test_recipe_settings_without_effect_are_errors_before_any_model_loads(edit, message, local_data, tiny_root,
                                                                           tmp_path, no_model_loads):
    data, _ = local_data
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(textwrap.dedent(RECIPE.format(data=data, model=tiny_root / "llama", out=tmp_path / "out")))
    with pytest.raises((RecipeError, ConfigError)) as raised:
        run_recipe_file(str(recipe), edit.split("|"), push=False)
    assert message in str(raised.value)


def test_keys_given_twice_are_an_error_naming_both_lines(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("name: twice\ndataset: {path: hf_select:math_teachers}\nname: again\n")
    with pytest.raises(RecipeError, match=r"recipe.yaml:3: key `name` is given twice \(lines 1 and 3\)"):
        load_recipe(recipe)


# -- 4. every refusal before scoring, in one line ----------------------------------------------------------------
@pytest.fixture
def recipe(local_data, tiny_root, tmp_path):
    data, _ = local_data
    path = tmp_path / "recipe.yaml"
    path.write_text(textwrap.dedent(RECIPE.format(data=data, model=tiny_root / "llama", out=tmp_path / "out")))
    return path


def test_output_refusals_come_before_any_model_loads(recipe, tmp_path, monkeypatch, no_model_loads):
    (tmp_path / "a-file").write_text("x")
    cases = [(f"output.dir={tmp_path / 'a-file' / 'out'}", "is a file, not a folder"),
             ("output.split=" + "s" * 300, "longer than this filesystem allows")]
    for edit, message in cases:
        with pytest.raises(OutputError, match=message):
            run_recipe_file(str(recipe), [edit], push=False)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / outputs.MANIFEST).write_text(json.dumps({"written_by": "hf_select", "files": {}}))
    for readme, message in ((b"\xff\xfe not utf-8", "UnicodeDecodeError"), (b"---\n: [bad yaml\n---\n", "Error"),
                            (b"<!-- hf_select:split=train -->\nno end\n", "never closed")):
        (tmp_path / "out" / "README.md").write_bytes(readme)  # someone's README, to merge into with --overwrite
        with pytest.raises(OutputError, match=f"not a README hf_select can merge into.*{message}"):
            run_recipe_file(str(recipe), ["output.overwrite=true"], push=False)
    (tmp_path / "out" / "README.md").unlink()
    import tempfile as tempfile_module

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile_module, "NamedTemporaryFile", read_only)
    with pytest.raises(OutputError, match="is not writable"):
        run_recipe_file(str(recipe), push=False)


def test_a_full_disk_mid_write_keeps_the_previous_output_and_says_so_in_one_line(tmp_path, monkeypatch):
    folder = tmp_path / "out"
    _write(folder)
    before = {p.name: p.read_bytes() for p in (folder / "data").iterdir()}

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Dataset, "to_parquet", full)
    with pytest.raises(OutputError, match="no space left while writing .*nothing of the previous output was"):
        _write(folder, "test")
    assert {p.name: p.read_bytes() for p in (folder / "data").iterdir()} == before


@pytest.mark.parametrize("case", ["not-utf8", "folder", "not-a-model", "empty-model-folder", "malformed-data",
                                  "empty-data", "alias-bomb"])
def test_mistakes_are_one_short_line_with_exit_2(case, recipe, local_data, tiny_root, tmp_path, capsys,
                                                 no_model_loads):
    data, _ = local_data
    out = ["--set", f"output.dir={tmp_path / 'o'}"]
    if case == "not-utf8":
        bad = tmp_path / "bad.yaml"
        bad.write_bytes(b"name: x\n\xff\xfe")
        args = ["run", str(bad)]
    elif case == "folder":
        args = ["run", str(tmp_path)]
    elif case in ("not-a-model", "empty-model-folder"):
        model = tmp_path / ("notes.txt" if case == "not-a-model" else "empty")
        model.write_text("hi") if case == "not-a-model" else model.mkdir()
        args = ["score", str(data), "--model", str(model), "--out", str(tmp_path / "o")]
    elif case in ("malformed-data", "empty-data"):
        broken = tmp_path / "broken.jsonl"
        broken.write_text('{"prompt": "a", "response": \n' if case == "malformed-data" else "")
        args = ["run", str(recipe), "--set", f"dataset.path={broken}", *out]
    else:
        bomb = tmp_path / "bomb.yaml"
        levels = "\n".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9))
        bomb.write_text(f"name: bomb\nl0: &l0 [x, x, x, x, x, x, x, x, x]\n{levels}\ndataset: *l8\n")
        args = ["run", str(bomb)]
    assert main(args) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip() and "Generating" not in line]
    assert len(err) == 1 and err[0].startswith("hf-select") and len(err[0]) < 1200, err


def test_text_with_a_lone_surrogate_names_the_row(llama):
    scorer = GlobalNaturalness(llama)
    with pytest.raises(ScoringInputError, match=r"row 1, column 'response': the text holds a lone surrogate"):
        scorer({"prompt": ["1+1", "2+2"], "response": ["It is 2.", "It is \ud800 4."]}, indices=[0, 1])
    out = LocalNaturalness(llama, on_error="nan")({"response": ["It is \ud800 4."]}, indices=[7])
    assert "lone surrogate" in out["hf_select_error"][0]


def test_a_model_config_that_cannot_load_is_refused_at_once():
    with pytest.raises(ConfigError, match="give device or device_map, not both"):
        ModelConfig("smollm2-135m-instruct", device="cpu", device_map="auto")
    with pytest.raises(ConfigError, match="revision applies to Hub models"):
        ModelConfig("smollm2-135m-instruct", revision="main")


@pytest.mark.parametrize("empty", [{"prompt": [], "response": []}, "dict"])
def test_an_empty_saved_dataset_is_a_one_line_error(empty, tiny_root, tmp_path, capsys, no_model_loads):
    """A save_to_disk folder of 0 rows made `datasets` fail with an IndexError traceback (#32)."""
    from datasets import DatasetDict

    rows = Dataset.from_dict({"prompt": [], "response": []})
    (DatasetDict({"train": rows}) if empty == "dict" else rows).save_to_disk(str(tmp_path / "saved"))
    capsys.readouterr()
    code = main(["score", str(tmp_path / "saved"), "--model", str(tiny_root / "llama"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "holds no rows; nothing to curate" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("ending", ["mistake", "bug", "verbose"])
def test_what_datasets_logs_before_a_one_line_error_is_not_a_second_line(ending, monkeypatch, tmp_path):
    """`datasets` logs some failures ("Failed to load JSON from file ...") before raising what hf-select reports in
    one line: the CLI holds the library's error records and drops them then; a bug, or a user who asked datasets
    for more (verbosity info), still sees them."""
    import io
    import logging

    from datasets.utils import logging as datasets_logging

    import hf_select.cli as cli
    from hf_select.errors import DataFormatError

    root = datasets_logging.get_logger("datasets")
    stream = io.StringIO()
    for handler in root.handlers:
        monkeypatch.setattr(handler, "stream", stream)
    if ending == "verbose":
        monkeypatch.setattr(root, "level", logging.INFO)

    def fails(args):
        logging.getLogger("datasets.packaged_modules.json.json").error("Failed to load JSON from file 'x.jsonl'")
        raise RuntimeError("a bug") if ending == "bug" else DataFormatError("cannot read x.jsonl: JSON parse error")

    monkeypatch.setattr(cli, "cmd_score", fails)
    argv = ["score", str(tmp_path / "x.jsonl"), "--model", "m", "--out", str(tmp_path / "o")]
    if ending == "bug":
        with pytest.raises(RuntimeError):
            main(argv)
    else:
        assert main(argv) == 2
    assert ("Failed to load JSON" in stream.getvalue()) == (ending != "mistake")
