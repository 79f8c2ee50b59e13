"""`hf-select bench --suite gpu`, run end to end on the CPU with a tiny Qwen2-shaped model (so it cannot rot before
a GPU runs it), and the bf16 path held to the fp32 reference."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from hf_select.bench_gpu import SHAPES, peak_flops, random_model, run_gpu_suite
from hf_select.cli import main
from hf_select.engine import ScoringEngine
from hf_select.engine_io import ScoringRequest
from hf_select.errors import ConfigError
from hf_select.models import ScoringModel
from hf_select.reference import naive_token_scores

BF16_TOLERANCE = 0.05  # nats: bf16 keeps 8 bits of mantissa; log-probs near -6 move by ~0.02


def test_the_suite_runs_end_to_end_on_a_cpu(capsys):
    assert (
        main(["bench", "--suite", "gpu", "--device", "cpu", "--shapes", "tiny", "--lengths", "64,256", "--json"]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["device"] == "CPU" and report["peak_source"] == "this CPU's bf16 matmul probe"
    assert [(p["shape"], p["length"]) for p in report["points"]] == [("tiny", 64), ("tiny", 256)]
    for point in report["points"]:
        assert point["tokens_per_s"] > 0 and point["naive_tokens_per_s"] > 0 and point["speedup"] > 0
        assert 0 < point["mfu"] < 1 and point["peak_memory_gb"] > 0
        assert 0 < point["max_abs_diff_vs_fp32"] <= BF16_TOLERANCE
        assert point["vllm_tokens_per_s"] is None and point["vllm_note"] == "GPU only"
    assert main(["bench", "--suite", "gpu", "--device", "cpu", "--shapes", "tiny", "--lengths", "64"]) == 0
    assert "engine tok/s" in capsys.readouterr().out


def test_the_bf16_engine_is_within_the_stated_tolerance_of_fp32():
    bf16 = random_model("tiny", "cpu", torch.bfloat16, seed=3)
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    fp32 = ScoringModel.from_objects(copy.deepcopy(bf16.model).float(), None, model_id="fp32")  # same weights
    rng = np.random.default_rng(0)
    requests = [ScoringRequest([int(t)], rng.integers(0, 512, size=n).tolist()) for t, n in ((1, 300), (2, 40))]
    got = ScoringEngine(bf16).score(requests)
    diffs = [
        np.abs(r.logprobs - naive_token_scores(fp32, list(q.context), list(q.target))[0])
        for r, q in zip(got, requests, strict=True)
    ]
    worst = max(float(d.max()) for d in diffs)
    assert 0 < worst <= BF16_TOLERANCE  # bf16 did run (not fp32), and stays within the tolerance


def test_shapes_are_the_qwen2_sizes_they_claim():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    for shape, billions in (("0.5b", 0.49), ("1.5b", 1.54)):
        with torch.device("meta"):
            model = Qwen2ForCausalLM(Qwen2Config(**SHAPES[shape], tie_word_embeddings=True))
        assert sum(p.numel() for p in model.parameters()) / 1e9 == pytest.approx(billions, rel=0.02)


def test_no_gpu_and_an_unknown_device_are_one_line_errors(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="--device cpu --shapes tiny"):
        run_gpu_suite(["tiny"], [64])
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    assert peak_flops("cuda", None) == (989e12, "NVIDIA H100 80GB HBM3 datasheet")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Some GPU")
    with pytest.raises(ConfigError, match="--peak-tflops"):
        peak_flops("cuda", None)
    assert peak_flops("cuda", 400.0) == (400e12, "given")
