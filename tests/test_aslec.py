"""ASLEC (DROP and CASL) against its slow reference, the authors' splitter, and the fit over the whole split."""

import math

import numpy as np
import pytest
from datasets import Dataset, IterableDataset
from naive import naive_aslec, naive_casl
from test_naturalness import ROWS

from hf_select import Aslec, score
from hf_select.errors import ConfigError, ScoringInputError, WrongTypeError
from hf_select.metadata import read_metadata
from hf_select.scores.aslec import PARTS, casl_fit
from hf_select.steps import split_steps

TOL = 1e-4
POOL = ROWS + [{**row, "teacher": "d", "response": row["response"] + " Done. We are sure."} for row in ROWS]


@pytest.mark.parametrize(
    ("splitter", "skip_tokens"), [("aslec", 1), ("sentence", 1), ("sentence", 2), ("paragraph", 1)]
)
def test_aslec_matches_the_reference(llama, splitter, skip_tokens):
    out = score(
        Dataset.from_list(POOL), Aslec(llama, splitter=splitter, skip_tokens=skip_tokens, gamma="pooled"), batch_size=3
    )
    expected = [
        naive_aslec(llama, r["prompt"], r["response"], splitter=splitter, skip_tokens=skip_tokens) for r in POOL
    ]
    for row, ref in zip(out, expected, strict=True):
        for key, value in ref.items():
            assert row[key] == pytest.approx(value, abs=TOL), key
    np.testing.assert_allclose(out["aslec_casl"], naive_casl(expected), atol=TOL, rtol=0)
    assert max(out["aslec_num_steps"]) >= 3 and min(out["aslec_first_share"]) > 0
    first, rest = np.array(out["aslec_first_mean"]), np.array(out["aslec_rest_mean"])
    assert not np.allclose(first, rest)  # the step-initial tokens are told apart from the rest
    fit = read_metadata(out)["scores"]["aslec"]["fit"]["all rows"]
    assert fit["rows"] == len(POOL) and math.isfinite(fit["gamma"])


def test_per_teacher_gamma_equals_a_least_squares_fit_per_teacher(llama):
    """The authors' code fits gamma per teacher (merge_cal_limo_ours.py): each teacher's rows get its own."""
    pool = [{**row, "teacher": "xy"[i % 2]} for i, row in enumerate(POOL + POOL)]  # 2 teachers, enough rows each
    out = score(Dataset.from_list(pool), Aslec(llama))
    expected = [naive_aslec(llama, r["prompt"], r["response"], splitter="aslec") for r in pool]
    for teacher in "xy":
        mine = [i for i, r in enumerate(pool) if r["teacher"] == teacher]
        np.testing.assert_allclose(
            [out[i]["aslec_casl"] for i in mine], naive_casl([expected[i] for i in mine]), atol=TOL, rtol=0
        )
    fits = read_metadata(out)["scores"]["aslec"]["fit"]
    assert set(fits) == {"x", "y"} and fits["x"]["gamma"] != fits["y"]["gamma"]
    assert read_metadata(out)["scores"]["aslec"]["fitted_per"] == "teacher"
    pooled = score(Dataset.from_list(pool), Aslec(llama, gamma="pooled"))
    np.testing.assert_allclose(pooled["aslec_casl"], naive_casl(expected), atol=TOL, rtol=0)
    with pytest.raises(ConfigError, match="teacher_column applies to gamma='per_teacher' only"):
        Aslec(llama, gamma="pooled", teacher_column="model")
    with pytest.raises(ConfigError, match="gamma must be 'per_teacher' or 'pooled'"):
        Aslec(llama, gamma="per-teacher")


def test_the_authors_splitter_cuts_after_every_period_and_question_mark_space_and_nowhere_else():
    text = "First, x = 2. Then y?  So\nz = 3! Done... Yes. e.g. this."
    pieces = [text[s:e] for s, e in split_steps(text, "aslec")]
    assert pieces == ["First, x = 2. ", "Then y?  ", "So\nz = 3! Done... ", "Yes. ", "e.g. ", "this."]
    assert len(split_steps(text, "sentence")) > len(pieces) - 1  # sentence also cuts at the line break and "!"


def test_the_casl_regression_is_the_same_to_the_last_bit_in_any_row_order():
    parts = np.random.default_rng(1).normal(size=(40, len(PARTS)))
    parts[3, 1] = np.nan  # a row the model could not score is left out of the fit
    fits = [casl_fit(parts[np.random.default_rng(seed).permutation(40)]) for seed in range(5)]
    assert all(fit == fits[0] for fit in fits) and fits[0]["rows"] == 39


def test_casl_needs_the_whole_split(llama):
    with pytest.raises(ScoringInputError, match="at least 5 scored rows, and teacher 'a' has 2.*gamma='pooled'"):
        score(Dataset.from_list(ROWS[:3]), Aslec(llama))  # 2 rows cannot fit 4 coefficients: never a silent NaN
    with pytest.raises(ScoringInputError, match="at least 5 scored rows, and the split has 3"):
        score(Dataset.from_list(ROWS[:3]), Aslec(llama, gamma="pooled"))
    few = score(Dataset.from_list(ROWS[:3]), Aslec(llama, on_error="nan"))
    assert all(math.isnan(v) for v in few["aslec_casl"])  # asked for: NaN, and the reason beside it
    assert all("could not fit gamma" in e for e in few["hf_select_error"])
    assert not any(math.isnan(v) for v in few["aslec_drop"])
    stream = IterableDataset.from_generator(lambda: iter(ROWS))
    with pytest.raises(WrongTypeError, match="whole split.*materialise"):
        list(score(stream, Aslec(llama)))
    with pytest.raises(ConfigError, match="whole split"):
        Dataset.from_list(ROWS).map(Aslec(llama), batched=True)


def test_a_reply_of_step_initial_tokens_only_is_named_not_a_silent_nan(llama):
    """A one-token answer got `aslec_drop` NaN with no message under on_error="raise" (#29)."""
    rows = Dataset.from_list([*POOL, {"prompt": "2 + 2?", "response": "4", "teacher": "a"}])
    with pytest.raises(ScoringInputError, match=r"row 10, column 'response': every token of the reply"):
        score(rows, Aslec(llama, gamma="pooled"))
    out = score(rows, Aslec(llama, gamma="pooled", on_error="nan"))
    assert math.isnan(out[10]["aslec_drop"]) and "has none to average" in out[10]["hf_select_error"]
    assert not math.isnan(out[0]["aslec_drop"])
