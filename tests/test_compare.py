"""compare_scores against loop-by-loop references on data built with known answers, and its recipe stage."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from datasets import Dataset, DatasetDict
from huggingface_hub import DatasetCard

from hf_select import compare_scores, rank_teachers, select_best
from hf_select.errors import ConfigError, MissingColumnError, RecipeError, WrongTypeError
from hf_select.recipes import load_recipe

TEACHERS = ["ant", "bee", "cat", "dog"]
UP = {"good": True, "long": True, "noise": True, "rsr": False}


def _rows(prompts: int = 30, seed: int = 0) -> list[dict]:
    """Four teachers per prompt: `good` tracks correctness, `long` is the length, `noise` is noise, `rsr` a ratio
    score (lower is better) with its parts. Teachers differ in accuracy and length."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(prompts):
        for t, name in enumerate(TEACHERS):
            correct = bool(rng.random() < [0.9, 0.6, 0.4, 0.2][t])
            tokens = int(rng.integers(20, 200)) + 40 * t
            rank, surprisal = float(rng.uniform(1, 5)), float(rng.uniform(0.5, 2))
            rows.append({"prompt_id": p, "prompt": f"q{p}", "teacher": name, "is_correct": correct,
                         "good": float(correct) + rng.normal(0, 0.3), "long": float(tokens) + rng.normal(0, 1e-3),
                         "noise": float(rng.normal()), "global_num_tokens": tokens,
                         "local_num_steps": int(rng.integers(1, 9)), "rsr_mean_rank": rank,
                         "rsr_mean_surprisal": surprisal, "rsr": rank / surprisal})
    return rows


@pytest.fixture(scope="module")
def data() -> Dataset:
    return Dataset.from_list(_rows())


def _compare(ds, by=("good", "long", "noise", "rsr"), **options):
    return compare_scores(ds, list(by), group="prompt_id", higher_is_better={c: UP[c] for c in by}, **options)


# -- slow, obviously correct references ------------------------------------------------------------------------------
def _average_ranks(values: list[float]) -> list[float]:
    return [sum(v < x for v in values) + (sum(v == x for v in values) + 1) / 2 for x in values]


def _pearson(x: list[float], y: list[float]) -> float:
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    return sxy / math.sqrt(sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in y))


def _teacher_scores(ds: Dataset, column: str) -> dict[str, float]:
    """Oriented (higher is better) teacher-level scores, as rank_teachers computes them."""
    table = rank_teachers(ds, by=column, higher_is_better=UP[column])
    return {r["teacher"]: r["score"] * (1 if UP[column] else -1) for r in table}


def _kendall_tau_b(a: dict[str, float], b: dict[str, float]) -> float:
    concordant = pairs_a = pairs_b = 0.0
    for s, t in combinations(sorted(a), 2):
        da, db = np.sign(a[s] - a[t]), np.sign(b[s] - b[t])
        concordant += da * db
        pairs_a += da * da
        pairs_b += db * db
    return concordant / math.sqrt(pairs_a * pairs_b)


def _picks(ds: Dataset, column: str) -> dict[int, int]:
    """prompt -> the row select_best keeps (the selection a user would train on)."""
    indexed = ds.add_column("row", list(range(len(ds))))
    picked = select_best(indexed, by=column, group="prompt_id", higher_is_better=UP[column])
    return dict(zip(picked["prompt_id"], picked["row"], strict=True))


def _within_prompt_rho(ds: Dataset, column: str, length: str) -> float:
    xs, ys = [], []
    for p in sorted(set(ds["prompt_id"])):
        rows = [r for r in ds if r["prompt_id"] == p]
        x = _average_ranks([r[column] * (1 if UP[column] else -1) for r in rows])
        y = _average_ranks([r[length] for r in rows])
        xs += [v - sum(x) / len(x) for v in x]
        ys += [v - sum(y) / len(y) for v in y]
    return sum(a * b for a, b in zip(xs, ys, strict=True)) / math.sqrt(sum(a * a for a in xs) * sum(b * b for b in ys))


