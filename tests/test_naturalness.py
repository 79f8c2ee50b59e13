"""Global and local naturalness: the fast path equals the naive reference, whatever the batching."""

import math

import numpy as np
import pytest
from datasets import Dataset

from hf_select import GlobalNaturalness, LocalNaturalness, ScoringInputError, score
from hf_select.engine import ScoringEngine
from hf_select.metadata import read_metadata
from hf_select.reference import naive_global, naive_local

TOL = 1e-4
ROWS = [
    {"prompt": "What is 6 times 7?", "teacher": "a", "response": "First, 6 * 7 = 42.\n\nSo the answer is \\boxed{42}."},
    {
        "prompt": "Add 3.5 and 4.",
        "teacher": "b",
        "response": "We add 3.5 and 4. That gives 7.5 in total.\n\nCheck: 7.5 - 4 = 3.5.\n\nAnswer: 7.5",
    },
    {"prompt": "Ratio?", "teacher": "a", "response": "The ratio is \\frac{3}{4}."},
    {
        "prompt": "Natalia sold clips.",
        "teacher": "c",
        "response": "  Natalia sold 48 clips in April.\n\nIn May she sold half: 24.\n\n\nTotal: 72.\n",
    },
    {
        "prompt": "Perimeter?",
        "teacher": "b",
        "response": "Step 1: read.\nStep 2: 2(5 + 8) = 26.\n\nWait, that is right.\n\nThe perimeter is 26 cm.",
    },
]


@pytest.fixture
def rows():
    return Dataset.from_list(ROWS)


def _close(got, expected):
    for key, value in expected.items():
        if key in ("ranks", "logprobs"):
            continue
        if isinstance(value, list):
            np.testing.assert_allclose(got[key], value, atol=TOL, rtol=0, err_msg=key)
        else:
            assert got[key] == pytest.approx(value, abs=TOL), key


@pytest.mark.parametrize("layout", ["auto", "plain", "chat"])
def test_global_matches_reference(llama, rows, layout):
    out = rows.map(GlobalNaturalness(llama, layout=layout), batched=True, batch_size=2)
    for row in out:
        _close(row, naive_global(llama, row["prompt"], row["response"], layout=layout))
    response_ids = llama.tokenizer(ROWS[0]["response"], add_special_tokens=False)["input_ids"]
    assert out[0]["global_num_tokens"] == len(response_ids)


def test_global_matches_reference_on_every_tiny_model(tiny, rows):
    out = rows.map(GlobalNaturalness(tiny), batched=True)
    for row in out:
        _close(row, naive_global(tiny, row["prompt"], row["response"]))


@pytest.mark.parametrize("window", [0, 1, 2, 5])
def test_local_matches_reference(tiny, rows, window):
    out = rows.map(LocalNaturalness(tiny, window=window), batched=True, batch_size=3)
    for row in out:
        expected = naive_local(tiny, row["response"], window=window)
        _close(row, expected)
        assert row["local_num_steps"] == len(row["local_step_scores"]) >= 1


@pytest.mark.parametrize("layout", ["plain", "chat"])
def test_local_with_prompt_matches_reference(llama, rows, layout):
    out = rows.map(LocalNaturalness(llama, include_prompt=True, layout=layout, splitter="sentence"), batched=True)
    for row in out:
        _close(
            row,
            naive_local(
                llama, row["response"], include_prompt=True, prompt=row["prompt"], layout=layout, splitter="sentence"
            ),
        )


def test_window_and_prompt_change_the_numbers(llama, rows):
    """The context really is used: different windows give different step scores after the first step."""
    w0 = rows.map(LocalNaturalness(llama, window=0), batched=True)["local_step_scores"]
    w2 = rows.map(LocalNaturalness(llama, window=2), batched=True)["local_step_scores"]
    assert w0[1][0] == pytest.approx(w2[1][0], abs=TOL)  # step 0 has no previous steps either way
    assert abs(w0[1][1] - w2[1][1]) > 1e-3


