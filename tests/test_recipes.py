"""Recipes: validation with line numbers, every shipped recipe end to end on tiny models, cached reruns,
interrupted runs, and publishing to the (fake) Hub."""

import textwrap
from pathlib import Path

import pytest
from datasets import load_dataset
from huggingface_hub import DatasetCard
from trl_check import assert_trains_on_the_pick

from hf_select.cli import main
from hf_select.engine import ScoringEngine
from hf_select.errors import RecipeError
from hf_select.recipes import load_recipe, recipe_yaml
from hf_select.runner import run_recipe_file
from hf_select.sources import builtin_data_path

SHIPPED = [
    "local_response_selection",
    "global_response_selection",
    "teacher_ranking",
    "provenance_selection",
    "demo",
    "proxy_comparison",
]


def _tiny(tiny_root, out, limit=24, extra=()):
    """Overrides that point a shipped recipe at the tiny models and a few rows of the bundled data."""
    return [f"models.student.name_or_path={tiny_root / 'llama'}", f"dataset.limit={limit}", f"output.dir={out}", *extra]


# -- validation ------------------------------------------------------------------------------------------
def _write(tmp_path, text):
    path = tmp_path / "recipe.yaml"
    path.write_text(textwrap.dedent(text))
    return path


GOOD = """\
    name: t
    dataset:
      path: hf_select:math_teachers
    models:
      student: {name_or_path: smollm2-135m-instruct}
    scores:
      - type: local_naturalness
        window: 2
    select:
      by: local_naturalness
    """


def test_a_valid_recipe_parses(tmp_path):
    recipe = load_recipe(_write(tmp_path, GOOD))
    assert recipe.scores[0].type == "local_naturalness" and recipe.scores[0].params == {"window": 2}
    assert recipe.select.group == "prompt" and recipe.output.split == "train" and "window: 2" in recipe_yaml(recipe)


def test_unknown_key_names_key_and_line(tmp_path):
    path = _write(tmp_path, GOOD.replace("      by: local_naturalness", "      by: local_naturalness\n      bye: 1"))
    with pytest.raises(RecipeError, match=r"recipe.yaml:11: unknown key `select.bye`; allowed here: \["):
        load_recipe(path)


def test_wrong_type_names_key_and_line(tmp_path):
    path = _write(tmp_path, GOOD.replace("    select:\n", "    batch_size: many\n    select:\n"))
    with pytest.raises(RecipeError, match=r"recipe.yaml:9: `batch_size` must be int, got 'many'"):
        load_recipe(path)
    path = _write(tmp_path, GOOD.replace("type: local_naturalness", "type: local_nat"))
    with pytest.raises(RecipeError, match=r"recipe.yaml:7: `scores.0.type` must be one of \["):
        load_recipe(path)


def test_missing_required_and_bad_set(tmp_path):
    with pytest.raises(RecipeError, match="`dataset` is required"):
        load_recipe(_write(tmp_path, "name: t\n"))
    with pytest.raises(RecipeError, match=r"\(--set\): `select.top_k` must be int"):
        load_recipe(_write(tmp_path, GOOD), ["select.top_k=two"])
    with pytest.raises(RecipeError, match="expected key=value"):
        load_recipe(_write(tmp_path, GOOD), ["select.top_k"])


def test_set_overrides_are_typed_and_quoted_in_the_effective_yaml(tmp_path):
    recipe = load_recipe(_write(tmp_path, GOOD), ["select.top_k=2", "scores.0.window=3", "output.repo_id=me/curated"])
    text = recipe_yaml(recipe)
    assert recipe.select.top_k == 2 and recipe.scores[0].params["window"] == 3
    assert recipe.output.repo_id == "me/curated" and "window: 3" in text and "repo_id: me/curated" in text


def test_unknown_score_parameter_is_an_error_at_load(tmp_path):
    with pytest.raises(
        RecipeError,
        match=r"\(--set\): `scores.0.windw` \(local_naturalness\) has unknown "
        r"parameter\(s\) \['windw'\]",
    ):
        load_recipe(_write(tmp_path, GOOD), ["scores.0.windw=3"])