# -- the report equals the references ----------------------------------------------------------------------------------
def test_every_statistic_equals_its_loop_reference(data):
    report = _compare(data)
    scores = {r["score"]: r for r in report.scores}
    accuracy = {r["teacher"]: r["accuracy"] for r in rank_teachers(data, by="good", higher_is_better=True)}
    for column, row in scores.items():
        picks = _picks(data, column)
        assert row["picked_accuracy"] == pytest.approx(np.mean([data[i]["is_correct"] for i in picks.values()]))
        teacher_scores = _teacher_scores(data, column)
        expected = _pearson(_average_ranks([teacher_scores[t] for t in TEACHERS]),
                            _average_ranks([accuracy[t] for t in TEACHERS]))
        assert row["ranking_vs_accuracy"] == pytest.approx(expected), column
        assert row["top_teacher"] == max(teacher_scores, key=teacher_scores.get)
        assert row["length_tokens_rho"] == pytest.approx(_within_prompt_rho(data, column, "global_num_tokens"))
        assert row["length_steps_rho"] == pytest.approx(_within_prompt_rho(data, column, "local_num_steps"))
        assert report.teacher_ranks[column] == [sorted(teacher_scores.values(), reverse=True).index(
            teacher_scores[t]) + 1 for t in TEACHERS]
    for row in report.agreement:
        a, b = row["score_a"], row["score_b"]
        assert row["kendall_tau"] == pytest.approx(_kendall_tau_b(_teacher_scores(data, a), _teacher_scores(data, b)))
        pa, pb = _picks(data, a), _picks(data, b)
        assert row["same_pick"] == pytest.approx(np.mean([pa[p] == pb[p] for p in pa]))
    assert len(report.agreement) == 6 and report.prompts == 30 and report.responses == 120
    base = report.baselines
    assert base["best_teacher"] == "ant" and base["best_teacher_accuracy"] == pytest.approx(accuracy["ant"])
    per_prompt = [np.mean([r["is_correct"] for r in data if r["prompt_id"] == p]) for p in range(30)]
    assert base["random_pick_accuracy"] == pytest.approx(np.mean(per_prompt))


def test_what_the_data_was_built_to_show(data):
    scores = {r["score"]: r for r in _compare(data).scores}
    assert scores["good"]["picked_accuracy"] > 0.9 > scores["noise"]["picked_accuracy"]
    assert scores["good"]["ranking_vs_accuracy"] == 1.0 and scores["long"]["ranking_vs_accuracy"] == -1.0
    assert scores["long"]["length_tokens_rho"] == pytest.approx(1.0)  # it is the length
    assert abs(scores["noise"]["length_tokens_rho"]) < 0.3
    for row in scores.values():
        for name in ("picked_accuracy", "ranking_vs_accuracy", "length_tokens_rho"):
            assert row[f"{name}_low"] <= row[f"{name}_high"]
    assert scores["good"]["picked_accuracy_low"] > scores["noise"]["picked_accuracy_high"]  # told apart


def test_intervals_are_deterministic_for_a_seed_and_narrow_with_more_prompts():
    small, large = Dataset.from_list(_rows(20, seed=3)), Dataset.from_list(_rows(200, seed=3))
    one, again, other = _compare(small, seed=1), _compare(small, seed=1), _compare(small, seed=2)
    assert one.scores.to_list() == again.scores.to_list() and one.agreement.to_list() == again.agreement.to_list()
    assert one.scores["picked_accuracy_low"] != other.scores["picked_accuracy_low"]
    width = [r["picked_accuracy_high"] - r["picked_accuracy_low"] for r in _compare(large).scores]
    assert max(width) < min(r["picked_accuracy_high"] - r["picked_accuracy_low"] for r in one.scores)


def test_rows_order_changes_nothing(data):
    shuffled = data.shuffle(seed=0)
    a, b = _compare(data), _compare(shuffled)
    for x, y in zip(a.scores.to_list(), b.scores.to_list(), strict=True):
        for key in ("picked_accuracy", "ranking_vs_accuracy", "length_tokens_rho", "top_teacher"):
            assert x[key] == pytest.approx(y[key]) if isinstance(x[key], float) else x[key] == y[key]