def test_single_row_equals_batched(llama, rows):
    scorer = LocalNaturalness(llama)
    batched = rows.map(scorer, batched=True)
    single = rows.map(scorer, batched=False)
    np.testing.assert_allclose(batched["local_naturalness"], single["local_naturalness"], atol=1e-9)
    row = scorer(ROWS[1])
    assert row["local_naturalness"] == pytest.approx(batched[1]["local_naturalness"], abs=1e-9)


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_score_is_independent_of_batch_size_and_order(llama, rows, batch_size):
    scorers = [GlobalNaturalness(llama), LocalNaturalness(llama)]
    reference = score(rows, *scorers, batch_size=64)
    out = score(rows, *scorers, batch_size=batch_size)
    reversed_rows = score(rows.select(range(len(rows) - 1, -1, -1)), *scorers, batch_size=batch_size)
    for col in ("global_naturalness", "local_naturalness"):
        np.testing.assert_allclose(out[col], reference[col], atol=TOL, rtol=0)
        np.testing.assert_allclose(reversed_rows[col][::-1], reference[col], atol=TOL, rtol=0)


def test_num_proc_2_gives_the_same_columns(llama, rows):
    scorers = [GlobalNaturalness(llama), LocalNaturalness(llama)]
    one = score(rows, *scorers)
    two = score(rows, *scorers, num_proc=2, batch_size=2)
    for col in ("global_naturalness", "local_naturalness", "global_num_tokens"):
        np.testing.assert_allclose(two[col], one[col], atol=TOL, rtol=0)


def test_score_records_definitions_in_the_dataset(llama, rows):
    out = score(rows, LocalNaturalness(llama, window=3))
    meta = read_metadata(out)
    config = meta["scores"]["local_naturalness"]
    assert config["window"] == 3 and config["model_identity"] == llama.identity
    assert config["splitter"].startswith("paragraph")
    assert meta["columns"]["local_naturalness"]["higher_is_better"] is True
    assert read_metadata(out.filter(lambda r: True)) == meta  # survives further transforms


# -- bad input -------------------------------------------------------------------------------------------
def test_missing_column_is_named(llama, rows):
    with pytest.raises(KeyError, match="'answer_text'.*response_column"):
        rows.map(LocalNaturalness(llama, response_column="answer_text"), batched=True)


@pytest.mark.parametrize("bad", [None, 3, "", "   \n"])
@pytest.mark.parametrize("scorer_class", [GlobalNaturalness, LocalNaturalness])
def test_bad_response_names_row_and_column(llama, bad, scorer_class):
    batch = {"prompt": ["a", "b"], "response": [ROWS[0]["response"], bad]}
    with pytest.raises(ScoringInputError, match=r"row 11, column 'response'") as err:
        scorer_class(llama)(batch, indices=[10, 11])
    assert "on_error='nan'" in str(err.value)
    with pytest.raises(ScoringInputError, match=r"row 1 of this batch.*with_indices=True"):
        scorer_class(llama)(batch)


def test_empty_prompt_is_an_error_for_global_only(llama):
    ds = Dataset.from_list([{**ROWS[0], "prompt": ""}])
    with pytest.raises(ScoringInputError, match="column 'prompt'"):
        score(ds, GlobalNaturalness(llama))
    assert not math.isnan(score(ds, LocalNaturalness(llama))[0]["local_naturalness"])


def test_on_error_nan_fills_error_column(llama):
    ds = Dataset.from_list([ROWS[0], {**ROWS[1], "response": ""}, ROWS[2]])
    out = score(ds, GlobalNaturalness(llama, on_error="nan"), LocalNaturalness(llama, on_error="nan"))
    assert math.isnan(out[1]["global_naturalness"]) and math.isnan(out[1]["local_naturalness"])
    assert out[1]["local_step_scores"] is None and out[1]["global_num_tokens"] is None
    assert "global_naturalness: row 1" in out[1]["hf_select_error"]
    assert "local_naturalness: row 1" in out[1]["hf_select_error"]  # both scorers' messages are kept
    assert out[0]["hf_select_error"] is None and not math.isnan(out[0]["global_naturalness"])


