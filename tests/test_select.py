"""hf_select.select: best-per-group selection, teacher ranking, filters, summaries (hand-computed cases)."""

import logging
import math
import time

import numpy as np
import pyarrow.compute as pc
import pytest
from datasets import Dataset

from hf_select.errors import MissingColumnError
from hf_select.metadata import read_metadata, record_score
from hf_select.select import (
    filter_equals,
    filter_quantile,
    filter_threshold,
    rank_teachers,
    select_best,
    select_by_divergence,
    selection_summary,
)

NAN = math.nan
RSR_COLUMNS = {"rsr": {"score": "rsr", "higher_is_better": False, "definition": "mean rank / surprisal"}}


def make(**columns) -> Dataset:
    """Rows whose score columns (``s``, ``score``) say, as a score's metadata does, that higher is better."""
    return as_scores(Dataset.from_dict(columns))


def as_scores(ds: Dataset, higher_is_better: bool = True) -> Dataset:
    columns = {
        c: {"score": "test", "higher_is_better": higher_is_better, "definition": "a test score"}
        for c in ("s", "score")
        if c in ds.column_names
    }
    return record_score(ds, "test", {"score": "test"}, columns) if columns else ds


def ids(ds: Dataset) -> list:
    return ds["id"][:]


@pytest.fixture
def scored() -> Dataset:
    """Three prompts, four teachers; prompt `c` has only missing scores."""
    return make(
        id=list(range(9)),
        prompt=["a", "a", "a", "b", "b", "c", "c", "b", "a"],
        teacher=["t1", "t2", "t3", "t1", "t2", "t1", "t2", "t3", "t4"],
        s=[0.5, 0.9, 0.9, 0.2, NAN, NAN, None, 0.1, 0.7],
        is_correct=[True, False, True, True, True, True, False, True, None],
    )


# ------------------------------------------------------------------------------------------ select_best


def test_best_per_group_first_row_wins_ties_and_output_is_in_dataset_order(scored):
    # a: rows 1 and 2 tie at 0.9 -> row 1 (first); b: 0.2 (row 3) beats 0.1, NaN never wins; c dropped
    out = select_best(scored, by="s")
    assert ids(out) == [1, 3]
    assert out.column_names == scored.column_names


def test_nan_and_null_never_win_even_against_lower_is_better():
    ds = make(id=[0, 1, 2, 3], prompt=["a"] * 4, s=[NAN, 5.0, None, 7.0])
    assert ids(select_best(ds, by="s")) == [3]
    assert ids(select_best(ds, by="s", higher_is_better=False)) == [1]  # NaN must not pose as the minimum


def test_all_missing_group_is_dropped_with_a_warning(scored, caplog):
    with caplog.at_level(logging.WARNING, logger="hf_select.select"):
        out = select_best(scored, by="s")
    assert "c" not in out["prompt"]
    messages = [r.getMessage() for r in caplog.records if r.name == "hf_select.select"]
    assert len(messages) == 1 and "dropped 1 of 3" in messages[0] and "NaN/null" in messages[0]


def test_no_warning_when_nothing_is_dropped(caplog):
    ds = make(prompt=["a", "b"], s=[1.0, 2.0])
    with caplog.at_level(logging.WARNING, logger="hf_select.select"):
        assert len(select_best(ds, by="s")) == 2
    assert not [r for r in caplog.records if r.name == "hf_select.select"]


def test_among_boolean_column(scored, caplog):
    # a: correct rows 0 (0.5) and 2 (0.9) -> 2, the better false row 1 is no candidate; b: 3 (0.2);
    # c: the only correct row has a NaN score -> dropped; row 8's null flag counts as false
    with caplog.at_level(logging.WARNING, logger="hf_select.select"):
        assert ids(select_best(scored, by="s", among="is_correct")) == [2, 3]
    assert "dropped 1 of 3" in caplog.text


def test_among_groups_with_no_candidate_are_dropped_and_counted(caplog):
    ds = make(id=[0, 1, 2], prompt=["a", "b", "b"], ok=[False, True, False], s=[9.0, 1.0, 2.0])
    with caplog.at_level(logging.WARNING, logger="hf_select.select"):
        assert ids(select_best(ds, by="s", among="ok")) == [1]
    assert "dropped 1 of 2" in caplog.text and "1 with no row passing among=ok" in caplog.text


