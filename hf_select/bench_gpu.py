"""`hf-select bench --suite gpu`: the engine at the scale it is meant for, in one command, ready for the first GPU.

Random-initialised Qwen2-shaped models (a config, no download) of ~0.5B and ~1.5B parameters score sequences of
2K, 8K and 16K tokens in bf16. For each (shape, length): the engine's scored tokens/s and peak memory, the naive
Hugging Face forward (full logits, batch 1, `hf_select.reference`) on the same rows, the speed-up, the max
|difference| of the engine's log-probs against an fp32 copy of the same weights, and the model FLOP utilisation
(MFU) against the device's peak (from its name, or ``--peak-tflops``); where vLLM is installed (on a GPU),
its ``prompt_logprobs`` on the same rows. On a CPU with ``--shapes tiny`` the same code runs end to end (the tests
run it), the ceiling then being a matmul probe of this machine.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import torch

from hf_select.bench import PeakMemory, _sync, engine_flops, matmul_flops
from hf_select.engine import ScoringEngine
from hf_select.engine_io import ScoringRequest
from hf_select.errors import ConfigError
from hf_select.models import ScoringModel
from hf_select.reference import naive_token_scores

# Qwen2.5-0.5B and -1.5B as their configs give them (tied embeddings, grouped-query attention).
SHAPES = {
    "0.5b": {
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
    },
    "1.5b": {
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
    },
    "tiny": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 512,
    },
}
LENGTHS = (2048, 8192, 16384)
# Dense bf16 tensor-core peaks, TFLOP/s (vendor datasheets; SXM parts). Others: pass --peak-tflops.
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "H800": 989.0, "A100": 312.0}
ROW_TOKENS = 65536  # tokens the engine scores at each length (enough for a steady rate on a GPU)


def random_model(shape: str, device: str, dtype: torch.dtype, seed: int = 0) -> ScoringModel:
    """A Qwen2 model of ``shape`` with random weights, on ``device`` in ``dtype`` (nothing downloaded)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    if shape not in SHAPES:
        raise ConfigError(f"unknown shape {shape!r}; known: {sorted(SHAPES)}")
    config = Qwen2Config(**SHAPES[shape], max_position_embeddings=32768, tie_word_embeddings=True)
    torch.manual_seed(seed)
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(dtype)
    return ScoringModel.from_objects(model, None, model_id=f"random-qwen2-{shape}-seed{seed}")


def peak_flops(device: str, given_tflops: float | None) -> tuple[float, str]:
    """The ceiling MFU is measured against, and where it comes from."""
    if given_tflops:
        return given_tflops * 1e12, "given"
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(device)
        for key, tflops in PEAK_TFLOPS.items():
            if key in name:
                return tflops * 1e12, f"{name} datasheet"
        raise ConfigError(f"no bf16 peak known for {name!r}: pass --peak-tflops (its dense bf16 TFLOP/s)")
    return matmul_flops(device, torch.bfloat16), "this CPU's bf16 matmul probe"


def _requests(length: int, rows: int, vocab: int, seed: int) -> list[ScoringRequest]:
    """``rows`` sequences of ``length`` random tokens: the first is the context, every other token is scored."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab, size=(rows, length)).tolist()
    return [ScoringRequest(row[:1], row[1:]) for row in ids]


def _vllm(model: ScoringModel, requests: list[ScoringRequest]) -> dict[str, Any]:
    """vLLM's ``prompt_logprobs`` on the same rows, where vLLM installs (a GPU): tokens/s, or why not."""
    try:
        import vllm  # noqa: F401
    except ImportError:
        return {"vllm_tokens_per_s": None, "vllm_note": "vLLM not installed"}
    import tempfile

    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    try:
        with tempfile.TemporaryDirectory() as folder:
            model.model.save_pretrained(folder)
            llm = LLM(folder, skip_tokenizer_init=True, dtype="bfloat16", max_model_len=max(map(len, requests)) + 1)
            prompts = [TokensPrompt(prompt_token_ids=[*r.context, *r.target]) for r in requests]
            params = SamplingParams(max_tokens=1, prompt_logprobs=0, detokenize=False)
            start = time.perf_counter()
            llm.generate(prompts, params, use_tqdm=False)
            seconds = time.perf_counter() - start
        return {"vllm_tokens_per_s": sum(len(r.target) for r in requests) / seconds, "vllm_note": ""}
    except Exception as error:  # noqa: BLE001 - a vLLM that falls over (issue 5907: long prompts) is a result
        return {"vllm_tokens_per_s": None, "vllm_note": f"{type(error).__name__}: {str(error)[:120]}"}