# -- shipped recipes end to end --------------------------------------------------------------------------
@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_recipe_runs_end_to_end(name, tiny_root, llama, tmp_path, capsys):
    extra = [f"models.teacher.name_or_path={tiny_root / 'gpt2'}"] if name == "provenance_selection" else []
    out = tmp_path / "out"
    args = [word for override in _tiny(tiny_root, out, extra=extra) for word in ("--set", override)]
    assert main(["run", name, "--dry-run", *args]) == 0
    printed = capsys.readouterr().out
    assert "loaded `hf_select:math_teachers` (train)" in printed and "done in" in printed
    recipe = load_recipe(name)
    split = recipe.output.split
    curated = load_dataset(str(out), split=split)
    result = run_recipe_file(name, _tiny(tiny_root, out, extra=extra), push=False)  # cached: the scored rows
    layout = "plain" if name == "provenance_selection" else "auto"
    assert_trains_on_the_pick(curated, result.scored, load_recipe(name).dataset.shape, llama, layout)
    card = DatasetCard.load(out / "README.md")
    assert f"<!-- hf_select:split={split} -->" in card.text and "### Reproduce" in card.text
    assert f"hf-select run {name}" in card.text and "### Recipe" in card.text
    if recipe.select.method == "best":
        assert len({p[-1]["content"] for p in curated["prompt"]}) == len(curated) > 0  # one row per prompt
        assert all(curated["is_correct"])  # among: is_correct
        assert (out / "images" / f"{split}_scores.png").stat().st_size > 1000
        assert ("| rank | teacher |" in card.text) == (recipe.rank_teachers is not None)
        assert ("### Which score to trust" in card.text) == (recipe.compare is not None)
    elif recipe.select.method == "divergence":
        assert 0 < len(curated) < 24 and "Provenance: category mix" in card.text
        assert "Teachers ranked by their score on `prov_divergence`" in card.text
        assert (out / "images" / f"{split}_scores.png").exists()
    else:
        assert len(curated) == 24 and "rsr" in curated.column_names


# -- reruns and interruptions ----------------------------------------------------------------------------
def _count_forward_and_loads(monkeypatch):
    counts = {"engine": 0, "loads": 0}
    original_score = ScoringEngine.score

    def counting_score(self, *a, **k):
        counts["engine"] += 1
        return original_score(self, *a, **k)

    from transformers import AutoModelForCausalLM

    original_load = AutoModelForCausalLM.from_pretrained.__func__

    def counting_load(cls, *a, **k):
        counts["loads"] += 1
        return original_load(cls, *a, **k)

    monkeypatch.setattr(ScoringEngine, "score", counting_score)
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", classmethod(counting_load))
    return counts


def test_rerun_is_served_from_the_cache_without_loading_the_model(tiny_root, tmp_path, monkeypatch):
    overrides = _tiny(tiny_root, tmp_path / "out")
    first = run_recipe_file("demo", overrides, push=False)
    counts = _count_forward_and_loads(monkeypatch)
    again = run_recipe_file("demo", overrides, push=False)
    assert counts == {"engine": 0, "loads": 0}
    assert again.curated["id"] == first.curated["id"]
    other = run_recipe_file("demo", [*overrides, "select.by=global_naturalness"], push=False)
    assert counts == {"engine": 0, "loads": 0}  # a new selection reuses every score
    assert other.stages[-1][0].startswith("select: best `global_naturalness`")