def test_among_callable_gets_every_column(scored):
    seen = {}

    def only_t1_t4(table):
        seen["columns"] = table.column_names
        return pc.or_(pc.equal(table["teacher"], "t1"), pc.equal(table["teacher"], "t4"))

    # a: t1 (0.5) vs t4 (0.7) -> row 8; b: t1 row 3
    assert ids(select_best(scored, by="s", among=only_t1_t4)) == [3, 8]
    assert seen["columns"] == scored.column_names


def test_among_callable_may_return_numpy_or_list_and_is_checked():
    ds = make(id=[0, 1, 2], prompt=["a"] * 3, s=[3.0, 2.0, 1.0])
    assert ids(select_best(ds, by="s", among=lambda t: np.array([False, True, True]))) == [1]
    assert ids(select_best(ds, by="s", among=lambda t: [False, False, True])) == [2]
    with pytest.raises(ValueError, match="3 rows"):
        select_best(ds, by="s", among=lambda t: [True])
    with pytest.raises(TypeError, match="boolean"):
        select_best(ds, by="s", among=lambda t: t["s"])


def test_top_k_two_ties_fill_in_dataset_order(scored):
    # a: 0.9 (1), 0.9 (2), 0.7 (8), 0.5 (0) -> rows 1, 2; b: 0.2 (3), 0.1 (7), NaN -> 3, 7
    assert ids(select_best(scored, by="s", top_k=2)) == [1, 2, 3, 7]
    # a group with fewer candidates than top_k keeps all of them
    assert ids(select_best(scored, by="s", top_k=5)) == [0, 1, 2, 3, 7, 8]


def test_top_k_with_among_and_lower_is_better(scored):
    # correct and lowest first: a: 0.5 (0), 0.9 (2); b: 0.1 (7), 0.2 (3)
    assert ids(select_best(scored, by="s", among="is_correct", top_k=2, higher_is_better=False)) == [0, 2, 3, 7]


def test_lower_is_better_explicit_flag(scored):
    # a: 0.5 (row 0); b: 0.1 (row 7)
    assert ids(select_best(scored, by="s", higher_is_better=False)) == [0, 7]


def test_lower_is_better_from_recorded_metadata():
    ds = make(id=[0, 1, 2, 3], prompt=["p", "p", "q", "q"], rsr=[2.0, 1.0, 3.0, 4.0])
    record_score(ds, "rsr", {"score": "rsr"}, RSR_COLUMNS)
    assert ids(select_best(ds, by="rsr")) == [1, 2]  # the lowest RSR per prompt
    assert ids(select_best(ds, by="rsr", higher_is_better=True)) == [0, 3]  # an explicit flag wins


def test_known_direction_without_metadata_is_used():
    # `rsr` is a known lower-is-better score even when the dataset carries no metadata
    ds = make(id=[0, 1], prompt=["p", "p"], rsr=[2.0, 1.0])
    assert ids(select_best(ds, by="rsr")) == [1]


def test_metadata_and_description_survive_selection():
    ds = make(id=[0, 1, 2], prompt=["p", "p", "q"], rsr=[2.0, 1.0, 3.0])
    ds.info.description = "my data"
    record_score(ds, "rsr", {"score": "rsr", "window": 3}, RSR_COLUMNS)
    for out in (
        select_best(ds, by="rsr"),
        filter_threshold(ds, "rsr", max=2.0),
        filter_quantile(ds, "rsr", lower=0.5),
        filter_equals(ds, "prompt", "p"),
    ):
        assert out.info.description == ds.info.description
        assert read_metadata(out)["columns"]["rsr"]["higher_is_better"] is False
        assert out._fingerprint != ds._fingerprint


def test_selected_input_is_handled_by_logical_rows():
    ds = make(id=[0, 1, 2, 3, 4], prompt=["a", "a", "b", "b", "a"], s=[1.0, 1.0, 2.0, 2.0, 0.0])
    reversed_ = ds.select([4, 3, 2, 1, 0])
    assert reversed_._indices is not None
    # logical order 4, 3, 2, 1, 0: ties now go to rows 3 (b) and 1 (a), output in that logical order
    assert ids(select_best(reversed_, by="s")) == [3, 1]
    subset = ds.select([1, 2, 4])
    assert ids(select_best(subset, by="s")) == [1, 2]