LONG = "The sum is 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 = 45, because we add each term. " * 30  # > 1024 tokens


def test_too_long_is_an_error_by_default(llama):
    ds = Dataset.from_list([ROWS[0], {**ROWS[0], "response": LONG}])
    with pytest.raises(ScoringInputError, match=r"row 1, column 'response'.*at most 1024.*truncate_left"):
        score(ds, GlobalNaturalness(llama))


def test_overflow_nan_and_truncate_left(llama):
    ds = Dataset.from_list([{**ROWS[0], "response": LONG}])
    nan = score(ds, GlobalNaturalness(llama, on_overflow="nan"))[0]
    assert math.isnan(nan["global_naturalness"]) and "at most 1024" in nan["hf_select_error"]
    with pytest.raises(ScoringInputError, match="is empty"):  # other bad input still raises
        GlobalNaturalness(llama, on_overflow="nan")({"prompt": ["p"], "response": [""]})
    cut = score(ds, GlobalNaturalness(llama, on_overflow="truncate_left"))[0]
    target = llama.tokenizer(LONG, add_special_tokens=False)["input_ids"]
    assert cut["global_num_tokens"] == 1023 < len(target)  # one context token stays; the oldest targets go
    from hf_select.reference import naive_token_scores

    expected = naive_token_scores(llama, target[-1024:-1023], target[-1023:])[0]
    assert cut["global_logprob_sum"] == pytest.approx(float(expected.astype(np.float64).sum()), abs=1e-3)


# -- caching ---------------------------------------------------------------------------------------------
def test_rerun_is_a_cache_hit_and_a_changed_window_is_not(llama, tmp_path, monkeypatch):
    path = tmp_path / "rows.jsonl"
    Dataset.from_list(ROWS).to_json(path)
    from datasets import load_dataset

    ds = load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache"))
    first = score(ds, LocalNaturalness(llama, window=2))
    calls = []
    original = ScoringEngine.score
    monkeypatch.setattr(ScoringEngine, "score", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    again = score(ds, LocalNaturalness(llama, window=2))
    assert calls == [] and again["local_naturalness"] == first["local_naturalness"]
    assert again.cache_files == first.cache_files
    changed = score(ds, LocalNaturalness(llama, window=1))
    assert calls and changed.cache_files != first.cache_files


def test_chunked_scoring_equals_one_map_and_resumes_after_an_interruption(llama, tmp_path, monkeypatch):
    from datasets import load_dataset

    path = tmp_path / "rows.jsonl"
    Dataset.from_list(ROWS * 4).to_json(path)
    ds = load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache"))
    whole = score(ds, LocalNaturalness(llama), checkpoint_rows=None)
    original = LocalNaturalness.__call__
    calls = []

    def fail_in_third_chunk(self, batch, indices=None):
        calls.append(list(indices))
        if indices[0] >= 10:
            raise KeyboardInterrupt  # the run is interrupted while scoring rows 10-14
        return original(self, batch, indices)

    monkeypatch.setattr(LocalNaturalness, "__call__", fail_in_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        score(ds, LocalNaturalness(llama), checkpoint_rows=5, batch_size=5)
    assert calls == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11, 12, 13, 14]]  # dataset row numbers, not chunk's
    calls.clear()
    monkeypatch.setattr(
        LocalNaturalness, "__call__", lambda self, b, i=None: calls.append(list(i)) or original(self, b, i)
    )
    resumed = score(ds, LocalNaturalness(llama), checkpoint_rows=5, batch_size=5)
    assert calls == [[10, 11, 12, 13, 14], [15, 16, 17, 18, 19]]  # the first two chunks came from the cache
    np.testing.assert_allclose(resumed["local_naturalness"], whole["local_naturalness"], atol=TOL, rtol=0)
    assert read_metadata(resumed)["scores"]["local_naturalness"]["window"] == 2
    calls.clear()
    again = score(ds, LocalNaturalness(llama), checkpoint_rows=5, batch_size=5)
    assert calls == [] and again._fingerprint == resumed._fingerprint  # stable, so later steps cache too
