"""No setting is ignored, and every refusal comes before any scoring, in one line."""

from __future__ import annotations

import errno
import json
import textwrap

import pytest
from datasets import Dataset, DownloadMode, load_dataset
from huggingface_hub import DatasetCard

from hf_select import GlobalNaturalness, LocalNaturalness, ScoringInputError, outputs
from hf_select.cli import main
from hf_select.errors import ConfigError, OutputError, RecipeError
from hf_select.hub import write_local
from hf_select.models import ModelConfig
from hf_select.recipes import load_recipe
from hf_select.runner import run_recipe_file
from hf_select.sources import builtin_data_path, load_source

FRESH = DownloadMode.FORCE_REDOWNLOAD
ROWS = {"prompt": ["1+1", "2+2"], "response": ["It is 2.", "It is 4."], "score": [0.5, 0.25]}


def _card(key: str) -> DatasetCard:
    return DatasetCard(
        f"---\nlicense: mit\n---\n<!-- hf_select:split={key} -->\n## {key}\n<!-- /hf_select:split={key} -->\n"
    )


def _write(folder, split="train", **kwargs):
    return write_local(Dataset.from_dict(ROWS), folder, split=split, card=_card(split), **kwargs)


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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--limit", "0"], "must be a positive number of rows"),
        (["--limit", "-3"], "must be a positive number of rows"),
        (["--scores", "global", "--window", "3"], "--window is an option of --scores local"),
        (["--revision", "v2"], "revision applies to Hub models"),
        (["--gguf-file", "other.gguf", "--model", "__GGUF__"], "disagrees with the file"),
        (["--device", "cuda"], "no CUDA GPU"),
        (["--device", "tpu"], "device must be cpu, cuda"),
    ],
)
def test_cli_settings_that_would_be_ignored_are_one_line_errors(
    args, message, local_data, tiny_root, tmp_path, capsys, no_model_loads
):
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


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("scores.0.splitter=line|scores.0.max_step_tokens=40", "max_step_tokens applies to the paragraph splitter"),
        ("scores.0.layout=chat", "layout applies with include_prompt=True only"),
        ("scores.0.max_step_tokens=0", "max_step_tokens must be a positive int, not 0"),  # once read as "unset"
        ("rank_teachers={by: [local_naturalness], seed: 3}", "`rank_teachers.seed` applies to the bootstrap only"),
        ("rank_teachers={by: [local_naturalness], group: prompt}", "`rank_teachers.group` applies to the bootstrap"),
        ("output.private=true", "`output.private` applies when publishing"),
        ("output.branch=dev", "`output.branch` applies when publishing"),
        ("dataset.name=main", "`name` applies to Hub datasets and builders only"),
    ],
)
def test_recipe_settings_without_effect_are_errors_before_any_model_loads(
    edit, message, local_data, tiny_root, tmp_path, no_model_loads
):
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
    cases = [
        (f"output.dir={tmp_path / 'a-file' / 'out'}", "is a file, not a folder"),
        ("output.split=" + "s" * 300, "longer than this filesystem allows"),
    ]
    for edit, message in cases:
        with pytest.raises(OutputError, match=message):
            run_recipe_file(str(recipe), [edit], push=False)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / outputs.MANIFEST).write_text(json.dumps({"written_by": "hf_select", "files": {}}))
    for readme, message in (
        (b"\xff\xfe not utf-8", "UnicodeDecodeError"),
        (b"---\n: [bad yaml\n---\n", "Error"),
        (b"<!-- hf_select:split=train -->\nno end\n", "never closed"),
    ):
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


@pytest.mark.parametrize(
    "case", ["not-utf8", "folder", "not-a-model", "empty-model-folder", "malformed-data", "empty-data", "alias-bomb"]
)
def test_mistakes_are_one_short_line_with_exit_2(case, recipe, local_data, tiny_root, tmp_path, capsys, no_model_loads):
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