def test_interrupted_run_leaves_no_partial_output_and_resumes(tiny_root, tmp_path, monkeypatch):
    out = tmp_path / "out"
    overrides = _tiny(tiny_root, out)
    import hf_select.hub as hub

    def crash(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(hub, "write_parquet_shards", crash)
    with pytest.raises(KeyboardInterrupt):
        run_recipe_file("demo", overrides, push=False)
    assert not [p for p in out.rglob("*") if p.name != ".hf_select.lock"]  # nothing half-written, no manifest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # and nothing beside it
    monkeypatch.undo()
    first = run_recipe_file("demo", overrides, push=False)
    before = {p.name: p.read_bytes() for p in (out / "data").iterdir()}
    counts = _count_forward_and_loads(monkeypatch)
    monkeypatch.setattr(hub, "write_parquet_shards", crash)
    with pytest.raises(KeyboardInterrupt):
        run_recipe_file("demo", [*overrides, "select.by=global_naturalness"], push=False)
    assert {p.name: p.read_bytes() for p in (out / "data").iterdir()} == before  # previous output intact
    assert counts["engine"] == 0 and len(load_dataset(str(out), split="train")) == len(first.curated)


def test_source_data_is_never_touched(tiny_root, tmp_path):
    src = tmp_path / "src.jsonl"
    src.write_bytes(Path(builtin_data_path("hf_select:math_teachers")).read_bytes())
    before = src.read_bytes()
    run_recipe_file(
        "local_response_selection", [*_tiny(tiny_root, tmp_path / "out"), f"dataset.path={src}"], push=False
    )
    assert src.read_bytes() == before


# -- publishing ------------------------------------------------------------------------------------------
def test_recipe_publishes_to_the_hub_and_a_second_split_keeps_the_first(strict_hub, hub_repo_id, tiny_root, tmp_path):
    hub = strict_hub
    base = [*_tiny(tiny_root, tmp_path / "out"), f"output.repo_id={hub_repo_id}"]
    first = run_recipe_file("local_response_selection", base)
    assert first.pushed
    pushed = load_dataset(hub_repo_id, split="train", download_mode="force_redownload")
    assert pushed["id"] == first.curated["id"]
    second = run_recipe_file("local_response_selection", [*base, "output.split=window1", "scores.1.window=1"])
    both = load_dataset(hub_repo_id, download_mode="force_redownload")
    assert set(both) == {"train", "window1"} and both["train"]["id"] == first.curated["id"]
    assert both["window1"]["id"] == second.curated["id"]
    card = DatasetCard.load(hub_repo_id, repo_type="dataset")
    assert "<!-- hf_select:split=train -->" in card.text and "<!-- hf_select:split=window1 -->" in card.text
    assert "| window | `1` |" in card.text and "| window | `2` |" in card.text  # each split's own parameters
    assert "images/window1_scores.png" in hub.repo(hub_repo_id).head().files
    assert card.data.license == "apache-2.0"  # carried from the bundled data's card


def test_push_command_publishes_a_demo_folder(strict_hub, hub_repo_id, tiny_root, tmp_path, capsys):
    run_recipe_file("demo", _tiny(tiny_root, tmp_path / "out"), push=False)
    assert main(["push", str(tmp_path / "out"), hub_repo_id]) == 0
    assert len(load_dataset(hub_repo_id, split="train", download_mode="force_redownload")) > 0
    assert f"published {tmp_path / 'out'}" in capsys.readouterr().out
    files = strict_hub.repo(hub_repo_id).head().files
    assert {"viewer/train/index.html", "viewer/train/data/index.js", "viewer/train/data/page-00000.js"} <= set(files)
    # republished without its viewer, the split's old viewer goes (it showed the data it was written with)
    run_recipe_file(
        "demo", [*_tiny(tiny_root, tmp_path / "again"), f"output.repo_id={hub_repo_id}", "output.viewer=false"]
    )
    assert not [f for f in strict_hub.repo(hub_repo_id).head().files if f.startswith("viewer/")]


def test_license_and_source_are_carried_from_a_hub_dataset(strict_hub, hub_repo_id, tiny_root, tmp_path):
    from datasets import Dataset
    from huggingface_hub import DatasetCardData

    rows = load_dataset("json", data_files=builtin_data_path("hf_select:math_teachers"), split="train")
    Dataset.from_dict(rows[:12]).push_to_hub(hub_repo_id)
    card = DatasetCard.load(hub_repo_id, repo_type="dataset")
    card.data = DatasetCardData(**{**card.data.to_dict(), "license": "cc-by-4.0"})
    card.push_to_hub(hub_repo_id, repo_type="dataset")
    result = run_recipe_file(
        "local_response_selection", [*_tiny(tiny_root, tmp_path / "out"), f"dataset.path={hub_repo_id}"], push=False
    )
    assert result.card.data.license == "cc-by-4.0"
    assert result.card.data.source_datasets == [hub_repo_id]
    assert f"(https://huggingface.co/datasets/{hub_repo_id})" in result.card.text


# -- recipes for the public shapes, offline on rows in the exact schema -------------------------------------------
PUBLIC_SHAPES = [  # (shipped recipe, rows in the schema of the set it is written for)
    ("openr1_math_best_of_n", "openr1_math"),
    ("s1k_two_teachers", "s1k"),
    ("mixture_of_thoughts_chat", "mixture_of_thoughts"),
    ("openthoughts_sharegpt", "openthoughts"),
    ("openthoughts_sharegpt", "classic_sharegpt"),
    ("nemotron_prompt_completion", "llama_nemotron"),
    ("multilingual_thinking_chat", "multilingual_thinking"),
    ("multilingual_thinking_chat", "reasoning_content"),
    ("multilingual_thinking_chat", "reasoning_parts"),
]


def test_a_source_tokenised_already_still_trains_on_the_pick(tiny_root, llama, tmp_path):
    """A source column TRL reads as pre-tokenised data (`input_ids`) made SFTTrainer skip its preparation and train
    on the old tokens, not on the pick (#29): the split TRL gets carries no such column."""
    import public_shapes
    from datasets import Dataset
    from trl_check import assert_trains_on_the_pick

    rows = [
        {**row, "input_ids": [1, 2, 3], "attention_mask": [1, 1, 1], "labels": [1, 2, 3]} for row in public_shapes.s1k()
    ]
    data = tmp_path / "rows.jsonl"
    Dataset.from_list(rows).to_json(data)
    out = tmp_path / "out"
    overrides = [
        f"models.student.name_or_path={tiny_root / 'llama'}",
        f"dataset.path={data}",
        "dataset.split=train",
        "dataset.name=null",
        f"output.dir={out}",
    ]
    result = run_recipe_file("s1k_two_teachers", overrides, push=False)
    curated = load_dataset(str(out), split="train")
    assert not {"input_ids", "attention_mask", "labels"} & set(curated.column_names)
    assert_trains_on_the_pick(curated, result.scored, load_recipe("s1k_two_teachers", overrides).dataset.shape, llama)


@pytest.mark.parametrize(("name", "shape"), PUBLIC_SHAPES)
def test_public_shape_recipes_give_splits_trl_trains_on_exactly_the_pick(name, shape, tiny_root, llama, tmp_path):
    import public_shapes
    from datasets import Dataset
    from trl_check import assert_trains_on_the_pick

    rows = getattr(public_shapes, shape)()
    data = tmp_path / "rows.jsonl"
    Dataset.from_list(rows).to_json(data)
    out = tmp_path / "out"
    overrides = [
        f"models.student.name_or_path={tiny_root / 'llama'}",
        f"dataset.path={data}",
        "dataset.split=train",
        "dataset.name=null",
        f"output.dir={out}",
    ]
    result = run_recipe_file(name, overrides, push=False)
    curated = load_dataset(str(out), split="train")
    card = DatasetCard.load(out / "README.md").text
    recipe = load_recipe(name, overrides)
    # What TRL's own SFT preparation trains on: the pick, in the context it was scored in.
    assert_trains_on_the_pick(curated, result.scored, recipe.dataset.shape, llama)
    assert {"prompt", "completion"} <= set(curated.column_names)
    assert not {"messages", "conversations", "system", "system_prompt", "input", "output"} & set(curated.column_names)
    assert "Train on `prompt` and `completion`" in card and "load_dataset(" in card
    assert all(result.scored.filter(lambda r: r["complete"] is False)["incomplete_reason"])
    kept_replies = {row["completion"][0]["content"] for row in curated}
    cut_off = {recipe.dataset.shape.reply(r) for r in result.scored if r["complete"] is False}
    assert not kept_replies & cut_off  # a cut-off trace is never what the student trains on
    if name == "openr1_math_best_of_n":
        assert len(curated) == 4 and all(curated["correctness_math_verify"])
        for row in curated:  # the completion is the picked generation, not the source's `messages` one
            source = rows[row["prompt_id"]]
            assert row["completion"][0]["content"] == source["generations"][row["generation_index"]]
            assert row["prompt"] == [{"role": "user", "content": source["problem"]}]
        assert "4 scored responses were incomplete" in card and "one row per response" in card
    elif name == "s1k_two_teachers":
        assert len(curated) == 4 and set(curated["teacher"]) <= {"gemini", "deepseek"}
        assert all(f"Teacher ranking by `{c}`" in card for c in ("local_naturalness", "rsr", "global_naturalness"))
        assert "reasoning traces from 2 teachers" in card
    elif name == "nemotron_prompt_completion":
        assert all(
            row["prompt"][0] == {"role": "system", "content": f"detailed thinking {row['reasoning']}"}
            for row in curated
        )
        assert {"generator", "reasoning", "category"} <= set(curated.column_names)
    elif shape in ("openthoughts", "classic_sharegpt"):
        system = rows[0]["system"]
        assert all(row["prompt"][0] == {"role": "system", "content": system} for row in curated)
        assert all([m["role"] for m in row["prompt"]] == ["system", "user"] for row in curated)
        assert ": responses,\nscored under a student model" in card  # one generator, no teacher column
    if shape in ("mixture_of_thoughts", "openthoughts"):
        assert len(result.scored) == 5 and "1 scored response was incomplete" in card
        assert len(curated) == 2  # the more natural half of the 4 complete ones


def test_teacher_student_matrix_recipe_ranks_teachers_under_two_students_with_intervals(
    tiny_root, llama, tmp_path, capsys
):
    out = tmp_path / "out"
    args = [
        f"models.smollm2.name_or_path={tiny_root / 'llama'}",
        f"models.gemma.name_or_path={tiny_root / 'gpt2'}",
        "dataset.limit=40",
        f"output.dir={out}",
    ]
    assert main(["run", "teacher_student_matrix", *(w for a in args for w in ("--set", a))]) == 0
    printed = capsys.readouterr().out
    assert "teacher ranking by local_naturalness_gemma" in printed and "95% CI" in printed and "P(1st)" in printed
    card = DatasetCard.load(out / "README.md").text
    assert "### Teacher x student" in card and "| teacher | llama | gpt2 |" in card
    assert "(out/images" not in card and (out / "images" / "scored_teacher_student.png").stat().st_size > 1000
    assert "| rank | teacher | responses | score | 95% CI | rank range | P(first) |" in card
    assert "Neighbouring teachers, paired on the prompts both answered" in card
    scored = load_dataset(str(out), split="scored")
    assert {"local_naturalness_llama", "local_naturalness_gemma"} - set(scored.column_names) == {
        "local_naturalness_llama"
    }  # named after the recipe's students, not the model files
    assert {"local_naturalness_smollm2", "local_naturalness_gemma"} <= set(scored.column_names)
    result = run_recipe_file("teacher_student_matrix", args, push=False)  # cached
    assert_trains_on_the_pick(scored, result.scored, load_recipe("teacher_student_matrix").dataset.shape, llama)


def test_rsr_ranking_in_a_card_says_it_is_a_ratio_of_means(tiny_root, tmp_path):
    run_recipe_file("teacher_ranking", _tiny(tiny_root, tmp_path / "out"), push=False)
    card = DatasetCard.load(tmp_path / "out" / "README.md").text
    assert "Teacher ranking by `rsr`" in card
    assert "the mean of `rsr_mean_rank` over their responses divided by the mean of `rsr_mean_surprisal`" in card


def test_the_dry_run_card_is_the_card_that_gets_published(tiny_root, tmp_path):
    out = tmp_path / "out"
    run_recipe_file("teacher_ranking", [*_tiny(tiny_root, out), "output.repo_id=me/math-ranked"], dry_run=True)
    card = DatasetCard.load(out / "README.md").text
    assert 'load_dataset("me/math-ranked", split="scored")' in card and "<this-repo>" not in card
    assert "github.com" not in card and "Curated with hf_select from" in card  # no home page is declared
    assert "reasoning traces from 4 teachers" in card
    # 24 rows are 6 prompts: the bootstrap intervals say they are rough; 40 prompts need no such caveat
    assert "With only 6 prompts these intervals are rough" in card
    run_recipe_file("teacher_ranking", [*_tiny(tiny_root, out, limit=160)], push=False)
    assert "intervals are rough" not in DatasetCard.load(out / "README.md").text


def test_a_card_plots_the_score_even_without_teachers_or_a_selection(tiny_root, tmp_path):
    import public_shapes
    from datasets import Dataset

    data = tmp_path / "chats.jsonl"
    Dataset.from_list(public_shapes.mixture_of_thoughts()).to_json(data)
    out = tmp_path / "out"
    run_recipe_file(
        "mixture_of_thoughts_chat",
        [
            f"models.student.name_or_path={tiny_root / 'llama'}",
            f"dataset.path={data}",
            "dataset.name=null",
            f"output.dir={out}",
        ],
        push=False,
    )
    card = DatasetCard.load(out / "README.md").text
    assert "![`local_naturalness`" in card and (out / "images" / "train_scores.png").stat().st_size > 1000


def test_the_recipe_in_a_card_loads_the_source_it_names(tiny_root, tmp_path, monkeypatch):
    import re
    import shutil

    src = tmp_path / "mine" / "traces.jsonl"
    src.parent.mkdir()
    shutil.copy(builtin_data_path("hf_select:math_teachers"), src)
    out = tmp_path / "out"
    run_recipe_file("local_response_selection", [*_tiny(tiny_root, out), f"dataset.path={src}"], push=False)
    card = DatasetCard.load(out / "README.md").text
    block = re.search(r"### Recipe\n\n```yaml\n(.*?)```", card, re.S).group(1)
    assert "path: traces.jsonl  # a local file (sha256 " in block and str(tmp_path) not in card
    elsewhere = tmp_path / "someone-else"
    elsewhere.mkdir()
    shutil.copy(src, elsewhere / "traces.jsonl")  # "put it beside this recipe"
    (elsewhere / "recipe.yaml").write_text(block)
    monkeypatch.chdir(elsewhere)
    recipe = load_recipe("recipe.yaml", [f"models.student.name_or_path={tiny_root / 'llama'}"])
    from hf_select.runner import load_data

    assert len(load_data(recipe)) == 24


def test_stages_return_typed_results_and_the_viewer_marks_the_picks_by_what_they_are(tiny_root, tmp_path):
    """No row number travels through the stages: each returns its result, and the viewer finds the picked
    responses in the scored data by their prompt, reply and teacher."""
    import json

    from hf_select.results import Compared, Ranked, Selected, StageResult, Trained

    result = run_recipe_file(
        "local_response_selection", _tiny(tiny_root, tmp_path / "out", extra=["output.viewer=true"])
    )
    kinds = [type(r) for r in result.record.results]
    assert all(issubclass(k, StageResult) for k in kinds) and {Ranked, Selected, Trained} <= set(kinds)
    assert Compared not in kinds  # this recipe compares nothing
    picks = result.record.selected.data
    assert len(picks) == len(result.curated) and "__hf_select_row" not in result.scored.column_names
    page = result.viewer["data/page-00000.js"].decode()
    prompts = json.loads(page[page.index(", ") + 2 : page.rindex(");")])
    overview = result.viewer["data/overview.js"].decode()
    teachers = json.loads(overview[overview.index("(") + 1 : overview.rindex(");")])["teachers"]
    shown = [(p["context"][-1][1], teachers[r["t"]]) for p in prompts for r in p["responses"] if r["picked"]]
    assert sorted(shown) == sorted((row["prompt"], row["teacher"]) for row in picks)  # one per prompt, as picked
