"""IFD (Cherry LLM) against its slow reference, its response prefix, and selection at either end."""

import numpy as np
import pytest
from datasets import Dataset
from naive import naive_ifd
from test_naturalness import ROWS

from hf_select import Ifd, score, select_best
from hf_select.errors import ConfigError
from hf_select.metadata import higher_is_better, read_metadata

TOL = 1e-4
POOL = ROWS + [{**row, "teacher": "d", "response": row["response"] + " Done. We are sure."} for row in ROWS]


@pytest.mark.parametrize("model_name", ["llama", "nobos"])  # BOS before the response alone, or EOS without one
def test_ifd_matches_the_reference(model_name, request):
    model = request.getfixturevalue(model_name)
    out = score(Dataset.from_list(ROWS), Ifd(model), batch_size=2)
    for row in out:
        expected = naive_ifd(model, row["prompt"], row["response"])
        for key, value in expected.items():
            assert row[key] == pytest.approx(value, abs=TOL), key
    assert 0.5 < np.mean(out["ifd"]) < 2  # a ratio of two mean losses of the same text
    assert read_metadata(out)["columns"]["ifd"]["higher_is_better"] is True  # the paper keeps the highest


def test_ifd_scores_the_same_response_prefix_in_both_halves(llama):
    """Cherry's cut: the first N response tokens with and without the prompt, never a truncation that drops the
    prompt (which made both halves identical and IFD exactly 1)."""
    rows = Dataset.from_list(ROWS)
    out = score(rows, Ifd(llama, max_tokens=5), batch_size=2)
    for row in out:
        expected = naive_ifd(llama, row["prompt"], row["response"], max_tokens=5)
        for key, value in expected.items():
            assert row[key] == pytest.approx(value, abs=TOL), key
    whole = score(rows, Ifd(llama), batch_size=2)
    assert out["ifd"] != whole["ifd"] and 1.0 not in out["ifd"]
    assert read_metadata(out)["scores"]["ifd_conditional"]["max_tokens"] == 5  # in the cache key and the card
    with pytest.raises(ConfigError, match="truncate_left.*IFD is exactly 1.*max_tokens=512"):
        Ifd(llama, on_overflow="truncate_left")
    with pytest.raises(ConfigError, match="max_tokens must be a positive integer"):
        Ifd(llama, max_tokens=0)


def test_ifd_selection_takes_either_end(llama):
    scored = score(
        Dataset.from_list(POOL).map(lambda r, i: {"prompt_id": i % len(ROWS)}, with_indices=True), Ifd(llama)
    )
    assert higher_is_better(scored, "ifd") is True
    high = select_best(scored, by="ifd", group="prompt_id")
    low = select_best(scored, by="ifd", group="prompt_id", higher_is_better=False, bounded=False)
    by_prompt = {}
    for row in scored:
        by_prompt.setdefault(row["prompt_id"], []).append(row["ifd"])
    bounded = {p: max(x for x in v if x <= 1) for p, v in by_prompt.items() if min(v) <= 1}  # Cherry drops IFD > 1
    assert dict(zip(high["prompt_id"], high["ifd"], strict=True)) == bounded
    unbounded = select_best(scored, by="ifd", group="prompt_id", bounded=False)
    assert dict(zip(unbounded["prompt_id"], unbounded["ifd"], strict=True)) == {p: max(v) for p, v in by_prompt.items()}
    assert dict(zip(low["prompt_id"], low["ifd"], strict=True)) == {p: min(v) for p, v in by_prompt.items()}