def test_memory_mapped_and_concatenated_input(tmp_path):
    from datasets import concatenate_datasets, load_from_disk

    one = make(id=[0, 1, 2], prompt=["a", "a", "b"], s=[1.0, 3.0, 2.0])
    two = make(id=[3, 4], prompt=["a", "b"], s=[3.0, 5.0])
    both = concatenate_datasets([one, two]).shuffle(seed=0)
    both.save_to_disk(tmp_path / "ds")
    for ds in (both, load_from_disk(tmp_path / "ds"), load_from_disk(tmp_path / "ds").shuffle(seed=1)):
        order = ids(ds)
        first_three = min((1, 3), key=order.index)  # rows 1 and 3 tie at 3.0 in group a
        assert sorted(ids(select_best(ds, by="s"))) == sorted([first_three, 4])
        assert ids(select_best(ds, by="s")) == [i for i in order if i in (first_three, 4)]


def naive_best(rows, by, group, top_k, up):
    """Reference: python over rows (fine in a test)."""
    best = {}
    for i, row in enumerate(rows):
        v = row[by]
        if v is None or math.isnan(v):
            continue
        best.setdefault(row[group], []).append((-v if up else v, i))
    return sorted(i for cands in best.values() for _, i in sorted(cands)[:top_k])


def test_shuffled_input_matches_a_naive_reference():
    rng = np.random.default_rng(0)
    n = 300
    scores = rng.integers(0, 5, n).astype(float)  # many ties
    scores[rng.random(n) < 0.1] = NAN
    ds = make(id=list(range(n)), prompt=[f"p{i}" for i in rng.integers(0, 40, n)], s=scores.tolist())
    shuffled = ds.shuffle(seed=3)
    assert shuffled._indices is not None
    rows = shuffled.to_list()
    for top_k, up in ((1, True), (2, True), (3, False)):
        expected = [rows[i]["id"] for i in naive_best(rows, "s", "prompt", top_k, up)]
        got = select_best(shuffled, by="s", top_k=top_k, higher_is_better=up)
        assert ids(got) == expected


def test_integer_scores_and_null_group():
    ds = make(id=[0, 1, 2, 3], prompt=["a", None, None, "a"], s=[1, 5, 7, 2])
    assert ids(select_best(ds, by="s")) == [2, 3]  # null prompts form one group


def test_empty_and_all_null_datasets(caplog):
    ds = make(id=[], prompt=[], teacher=[], s=[])
    assert len(select_best(ds, by="s")) == 0
    assert len(rank_teachers(ds, by="s")) == 0
    nulls = make(id=[0, 1], prompt=["a", "b"], teacher=["x", "x"], s=[None, None])
    with caplog.at_level(logging.WARNING, logger="hf_select.select"):
        assert len(select_best(nulls, by="s")) == 0
    assert "dropped 2 of 2" in caplog.text
    (row,) = rank_teachers(nulls, by="s").to_list()
    assert row["count"] == 0 and row["n_missing"] == 2 and math.isnan(row["mean"])
    assert ids(filter_threshold(nulls, "s", min=0, keep_nan=True)) == [0, 1]


def test_select_best_errors(scored):
    with pytest.raises(KeyError, match=r"'nope'.*available.*'prompt'"):
        select_best(scored, by="nope")
    with pytest.raises(KeyError, match="'grp'"):
        select_best(scored, by="s", group="grp")
    with pytest.raises(KeyError, match="'correct'"):
        select_best(scored, by="s", among="correct")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="top_k"):
            select_best(scored, by="s", top_k=bad)
    with pytest.raises(TypeError, match="numeric"):
        select_best(scored, by="teacher")
    with pytest.raises(TypeError, match="boolean"):
        select_best(scored, by="s", among="teacher")


def test_200k_rows_is_fast():
    rng = np.random.default_rng(1)
    n = 200_000
    scores = rng.random(n)
    scores[::97] = NAN
    ds = make(prompt=rng.integers(0, 50_000, n).astype(str).tolist(), s=scores, ok=rng.random(n) < 0.8).shuffle(1)
    start = time.perf_counter()
    out = select_best(ds, by="s", among="ok", top_k=2)
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"select_best took {elapsed:.2f}s on {n} rows"
    assert 0 < len(out) <= 2 * 50_000 and all(out["ok"][:]) and not np.isnan(out["s"][:]).any()


# ---------------------------------------------------------------------------------------- rank_teachers


@pytest.fixture
def teachers() -> Dataset:
    return make(
        teacher=["x", "x", "x", "x", "y", "y", "y", "z", "w", "w"],
        s=[1.0, 4.0, 2.0, NAN, 3.0, 7.0, 2.0, 9.0, None, NAN],
        is_correct=[True, False, True, True, True, True, None, False, True, False],
    )


