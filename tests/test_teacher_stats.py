"""Teacher rankings a scientist can trust: RSR as published (clip, ties, the dataset-level ratio of means), a
prompt bootstrap (coverage, determinism, rank ranges, P(first)), paired comparisons, and a teacher x student
table from one score under several students."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import Dataset
from naive import bootstrap_teachers, naive_teacher_rsr
from test_naturalness import ROWS

from hf_select import LocalNaturalness, RankSurprisal, rank_teachers, score
from hf_select.metadata import read_metadata
from hf_select.reference import naive_bootstrap, naive_rank_surprisal
from hf_select.stats import TeacherTable, paired_difference, resample_weights


# -- RSR as published --------------------------------------------------------------------------------------------
def test_rsr_clips_ranks_at_100_by_default(llama):
    """The tiny model's vocabulary (~400) puts many tokens past rank 100: the default clip changes the numbers
    exactly as the published definition says."""
    rows = Dataset.from_list(ROWS)
    default = score(rows, RankSurprisal(llama))
    unclipped = score(rows, RankSurprisal(llama, rank_clip=None))
    for row, raw in zip(default, unclipped, strict=True):
        expected = naive_rank_surprisal(llama, row["prompt"], row["response"])  # written from the description
        assert row["rsr"] == pytest.approx(expected["rsr"], rel=1e-6)
        assert row["rsr_mean_rank"] <= 100 and row["rsr_mean_rank"] <= raw["rsr_mean_rank"]
    assert any(a < b for a, b in zip(default["rsr_mean_rank"], unclipped["rsr_mean_rank"], strict=True))
    assert read_metadata(default)["scores"]["rank_surprisal"]["rank_clip"] == 100


def test_teachers_are_ranked_by_the_ratio_of_means_not_the_mean_of_ratios(llama):
    rows = Dataset.from_list(ROWS)
    scored = score(rows, RankSurprisal(llama, rank_clip=5))
    ranking = rank_teachers(scored, by="rsr", correct=None)
    expected = naive_teacher_rsr([(r["teacher"], r["rsr_mean_rank"], r["rsr_mean_surprisal"]) for r in scored])
    for row in ranking:
        assert row["score"] == pytest.approx(expected[row["teacher"]], rel=1e-9)
    by_teacher = {r["teacher"]: r for r in ranking}
    assert by_teacher["a"]["score"] != pytest.approx(by_teacher["a"]["mean"])  # two responses: they differ
    assert ranking["score"] == sorted(ranking["score"])  # lower is better, from the metadata


def test_the_ratio_aggregate_is_hand_checked():
    """Teacher x: responses (rank 2, surprisal 1) and (rank 10, surprisal 4): ratio of means 6 / 2.5 = 2.4,
    mean of ratios (2 + 2.5) / 2 = 2.25."""
    ds = Dataset.from_dict(
        {
            "teacher": ["x", "x", "y"],
            "rsr": [2.0, 2.5, 3.0],
            "rsr_mean_rank": [2.0, 10.0, 3.0],
            "rsr_mean_surprisal": [1.0, 4.0, 1.0],
            "prompt": ["p", "q", "p"],
        }
    )
    ranking = {r["teacher"]: r for r in rank_teachers(ds, by="rsr")}
    assert ranking["x"]["score"] == pytest.approx(2.4) and ranking["x"]["mean"] == pytest.approx(2.25)
    assert ranking["x"]["rank"] == 1  # 2.4 < 3.0: lower is better


# -- the bootstrap -----------------------------------------------------------------------------------------------
def _synthetic(rng, prompts=60, means=(0.0, 0.3, 0.6), noise=1.0, spread=1.0):
    """Every teacher answers every prompt: score = teacher mean + prompt difficulty + noise. The population
    mean of each teacher is its `means` entry (difficulty and noise have mean 0)."""
    difficulty = rng.normal(0, spread, prompts)
    prompt = np.repeat(np.arange(prompts), len(means))
    teacher = np.tile(np.arange(len(means)), prompts)
    values = np.asarray(means)[teacher] + difficulty[prompt] + rng.normal(0, noise, len(prompt))
    return prompt, teacher, values


def test_intervals_cover_the_true_mean_about_95_percent_of_the_time():
    means = (0.0, 0.3, 0.6)
    covered, trials = np.zeros(len(means)), 300
    for trial in range(trials):
        prompt, teacher, values = _synthetic(np.random.default_rng(1000 + trial), means=means)
        table = TeacherTable.build(prompt, teacher, values, 60, len(means))
        boot = bootstrap_teachers(table, n_resamples=400, seed=trial, higher_is_better=True)
        covered += (boot.score_low <= np.asarray(means)) & (np.asarray(means) <= boot.score_high)
    coverage = covered / trials
    assert np.all((coverage > 0.90) & (coverage < 0.985)), coverage


def test_the_vectorised_bootstrap_equals_one_resample_at_a_time():
    prompt, teacher, values = _synthetic(np.random.default_rng(0), prompts=30)
    values[5] = np.nan  # a missing score is left out, as in the statistics
    draws = np.random.default_rng(7).integers(0, 30, size=(50, 30))
    weights = resample_weights(30, 50, np.random.default_rng(7))
    fast = TeacherTable.build(prompt, teacher, values, 30, 3).scores(weights)
    np.testing.assert_allclose(fast, naive_bootstrap(prompt, teacher, values, draws), atol=1e-12)


def _ranked(seed=0, resamples=500, **kwargs):
    prompt, teacher, values = _synthetic(np.random.default_rng(3), **kwargs)
    ds = Dataset.from_dict({"prompt": [f"p{p}" for p in prompt], "teacher": [f"t{t}" for t in teacher], "s": values})
    return rank_teachers(ds, by="s", bootstrap=resamples, seed=seed, higher_is_better=True)


def test_bootstrap_is_deterministic_for_a_seed():
    first, again, other = _ranked(seed=0), _ranked(seed=0), _ranked(seed=1)
    assert first.to_pandas().equals(again.to_pandas())  # NaN where there is no next teacher, equal too
    assert first["score_low"] != other["score_low"] and first["score"] == other["score"]


def test_a_clearly_best_teacher_ranks_first_in_every_resample():
    ranking = _ranked(means=(0.0, 0.1, 3.0), spread=0.2, noise=0.2)
    best = ranking[0]
    assert best["teacher"] == "t2" and best["p_first"] == 1.0 and best["rank_low"] == best["rank_high"] == 1
    assert sum(ranking["p_first"]) == pytest.approx(1.0)
    assert all(r["score_low"] <= r["score"] <= r["score_high"] for r in ranking)


def test_paired_comparisons_tell_apart_what_unpaired_intervals_cannot():
    """A shared prompt effect much larger than the teachers' gap: the marginal intervals overlap, the paired
    difference on the same prompts does not include 0; two teachers with equal means are not distinguishable."""
    ranking = _ranked(means=(0.0, 0.0, 0.5), spread=3.0, noise=0.2)
    top, second, third = ranking.to_list()
    assert top["teacher"] == "t2" and top["score_low"] < second["score_high"]  # intervals overlap
    assert top["next_teacher"] == second["teacher"] and top["vs_next_prompts"] == 60
    assert top["vs_next_low"] > 0  # paired: distinguishable
    assert second["vs_next_low"] < 0 < second["vs_next_high"]  # t0 vs t1: not distinguishable
    assert third["next_teacher"] is None


def test_paired_difference_is_oriented_by_the_direction():
    a, b = np.array([1.0, 2.0, 3.0, np.nan]), np.array([0.5, 1.5, 2.5, 9.0])
    up = paired_difference(a, b, n_resamples=200, seed=0, higher_is_better=True)
    down = paired_difference(a, b, n_resamples=200, seed=0, higher_is_better=False)
    assert up.difference == pytest.approx(0.5) and down.difference == pytest.approx(-0.5) and up.prompts == 3


def test_bootstrap_needs_a_prompt_column():
    ds = Dataset.from_dict({"teacher": ["a", "b"], "s": [1.0, 2.0]})
    with pytest.raises(KeyError, match="bootstrap resamples prompts"):
        rank_teachers(ds, by="s", bootstrap=100)


# -- teacher x student ---------------------------------------------------------------------------------------------
def test_one_score_under_two_students_gives_a_teacher_by_student_table(llama, gpt2):
    rows = Dataset.from_list(ROWS)
    scored = score(rows, LocalNaturalness(llama, column_suffix="llama"), LocalNaturalness(gpt2, column_suffix="gpt2"))
    plain = score(rows, LocalNaturalness(gpt2))
    np.testing.assert_allclose(scored["local_naturalness_gpt2"], plain["local_naturalness"], atol=1e-9)
    assert {"local_step_scores_llama", "local_num_steps_gpt2"} <= set(scored.column_names)
    meta = read_metadata(scored)
    assert meta["columns"]["local_naturalness_llama"]["higher_is_better"] is True
    assert meta["scores"]["local_naturalness_llama"]["model"] == "llama"
    assert meta["scores"]["local_naturalness_gpt2"]["model"] == "gpt2"
    matrix = rank_teachers(scored, by=["local_naturalness_llama", "local_naturalness_gpt2"], bootstrap=200)
    assert len(matrix) == 6 and set(matrix["model"]) == {"llama", "gpt2"}
    for column in ("local_naturalness_llama", "local_naturalness_gpt2"):
        mine = matrix.filter(lambda r, c=column: r["column"] == c)
        assert sorted(mine["rank"]) == [1, 2, 3]
        alone = rank_teachers(scored, by=column, bootstrap=200).to_pandas()
        assert mine.remove_columns(["column", "model"]).to_pandas().equals(alone)


def test_resamples_drawn_in_blocks_are_those_of_one_draw():
    from hf_select.stats import resampled

    values = np.random.default_rng(0).normal(size=37)
    whole = resample_weights(37, 250, np.random.default_rng(5)) @ values
    for block_bytes in (8 * 37, 8 * 37 * 7, 2**27):  # one resample at a time, seven, all at once
        got = resampled(lambda w: {"v": w @ values}, 37, 250, seed=5, block_bytes=block_bytes)["v"]
        assert got[0] == pytest.approx(values.sum()) and len(got) == 251
        np.testing.assert_allclose(got[1:], whole, rtol=0, atol=1e-12)