def test_the_top_teacher_of_the_students_family_is_flagged(data):
    report = _compare(data, families={"ant": "qwen", "bee": "llama", "cat": "llama", "dog": "llama"},
                      student_family="qwen")
    scores = {r["score"]: r for r in report.scores}
    assert scores["good"]["top_teacher"] == "ant" and scores["good"]["top_teacher_is_student_family"] is True
    assert scores["long"]["top_teacher"] == "dog" and scores["long"]["top_teacher_is_student_family"] is False
    assert "(the student's family)" in report.format()
    with pytest.raises(ConfigError, match="no family for teacher 'dog'"):
        _compare(data, families={"ant": "qwen", "bee": "llama", "cat": "llama"}, student_family="qwen")
    with pytest.raises(ConfigError, match="go together"):
        _compare(data, families={"ant": "qwen"})


def test_incomplete_responses_are_never_picked(data):
    best = max(range(len(data)), key=lambda i: data[i]["noise"] if data[i]["prompt_id"] == 0 else -9)
    cut = data.add_column("complete", [i != best for i in range(len(data))])
    report = _compare(cut, by=("noise",))
    assert report.responses == len(data) - 1
    kept = _compare(cut, by=("noise",), incomplete="keep")
    assert kept.responses == len(data)


def test_without_labels_the_accuracy_is_empty_and_says_why(data):
    report = _compare(data.remove_columns("is_correct"))
    assert all(math.isnan(r["picked_accuracy"]) for r in report.scores) and report.baselines == {}
    assert any("no correctness labels" in note for note in report.notes)
    assert "note: no correctness labels" in report.format()


def test_mistakes_are_named(data):
    with pytest.raises(MissingColumnError, match="'nope'"):
        compare_scores(data, ["nope"], group="prompt_id")
    with pytest.raises(WrongTypeError, match="one split"):
        compare_scores(DatasetDict({"train": data}), ["good"])
    with pytest.raises(ConfigError, match="bootstrap"):
        compare_scores(data, ["good"], bootstrap=10)
    with pytest.raises(ConfigError, match="which way is better"):
        compare_scores(data, ["good"], group="prompt_id")  # no metadata, no direction: never a guess


def test_the_printed_table_and_the_plot(data, tmp_path):
    report = _compare(data)
    text = report.format()
    assert text.startswith("Which score to trust on this data: 120 responses to 30 prompts from 4 teachers")
    assert "best single teacher (ant)" in text and "good ~ long" in text
    png = report.save_plot(tmp_path / "c.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


# -- in a recipe -------------------------------------------------------------------------------------------------------
def test_a_recipe_compares_prints_and_writes_the_card_section(tiny_root, tmp_path, capsys):
    from hf_select.cli import main

    out = tmp_path / "out"
    overrides = [f"models.student.name_or_path={tiny_root / 'llama'}", "dataset.limit=40", f"output.dir={out}"]
    assert main(["run", "proxy_comparison", "--dry-run", *(w for o in overrides for w in ("--set", o))]) == 0
    printed = capsys.readouterr().out
    assert "Which score to trust on this data: 40 responses to 10 prompts from 4 teachers" in printed
    for column in ("global_naturalness", "local_naturalness", "rsr", "ifd", "aslec_drop", "aslec_casl"):
        assert f"\n{column} " in printed
    card = DatasetCard.load(out / "README.md").text
    assert "### Which score to trust on this data" in card and "| `local_naturalness` ~ `rsr` |" in card
    assert "For reference: the best single teacher" in card
    assert (out / "images" / "train_score_comparison.png").stat().st_size > 5000


def test_compare_options_are_checked_at_load_and_columns_before_scoring(tmp_path):
    from hf_select.runner import run_recipe_file

    with pytest.raises(RecipeError, match="compare.bootstrap.*at least 100"):
        load_recipe("proxy_comparison", ["compare.bootstrap=5"])
    with pytest.raises(RecipeError, match="student_family"):
        load_recipe("proxy_comparison", ["compare.families={a: x}"])
    with pytest.raises(MissingColumnError, match=r"`compare.by.0` is 'nope'"):  # before any model loads
        run_recipe_file("proxy_comparison", ["compare.by=[nope]", "models.student.name_or_path=/no/such/model",
                                             f"output.dir={tmp_path / 'o'}"], push=False)