def test_rank_teachers_statistics_match_numpy(teachers):
    table = {r["teacher"]: r for r in rank_teachers(teachers, by="s").to_list()}
    x, y = np.array([1.0, 4.0, 2.0]), np.array([3.0, 7.0, 2.0])
    for name, values in (("x", x), ("y", y)):
        row = table[name]
        assert row["count"] == len(values)
        assert row["mean"] == pytest.approx(values.mean())
        assert row["median"] == pytest.approx(np.median(values))
        assert row["std"] == pytest.approx(values.std(ddof=1))
        assert (row["min"], row["max"]) == (values.min(), values.max())
    assert table["x"]["n_missing"] == 1 and table["y"]["n_missing"] == 0
    assert table["x"]["accuracy"] == pytest.approx(3 / 4)  # over all of x's rows, the NaN-scored one too
    assert table["y"]["accuracy"] == pytest.approx(1.0)  # the null flag is ignored
    z = table["z"]
    assert z["count"] == 1 and z["median"] == 9.0 and math.isnan(z["std"])  # sample std of one value
    w = table["w"]
    assert w["count"] == 0 and w["n_missing"] == 2 and math.isnan(w["mean"]) and w["accuracy"] == 0.5


def test_rank_teachers_even_count_median():
    ds = make(teacher=["a"] * 4, s=[10.0, 1.0, 4.0, 2.0])
    assert rank_teachers(ds, by="s")["median"][0] == 3.0


def test_rank_teachers_order_and_direction(teachers):
    ranked = rank_teachers(teachers, by="s")
    # means: z 9, y 4, x 7/3, w none (last)
    assert ranked["teacher"][:] == ["z", "y", "x", "w"]
    assert ranked["rank"][:] == [1, 2, 3, 4]
    assert rank_teachers(teachers, by="s", higher_is_better=False)["teacher"][:] == ["x", "y", "z", "w"]


def test_rank_teachers_lower_is_better_from_metadata_and_ties_by_name():
    ds = make(teacher=["b", "a", "c", "b", "a"], loss=[1.0, 2.0, 1.5, 3.0, 2.0])
    record_score(ds, "loss", {"score": "loss"}, {"loss": {**RSR_COLUMNS["rsr"], "aggregate": None}})
    # means: a 2.0, b 2.0 (tie -> by name), c 1.5 (lowest = best)
    assert rank_teachers(ds, by="loss")["teacher"][:] == ["c", "a", "b"]


def test_a_ratio_score_without_its_parts_is_an_error_not_a_mean_of_ratios():
    ds = make(teacher=["b", "a", "c", "b", "a"], rsr=[1.0, 2.0, 1.5, 3.0, 2.0])
    record_score(ds, "rsr", {"score": "rsr"}, RSR_COLUMNS)
    with pytest.raises(MissingColumnError, match="a ratio of means.*no 'rsr_mean_rank'"):
        rank_teachers(ds, by="rsr")


def test_rank_teachers_without_correct_column(teachers):
    assert "accuracy" not in rank_teachers(teachers.remove_columns("is_correct"), by="s").column_names
    assert "accuracy" not in rank_teachers(teachers, by="s", correct=None).column_names
    ranked = rank_teachers(teachers, by="s")
    assert ranked.column_names == [
        "rank",
        "teacher",
        "count",
        "n_missing",
        "score",
        "mean",
        "median",
        "std",
        "min",
        "max",
        "accuracy",
    ]
    assert list(ranked.to_pandas()["teacher"]) == ["z", "y", "x", "w"]


def test_rank_teachers_on_shuffled_input_and_renamed_column(teachers):
    shuffled = teachers.rename_column("teacher", "model").shuffle(seed=0)
    ranked = rank_teachers(shuffled, by="s", teacher="model")
    assert ranked["teacher"][:] == ["z", "y", "x", "w"]
    assert ranked["median"][2] == 2.0


def test_rank_teachers_errors(teachers):
    with pytest.raises(KeyError, match="'who'"):
        rank_teachers(teachers, by="s", teacher="who")
    with pytest.raises(KeyError, match="'score'"):
        rank_teachers(teachers, by="score")


# --------------------------------------------------------------------------------------------- filters


@pytest.fixture
def values() -> Dataset:
    return make(id=list(range(8)), v=[1.0, 2.0, 3.0, NAN, 4.0, 5.0, None, 6.0])


def test_filter_threshold_inclusive_bounds(values):
    assert ids(filter_threshold(values, "v", min=2.0)) == [1, 2, 4, 5, 7]
    assert ids(filter_threshold(values, "v", max=4.0)) == [0, 1, 2, 4]
    assert ids(filter_threshold(values, "v", min=2, max=4)) == [1, 2, 4]
    assert ids(filter_threshold(values, "v", min=3.0, max=3.0)) == [2]


