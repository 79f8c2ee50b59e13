"""The engine against the naive reference: mixed lengths, batching, ordering, long inputs, ranks."""

import random

import numpy as np
import pytest

from hf_select.engine import ScoringEngine
from hf_select.engine_io import ScoringRequest
from hf_select.reference import naive_token_scores

TOL = 1e-4


def _requests(model, n=25, seed=0, max_len=200):
    rng = random.Random(seed)
    vocab = len(model.tokenizer)
    out = []
    for _ in range(n):
        total = rng.choice([2, 3, 5, 17, 40, 90, max_len])
        context = rng.randint(1, total - 1)
        ids = [rng.randrange(vocab) for _ in range(total)]
        out.append(ScoringRequest(ids[:context], ids[context:]))
    return out


def _naive(model, requests):
    return [naive_token_scores(model, list(r.context), list(r.target)) for r in requests]


def test_engine_matches_naive_reference_on_mixed_lengths(tiny):
    requests = _requests(tiny)
    expected = _naive(tiny, requests)
    got = ScoringEngine(tiny).score(requests, ranks=True)
    for (lp, rk), res in zip(expected, got, strict=True):
        assert res.logprobs.shape == lp.shape
        np.testing.assert_allclose(res.logprobs, lp, atol=TOL, rtol=0)
        np.testing.assert_array_equal(res.ranks, rk)
    # the reference is sensitive: dropping one context token changes the numbers a lot
    shifted = naive_token_scores(tiny, list(requests[-1].context[1:]), list(requests[-1].target))[0]
    assert np.abs(shifted - expected[-1][0]).max() > 100 * TOL


@pytest.mark.parametrize("budget", [1, 16, 64, 4096])
def test_results_do_not_depend_on_batching_or_order(llama, budget):
    requests = _requests(llama, seed=1)
    reference = ScoringEngine(llama, token_budget=100000).score(requests)
    order = list(range(len(requests)))
    random.Random(budget).shuffle(order)
    shuffled = ScoringEngine(llama, token_budget=budget).score([requests[i] for i in order])
    for pos, i in enumerate(order):
        np.testing.assert_allclose(shuffled[pos].logprobs, reference[i].logprobs, atol=TOL, rtol=0)


def test_long_request_runs_in_kv_chunks_and_matches(tiny):
    requests = _requests(tiny, n=4, seed=2, max_len=1000)  # up to the tiny models' 1K context
    engine = ScoringEngine(tiny, token_budget=32, long_threshold=32)  # over 32 tokens: the chunked path
    got = engine.score(requests)
    for (lp, _), res in zip(_naive(tiny, requests), got, strict=True):
        np.testing.assert_allclose(res.logprobs, lp, atol=TOL, rtol=0)
    assert engine.stats.forward_calls > len(requests)


def test_lm_head_never_sees_more_than_a_bounded_chunk(llama, monkeypatch):
    from hf_select import engine as engine_module

    requests = _requests(llama, n=12, seed=3)
    shapes, logits = [], engine_module._logits

    def recording(head, hidden, out):
        shapes.append(tuple(out.shape))
        return logits(head, hidden, out)

    monkeypatch.setattr(engine_module, "_logits", recording)
    bytes_per_row = 4 * llama.model.get_output_embeddings().weight.shape[0]
    ScoringEngine(llama, head_chunk_bytes=10 * bytes_per_row).score(requests)
    assert shapes and all(len(s) == 2 and s[0] <= 10 for s in shapes)  # 2-D [rows, vocab], never [B, L, V]
    assert sum(s[0] for s in shapes) == sum(len(r.target) for r in requests)  # only scored positions


def test_empty_context_or_target_is_refused(llama):
    with pytest.raises(ValueError, match="empty context or target"):
        ScoringEngine(llama).score([ScoringRequest([], [5])])
    with pytest.raises(ValueError, match="empty context or target"):
        ScoringEngine(llama).score([ScoringRequest([5], [])])


def test_stats_report_padding(llama):
    engine = ScoringEngine(llama, token_budget=400)
    engine.score([ScoringRequest([1] * 10, [2] * 10), ScoringRequest([1] * 5, [2] * 6)])
    assert engine.stats.tokens == 19 + 10 and engine.stats.padded_tokens == 2 * 19  # last tokens are never fed
    assert engine.stats.padding_waste == pytest.approx(9 / 38)
    assert engine.stats.scored_tokens == 16


def test_final_logit_softcapping_is_applied_like_the_model_does(llama):
    """Gemma-2-style models squash logits with tanh before the softmax; the engine's own head must too."""
    import torch
    from transformers import Gemma2Config, Gemma2ForCausalLM

    from hf_select.models import ScoringModel

    torch.manual_seed(0)
    config = Gemma2Config(
        vocab_size=len(llama.tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        initializer_range=0.3,
        final_logit_softcapping=2.0,
        attn_logit_softcapping=None,
        sliding_window=8,
    )
    capped = ScoringModel.from_objects(Gemma2ForCausalLM(config).eval(), llama.tokenizer, model_id="tiny-gemma2")
    requests = _requests(capped, n=10, seed=4, max_len=40)
    got = ScoringEngine(capped, token_budget=64).score(requests, ranks=True)
    for (lp, rk), res in zip(_naive(capped, requests), got, strict=True):
        np.testing.assert_allclose(res.logprobs, lp, atol=TOL, rtol=0)
        np.testing.assert_array_equal(res.ranks, rk)
    # with a cap of 2 every logit lies in (-2, 2), so no token can be less likely than exp(-4) / vocab
    assert min(r.logprobs.min() for r in got) > -4 - np.log(len(llama.tokenizer))
    capped.model.config.final_logit_softcapping = None
    uncapped = ScoringEngine(capped).score(requests)
    assert max(np.abs(a.logprobs - b.logprobs).max() for a, b in zip(got, uncapped, strict=True)) > 0.1


def test_bfloat16_engine_agrees_with_the_reference_to_bf16_precision(tiny_root):
    """bf16 is what GPUs run (dtype="auto"): the head's bf16 buffer and fp32 normalisation must hold up.
    Both sides use the same bf16 weights; bf16 keeps ~3 significant digits, hence the wider tolerance."""
    from hf_select.models import load_model

    bf16 = load_model(str(tiny_root / "llama"), device="cpu", dtype="bfloat16")
    requests = _requests(bf16, n=25, seed=0)
    got = ScoringEngine(bf16, token_budget=128).score(requests, ranks=True)
    for (lp, _), res in zip(_naive(bf16, requests), got, strict=True):
        assert res.logprobs.dtype == np.float32
        np.testing.assert_allclose(res.logprobs, lp, atol=0.1, rtol=0)
