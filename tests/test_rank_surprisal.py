"""Rank-Surprisal Ratio: ranks from the engine's chunked head equal a comparison-count reference."""

import copy

import numpy as np
import pytest
import torch
from datasets import Dataset
from test_naturalness import ROWS

from hf_select import GlobalNaturalness, RankSurprisal, ScoringModel, score
from hf_select.engine import ScoringEngine
from hf_select.engine_io import ScoringRequest
from hf_select.reference import naive_rank_surprisal, naive_token_scores


@pytest.mark.parametrize("rank_clip", [None, 5])
def test_rsr_matches_reference(tiny, rank_clip):
    out = Dataset.from_list(ROWS).map(RankSurprisal(tiny, rank_clip=rank_clip), batched=True, batch_size=2)
    for row in out:
        expected = naive_rank_surprisal(tiny, row["prompt"], row["response"], rank_clip=rank_clip)
        for key, value in expected.items():
            assert row[key] == pytest.approx(value, rel=1e-6, abs=1e-6), key
    if rank_clip:
        assert max(out["rsr_mean_rank"]) <= rank_clip


def test_rsr_is_independent_of_batching(llama):
    rows = Dataset.from_list(ROWS)
    one = score(rows, RankSurprisal(llama), batch_size=1)["rsr"]
    many = score(rows.select([4, 2, 0, 1, 3]), RankSurprisal(llama), batch_size=64)["rsr"]
    np.testing.assert_allclose([many[2], many[3], many[1], many[4], many[0]], one, rtol=1e-6)


def test_ties_count_only_strictly_larger_logits(llama):
    lm = copy.deepcopy(llama.model)
    with torch.no_grad():
        lm.lm_head.weight[7] = lm.lm_head.weight[8]  # tokens 7 and 8 always tie
    tied = ScoringModel.from_objects(lm, llama.tokenizer, model_id="tied")
    context = [0, 44, 73, 80]
    results = ScoringEngine(tied).score([ScoringRequest(context, [7]), ScoringRequest(context, [8])], ranks=True)
    assert results[0].ranks[0] == results[1].ranks[0]
    logits = lm(input_ids=torch.tensor([context])).logits[0, -1]
    assert results[0].ranks[0] == int((logits > logits[7]).sum()) + 1  # the tie partner is not counted
    assert results[0].ranks[0] == naive_token_scores(tied, context, [7])[1][0]


def test_combined_option_adds_global_from_the_same_single_pass(llama, monkeypatch):
    rows = Dataset.from_list(ROWS)
    calls = []
    original = ScoringEngine.score
    monkeypatch.setattr(
        ScoringEngine, "score", lambda self, reqs, **kw: calls.append(len(reqs)) or original(self, reqs, **kw)
    )
    combined = rows.map(RankSurprisal(llama, include_global=True), batched=True, batch_size=64)
    assert calls == [len(rows)]  # one engine call, one request (one forward pass) per row
    plain = rows.map(GlobalNaturalness(llama), batched=True)
    for col in ("global_naturalness", "global_logprob_sum", "global_num_tokens"):
        np.testing.assert_allclose(combined[col], plain[col], atol=1e-9)
    assert set(combined.column_names) >= {"rsr", "rsr_mean_rank", "rsr_mean_surprisal"}


def test_rsr_direction_is_recorded_as_lower_is_better(llama):
    from hf_select.metadata import higher_is_better, read_metadata

    out = score(Dataset.from_list(ROWS), RankSurprisal(llama, include_global=True))
    assert read_metadata(out)["columns"]["rsr"]["higher_is_better"] is False
    assert higher_is_better(out, "rsr") is False and higher_is_better(out, "global_naturalness") is True