def test_filter_threshold_keep_nan(values):
    assert ids(filter_threshold(values, "v", min=5.0, keep_nan=True)) == [3, 5, 6, 7]


def test_filter_threshold_on_selected_input(values):
    picked = values.select([7, 0, 3, 4])
    assert ids(filter_threshold(picked, "v", min=1.5)) == [7, 4]


def test_filter_threshold_errors(values):
    with pytest.raises(ValueError, match="at least one"):
        filter_threshold(values, "v")
    with pytest.raises(ValueError, match="greater than max"):
        filter_threshold(values, "v", min=3, max=2)
    with pytest.raises(ValueError, match="number"):
        filter_threshold(values, "v", min=NAN)
    with pytest.raises(KeyError, match=r"'w'.*available"):
        filter_threshold(values, "w", min=1)


def test_filter_quantile(values):
    # non-NaN values 1..6: median 3.5 -> top half
    assert ids(filter_quantile(values, "v", lower=0.5)) == [4, 5, 7]
    assert ids(filter_quantile(values, "v", upper=0.5)) == [0, 1, 2]
    # 0.2 quantile = 2.0, 0.8 quantile = 5.0 (linear, like numpy), both inclusive
    assert np.quantile([1, 2, 3, 4, 5, 6], [0.2, 0.8]).tolist() == [2.0, 5.0]
    assert ids(filter_quantile(values, "v", lower=0.2, upper=0.8)) == [1, 2, 4, 5]
    assert ids(filter_quantile(values, "v", lower=0.0, upper=1.0)) == [0, 1, 2, 4, 5, 7]  # all but NaN/null
    assert ids(filter_quantile(values, "v", lower=1.0)) == [7]


def test_filter_quantile_all_missing_keeps_nothing(caplog):
    ds = make(v=[NAN, None])
    with caplog.at_level(logging.WARNING, logger="hf_select.select"):
        assert len(filter_quantile(ds, "v", lower=0.5)) == 0
    assert "no non-NaN" in caplog.text


def test_filter_quantile_errors(values):
    with pytest.raises(ValueError, match="at least one"):
        filter_quantile(values, "v")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        filter_quantile(values, "v", lower=-0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        filter_quantile(values, "v", upper=1.5)
    with pytest.raises(ValueError, match="greater than upper"):
        filter_quantile(values, "v", lower=0.8, upper=0.2)
    with pytest.raises(KeyError, match="'x'"):
        filter_quantile(values, "x", lower=0.5)


def test_filter_equals(scored):
    assert ids(filter_equals(scored, "is_correct", True)) == [0, 2, 3, 4, 5, 7]  # null never matches
    assert ids(filter_equals(scored, "teacher", "t2")) == [1, 4, 6]
    with pytest.raises(TypeError, match="cannot compare"):
        filter_equals(scored, "is_correct", "maybe")


def test_select_by_divergence():
    ds = make(
        id=list(range(6)),
        prov_divergence=[0.1, 0.5, NAN, 0.9, 0.5, 0.3],
        prov_frac_teacher_originated=[0.9, 0.1, 1.0, 0.6, 0.8, 0.2],
    )
    # median of 0.1, 0.3, 0.5, 0.5, 0.9 is 0.5 -> rows 1, 3, 4
    assert ids(select_by_divergence(ds, quantile=0.5)) == [1, 3, 4]
    assert ids(select_by_divergence(ds, quantile=0.5, min_teacher_fraction=0.5)) == [3, 4]
    assert ids(select_by_divergence(ds, top_k=2)) == [1, 3]  # 0.9, then the first 0.5
    with pytest.raises(ValueError, match="at least one"):
        select_by_divergence(ds)


# --------------------------------------------------------------------------------------------- summary


def test_selection_summary(scored):
    after = select_best(scored, by="s", top_k=2)  # rows 1, 2, 3, 7: t2, t3, t1, t3
    summary = selection_summary(scored, after)
    assert summary == {
        "rows_before": 9,
        "rows_after": 4,
        "teacher_mix": {"t3": 2, "t1": 1, "t2": 1},
        "accuracy_after": 0.75,
    }
    assert list(summary["teacher_mix"]) == ["t3", "t1", "t2"]
    assert selection_summary(scored, after, correct=None)["accuracy_after"] is None
    assert selection_summary(scored, after.remove_columns("is_correct"))["accuracy_after"] is None
