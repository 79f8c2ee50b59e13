"""A recipe is checked completely before any model loads, settings are never quietly ignored or changed, and
cards show the effective recipe without this machine's paths."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest
from datasets import Dataset, load_dataset
from huggingface_hub import DatasetCard

from hf_select import GlobalNaturalness, LocalNaturalness, ScoringInputError, score
from hf_select.cli import main
from hf_select.errors import ConfigError, DataFormatError, MissingColumnError, NotFoundError, PublishError, RecipeError
from hf_select.runner import run_recipe_file
from hf_select.select import filter_equals, filter_quantile, select_by_divergence
from hf_select.sources import builtin_data_path

RECIPE = """\
    # a comment that must not reach the card
    name: checks
    dataset:
      path: {data}
    models:
      student: {{name_or_path: {model}}}
    scores:
      - type: answer_check
      - type: global_naturalness
        model: student
    rank_teachers:
      by: [global_naturalness]
    select:
      by: global_naturalness
      among: is_correct
    output:
      dir: {out}
    """


@pytest.fixture
def recipe_file(tmp_path, tiny_root):
    rows = load_dataset("json", data_files=builtin_data_path("hf_select:math_teachers"), split="train")
    data = tmp_path / "traces.jsonl"
    rows.select(range(8)).to_json(data)
    path = tmp_path / "recipe.yaml"
    path.write_text(textwrap.dedent(RECIPE.format(data=data, model=tiny_root / "llama", out=tmp_path / "out")))
    return path


@pytest.mark.parametrize(
    ("override", "error", "message"),
    [
        ("select.by=global_naturalnes", MissingColumnError, "`select.by` is 'global_naturalnes'"),
        ("rank_teachers.by=[rsr]", MissingColumnError, "`rank_teachers.by.0` is 'rsr'"),
        ("rank_teachers.teacher=model", MissingColumnError, "`rank_teachers.teacher` is 'model'"),
        ("filters=[{column: nope, min: 0}]", MissingColumnError, "`filters.0.column` is 'nope'"),
        ("dataset.columns={answer: gold}", MissingColumnError, "maps to 'gold'"),
        ("scores.1.window=2", RecipeError, "unknown parameter(s) ['window']"),
        ("scores.1.layout=sideways", RecipeError, "`scores.1.layout` must be one of ['auto', 'plain', 'chat']"),
        ("scores.1.model=teacher", RecipeError, "names model 'teacher'"),
        ("filters=[{column: is_correct, equals: true, min: 0}]", RecipeError, "exactly one of"),
        ("filters=[{column: global_naturalness, quantile: [0.5]}]", RecipeError, "two quantiles"),
        ("select.top_k=0", RecipeError, "`select.top_k` must be at least 1"),
        ("select.quantile=0.5", RecipeError, "applies to `method: divergence` only"),
        ("select={method: divergence, min_teacher_fraction: .nan}", RecipeError, "must be a number in [0, 1]"),
        ("models.student.dtype=float8", RecipeError, "dtype must be"),
        ("output.split=../x", RecipeError, "Invalid split name"),
        ("dataset.path=missing/traces.jsonl", NotFoundError, "No such file or folder"),
    ],
)
def test_mistakes_are_found_before_any_model_loads(recipe_file, no_model_loads, override, error, message):
    with pytest.raises(error) as raised:
        run_recipe_file(str(recipe_file), [override], push=False)
    assert message in str(raised.value)


def test_null_teacher_or_answer_names_the_row_before_scoring(recipe_file, tmp_path, no_model_loads):
    rows = load_dataset("json", data_files=builtin_data_path("hf_select:math_teachers"), split="train")
    for column in ("teacher", "answer"):
        broken = rows.select(range(8)).map(lambda r, i, c=column: {c: None if i == 5 else r[c]}, with_indices=True)
        data = tmp_path / f"null_{column}.jsonl"
        broken.to_json(data)
        with pytest.raises(DataFormatError, match=f"row 5, column '{column}'.*is null"):
            run_recipe_file(str(recipe_file), [f"dataset.path={data}"], push=False)


def test_cli_mistakes_are_one_line_in_recipe_terms(recipe_file, capsys):
    assert main(["run", str(recipe_file), "--set", "select.top_k=0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "recipe.yaml (--set): `select.top_k` must be at least 1" in err
    # A typo in an override's first key is the override's, not a line of the file (#29).
    assert main(["run", str(recipe_file), "--set", "selct.by=global_naturalness"]) == 2
    assert "recipe.yaml (--set): unknown key `selct`" in capsys.readouterr().err


def test_on_error_nan_covers_answer_checks(recipe_file, tmp_path):
    rows = load_dataset("json", data_files=builtin_data_path("hf_select:math_teachers"), split="train")
    broken = rows.select(range(8)).map(lambda r, i: {"answer": "" if i == 2 else r["answer"]}, with_indices=True)
    data = tmp_path / "empty_answer.jsonl"
    broken.to_json(data)
    result = run_recipe_file(str(recipe_file), [f"dataset.path={data}", "on_error=nan"], push=False)
    scored = result.scored
    assert scored[2]["is_correct"] is None and "row 2, column 'answer'" in scored[2]["hf_select_error"]
    assert all(v is not None for i, v in enumerate(scored["is_correct"]) if i != 2)


def test_the_card_shows_the_effective_recipe_without_local_paths(recipe_file, tmp_path):
    result = run_recipe_file(str(recipe_file), ["select.by=global_naturalness", "dataset.limit=6"], push=False)
    loaded = DatasetCard.load(tmp_path / "out" / "README.md")
    card = loaded.text
    recipe_section = card.split("### Recipe", 1)[1].split("###", 1)[0]
    assert "limit: 6" in recipe_section and "a comment" not in card
    assert str(tmp_path) not in card and "/root" not in card and str(Path.home()) not in card
    assert "traces.jsonl (sha256 " in card and "name_or_path: llama" in recipe_section
    assert loaded.data.pretty_name == "checks" and len(result.curated) > 0


# -- settings are never quietly ignored or changed -------------------------------------------------------------
def test_keep_nan_is_honoured_by_every_filter():
    ds = Dataset.from_dict({"x": [1.0, math.nan, 3.0, None], "flag": [True, None, False, True]})
    assert filter_quantile(ds, "x", lower=0.5)["x"] == [3.0]
    kept = filter_quantile(ds, "x", lower=0.5, keep_nan=True)["x"]
    assert math.isnan(kept[0]) and kept[1:] == [3.0, None]
    assert filter_equals(ds, "flag", True)["flag"] == [True, True]
    assert filter_equals(ds, "flag", True, keep_nan=True)["flag"] == [True, None, True]


def test_out_of_range_selection_settings_are_errors():
    ds = Dataset.from_dict({"prov_divergence": [0.1, 0.2], "prov_frac_teacher_originated": [0.5, 0.5]})
    for value in (math.nan, -0.1, 1.5):
        with pytest.raises(ConfigError, match="min_teacher_fraction must be a number in"):
            select_by_divergence(ds, min_teacher_fraction=value)


def test_truncated_rows_say_so_and_cards_count_them(llama, tmp_path):
    from hf_select.cards import CardContext, build_card

    rows = Dataset.from_list([{"prompt": "Q?", "response": "word " * 900}, {"prompt": "Q?", "response": "Short."}])
    out = score(rows, GlobalNaturalness(llama, on_overflow="truncate_left"))
    assert "truncated to the model's 1024 tokens" in out[0]["hf_select_error"]
    assert out[1]["hf_select_error"] is None and not math.isnan(out[0]["global_naturalness"])
    card, _ = build_card(out, out, CardContext(split="train"))
    assert "1 were truncated" in card.text


def test_a_list_valued_text_cell_is_an_input_error_naming_the_shape(llama):
    rows = Dataset.from_list([{"prompt": "Q?", "response": ["First answer.", "Second answer."]}])
    with pytest.raises(ScoringInputError, match="list of 2 strings.*wide data.*explode"):
        rows.map(GlobalNaturalness(llama))  # not batched: the row is a row, not a batch of two
    with pytest.raises(ScoringInputError, match="list of 2 strings"):
        rows.map(GlobalNaturalness(llama), batched=True)


def test_callable_splitters_never_share_cached_scores(llama):
    rows = Dataset.from_list([{"prompt": "Q?", "response": "First step here. Second step there. Third one."}])
    whole = score(rows, LocalNaturalness(llama, splitter=lambda t: [(0, len(t))]))
    halves = score(rows, LocalNaturalness(llama, splitter=lambda t: [(0, 17), (17, len(t))]))
    assert whole["local_num_steps"] == [1] and halves["local_num_steps"] == [2]


def test_publishing_over_the_source_is_refused_however_it_is_named(recipe_file, no_model_loads):
    for source in (
        ["dataset.path=parquet", "dataset.data_files=hf://datasets/me/target/data/train-*.parquet"],
        ["dataset.path=hf://datasets/me/target/data/train-00000-of-00001.parquet"],
        ["dataset.path=datasets/ME/Target"],
    ):
        with pytest.raises(PublishError, match="it is the source dataset"):
            run_recipe_file(str(recipe_file), [*source, "output.repo_id=me/target"])


def test_cli_errors_name_options_in_cli_terms(tmp_path, tiny_root, capsys):
    Dataset.from_list([{"prompt": "Q?", "text": "A."}]).to_json(tmp_path / "rows.jsonl")
    capsys.readouterr()
    assert (
        main(
            [
                "score",
                str(tmp_path / "rows.jsonl"),
                "--model",
                str(tiny_root / "llama"),
                "--scores",
                "global",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "Map" not in err and "global_naturalness (" not in err  # found before any scoring started
    last = err.strip().splitlines()[-1]
    assert last.startswith("hf-select score: error: global_naturalness: column 'response' is not in the dataset")
    assert "--response-column <your column>" in last and "response_column=" not in err


def test_every_missing_column_is_named_at_once_with_the_mapping_that_fixes_them(tmp_path):
    """Columns named otherwise in the data (`output`, `model`) were reported one at a time, each after a run's
    start-up, and the message never showed the `dataset.columns` mapping that fixes them all (#29)."""
    from datasets import Dataset

    from hf_select.runner import run_recipe_file

    rows = [{"prompt": f"q{i}", "output": f"It is {i}.", "model": "ab"[i % 2], "answer": str(i)} for i in range(4)]
    data = tmp_path / "rows.jsonl"
    Dataset.from_list(rows).to_json(data)
    base = [
        f"dataset.path={data}",
        "dataset.columns={prompt: prompt, answer: answer}",
        "models.student.name_or_path=/no/such/model",
        f"output.dir={tmp_path / 'out'}",
    ]
    with pytest.raises(MissingColumnError) as raised:
        run_recipe_file("local_response_selection", base, push=False)
    message = str(raised.value)
    assert "read 'response'" in message and "`rank_teachers.teacher` is 'teacher'" in message
    assert "`dataset.columns: {response: <your column>, teacher: <your column>}`" in message
    with pytest.raises(Exception) as fixed:  # mapped: the run gets past every column check, to the model
        run_recipe_file(
            "local_response_selection",
            [*base, "dataset.columns={prompt: prompt, response: output, teacher: model, answer: answer}"],
            push=False,
        )
    assert not isinstance(fixed.value, MissingColumnError) and "/no/such/model" in str(fixed.value)


def test_a_shipped_hub_recipe_reads_a_local_copy_in_one_line(tiny_root, tmp_path):
    """`--set dataset.path=rows.jsonl` on a Hub recipe was refused for the recipe's Hub `name:` (#29): the file's
    Hub-only keys stop applying, and the run reads the local copy; set in the same command, they are still checked."""
    import public_shapes
    from datasets import Dataset

    from hf_select.recipes import load_recipe
    from hf_select.runner import run_recipe_file

    data = tmp_path / "rows.jsonl"
    Dataset.from_list(public_shapes.openr1_math()).to_json(data)
    assert load_recipe("openr1_math_best_of_n").dataset.name == "default"
    recipe = load_recipe("openr1_math_best_of_n", [f"dataset.path={data}"])
    assert recipe.dataset.name is None and recipe.dataset.path == str(data)
    result = run_recipe_file(
        "openr1_math_best_of_n",
        [
            f"dataset.path={data}",
            f"output.dir={tmp_path / 'out'}",
            f"models.student.name_or_path={tiny_root / 'llama'}",
        ],
        push=False,
    )
    assert len(result.curated) > 0
    with pytest.raises(ConfigError, match="`name` applies to Hub datasets and builders only"):
        run_recipe_file(
            "openr1_math_best_of_n",
            [f"dataset.path={data}", "dataset.name=default", f"output.dir={tmp_path / 'o2'}"],
            push=False,
        )