def measure(
    shape: str,
    length: int,
    model: ScoringModel,
    reference: ScoringModel,
    peak: float,
    *,
    naive_rows: int = 2,
    seed: int = 0,
) -> dict[str, Any]:
    """One (shape, length) point of the suite."""
    device = model.device
    vocab = model.model.config.vocab_size
    rows = max(2, ROW_TOKENS // length)
    requests = _requests(length, rows, vocab, seed)
    engine = ScoringEngine(model)
    engine.score(requests[:1])  # warm-up: kernels, allocator
    _sync(device)
    with PeakMemory(device) as memory:
        start = time.perf_counter()
        results = engine.score(requests)
        _sync(device)
        seconds = time.perf_counter() - start
    scored = sum(len(r.target) for r in requests)
    flops = engine_flops(model, [len(r) for r in requests], scored)
    few = requests[:naive_rows]
    start = time.perf_counter()
    for r in few:
        naive_token_scores(model, list(r.context), list(r.target))
    _sync(device)
    naive_seconds = time.perf_counter() - start
    naive_rate = sum(len(r.target) for r in few) / naive_seconds
    truth = [naive_token_scores(reference, list(r.context), list(r.target))[0] for r in few]
    diff = max(float(np.max(np.abs(res.logprobs - t))) for res, t in zip(results, truth, strict=False))
    return {
        "shape": shape,
        "length": length,
        "rows": rows,
        "tokens_per_s": scored / seconds,
        "naive_tokens_per_s": naive_rate,
        "speedup": scored / seconds / naive_rate,
        "peak_memory_gb": memory.peak_mb / 1024,
        "max_abs_diff_vs_fp32": diff,
        "mfu": flops / seconds / peak,
        **(
            _vllm(model, requests)
            if device.startswith("cuda")
            else {"vllm_tokens_per_s": None, "vllm_note": "GPU only"}
        ),
    }


def run_gpu_suite(
    shapes: list[str],
    lengths: list[int],
    device: str | None = None,
    peak_tflops: float | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Every (shape, length) point, with the device, its ceiling and the time the suite took."""
    device = device or ("cuda" if torch.cuda.is_available() else None)
    if device is None:
        raise ConfigError("--suite gpu needs a GPU; on a CPU run it end to end with: --device cpu --shapes tiny")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r}, but this machine has no CUDA GPU")
    started = time.perf_counter()
    peak, source = peak_flops(device, peak_tflops)
    points = []
    for shape in shapes:
        model = random_model(shape, device, torch.bfloat16, seed)
        reference = ScoringModel.from_objects(
            copy.deepcopy(model.model).float(), None, model_id=f"random-qwen2-{shape}-seed{seed}-fp32"
        )
        for length in lengths:
            points.append(measure(shape, length, model, reference, peak, seed=seed))
        del model, reference
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    name = torch.cuda.get_device_name(device) if device.startswith("cuda") else "CPU"
    return {
        "device": name,
        "peak_tflops": peak / 1e12,
        "peak_source": source,
        "points": points,
        "seconds": time.perf_counter() - started,
    }


def format_gpu_report(report: dict[str, Any]) -> str:
    lines = [
        f"{report['device']}: bf16, MFU against {report['peak_tflops']:.1f} TFLOP/s ({report['peak_source']}); "
        f"{report['seconds']:.0f} s in all",
        f"{'shape':<6}{'tokens':>7}{'engine tok/s':>14}{'naive tok/s':>13}{'speed-up':>10}{'peak GB':>9}"
        f"{'max|diff|':>11}{'MFU':>7}{'vLLM tok/s':>12}",
    ]
    for p in report["points"]:
        vllm = f"{p['vllm_tokens_per_s']:,.0f}" if p["vllm_tokens_per_s"] else "-"
        lines.append(
            f"{p['shape']:<6}{p['length']:>7}{p['tokens_per_s']:>14,.0f}{p['naive_tokens_per_s']:>13,.0f}"
            f"{p['speedup']:>9.1f}x{p['peak_memory_gb']:>9.2f}{p['max_abs_diff_vs_fp32']:>11.4f}"
            f"{p['mfu']:>7.1%}{vllm:>12}"
        )
    notes = sorted({p["vllm_note"] for p in report["points"] if p["vllm_note"]})
    return "\n".join(lines + [f"vLLM: {note}" for note in notes])
