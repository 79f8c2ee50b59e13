"""`hf-select bench`: the engine against the naive reference, in the same process, on the same rows.

For global and local naturalness it reports scored tokens/s of each side, the speed-up, peak memory,
max |difference|, padding waste, and the engine's achieved FLOP/s against this machine's matmul FLOP/s
(measured by a short probe in the same run). Throughput counts scored (target) tokens, the same for both
sides. The naive side is `hf_select.reference`, exactly what the tests use.
"""

from __future__ import annotations

import json
import math
import os
import random
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hf_select.config import field_names
from hf_select.errors import ConfigError
from hf_select.models import ScoringModel
from hf_select.reference import naive_global, naive_local, naive_rank_surprisal
from hf_select.scores import cli_aliases

EXAMPLE_DATA = Path(__file__).parent / "data" / "math_teachers.jsonl"


@dataclass
class SideResult:
    seconds: float
    scored_tokens: int
    peak_memory_mb: float

    @property
    def tokens_per_s(self) -> float:
        return self.scored_tokens / self.seconds


# -- workload -----------------------------------------------------------------------------------------------
def build_workload(
    tokenizer,
    n: int = 8,
    *,
    min_tokens: int = 200,
    max_tokens: int = 2000,
    step_tokens: tuple[int, int] = (20, 80),
    seed: int = 0,
    source: Path = EXAMPLE_DATA,
) -> list[dict[str, str]]:
    """``n`` (prompt, response) rows whose responses are blank-line-separated steps of 20-80 tokens and
    200-2,000 tokens in all, assembled from the sentences of real reasoning text (reproducible by seed)."""
    rows = [json.loads(line) for line in Path(source).read_text().splitlines() if line.strip()]
    sentences = [
        s.strip() + " " for row in rows for s in row["response"].replace("\n\n", " ").split(". ") if len(s.strip()) > 10
    ]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        goal = rng.randint(min_tokens, max_tokens)
        steps, total = [], 0
        while total < goal:
            want, step, length = rng.randint(*step_tokens), "", 0
            while length < want:
                step += rng.choice(sentences)
                length = len(tokenizer(step, add_special_tokens=False)["input_ids"])
            steps.append(step.strip())
            total += length
        out.append({"prompt": rng.choice(rows)["prompt"], "response": "\n\n".join(steps)})
    return out


def load_rows(dataset: str, n: int, prompt_column: str = "prompt", response_column: str = "response"):
    """The first ``n`` rows of the user's own data (anything `hf_select.sources.load_source` reads)."""
    from hf_select.sources import load_source

    ds = load_source(dataset, split="train")
    ds = ds.select(range(min(n, len(ds))))
    return [{"prompt": r[prompt_column], "response": r[response_column]} for r in ds]


# -- measurement helpers --------------------------------------------------------------------------------------
class PeakMemory:
    """Peak memory while the block runs: the CUDA allocator's peak on GPUs, else the process's resident set
    (RSS, weights included) sampled every 2 ms, the only way to see torch's CPU allocations. RSS does not
    shrink after a peak, so the engine is measured before the naive side."""

    def __init__(self, device: str):
        self.cuda = device.startswith("cuda")
        self.peak_mb = 0.0

    def __enter__(self) -> PeakMemory:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            self.peak, self.running = _rss(), True
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, _rss())
            time.sleep(0.002)

    def __exit__(self, *exc) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.peak_mb = torch.cuda.max_memory_allocated() / 2**20
        else:
            self.running = False
            self.thread.join()
            self.peak_mb = max(self.peak, _rss()) / 2**20


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        import platform

        return platform.processor() or "cpu"


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def matmul_flops(device: str, dtype: torch.dtype, size: int | None = None, windows: int = 5) -> float:
    """This machine's dense matmul FLOP/s for the dtype the engine runs in (the ceiling to compare to): the
    best of a few ~0.2 s windows, so a moment of noise from elsewhere does not lower the ceiling."""
    size = size or (8192 if device.startswith("cuda") else 2048)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b  # warm-up
    best = 0.0
    for _ in range(windows):
        _sync(device)
        start, count = time.perf_counter(), 0
        while time.perf_counter() - start < 0.2:
            a @ b
            count += 1
            if device.startswith("cuda") and count % 10 == 0:
                _sync(device)
        _sync(device)
        best = max(best, 2 * size**3 * count / (time.perf_counter() - start))
    return best


def _timed(device: str, fn, *args) -> tuple[float, Any, float]:
    """(seconds, result, peak memory in MB) of ``fn(*args)``."""
    with PeakMemory(device) as memory:
        start = time.perf_counter()
        result = fn(*args)
        _sync(device)
        seconds = time.perf_counter() - start
    return seconds, result, memory.peak_mb


def _best(best: SideResult | None, new: SideResult) -> SideResult:
    """The faster round's time, the first round's peak memory."""
    if best is None:
        return new
    return SideResult(min(best.seconds, new.seconds), best.scored_tokens, best.peak_memory_mb)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def engine_flops(model: ScoringModel, fed_lengths: list[int], scored_tokens: int) -> float:
    """FLOPs the engine must do: the body over every token it feeds (2 x non-embedding parameters per
    token, plus causal attention, within the window on sliding-window layers), and the LM head over scored
    tokens only."""
    lm = model.model
    config = lm.config.get_text_config()
    embedding = lm.get_input_embeddings().weight.numel()
    head = lm.get_output_embeddings().weight
    body = sum(p.numel() for p in lm.base_model.parameters()) - embedding
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    layer_types = getattr(config, "layer_types", None) or ["full_attention"] * config.num_hidden_layers
    window = getattr(config, "sliding_window", None)
    flops = 0.0
    for length in fed_lengths:
        flops += 2 * body * length
        for kind in layer_types:  # QK^T and AV: 2 x 2 x heads x head_dim per (query, key) pair
            span = window if kind == "sliding_attention" and window else length
            keys = min(length, span) * (min(length, span) + 1) / 2 + max(0, length - span) * span
            flops += 4 * heads * head_dim * keys
    return flops + 2 * head.numel() * scored_tokens


def naive_logits_bytes(model: ScoringModel, rows: list[dict[str, str]]) -> int:
    """What the naive reference's full-vocabulary logits and their log-softmax need for the longest row."""
    longest = max(len(model.tokenizer(r["prompt"] + r["response"])["input_ids"]) for r in rows)
    return 2 * 4 * longest * model.model.get_output_embeddings().weight.shape[0]


def _available_memory() -> int:
    with open("/proc/meminfo") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["MemAvailable"].split()[0]) * 1024


def float32_copy(model: ScoringModel) -> ScoringModel:
    """The model itself when it already runs in fp32, else an fp32 copy for the naive reference."""
    if model.dtype == torch.float32:
        return model
    import copy

    lm = copy.deepcopy(model.model).float()
    return ScoringModel.from_objects(lm, model.tokenizer, model_id=f"{model.identity}-fp32")


# -- the benchmark --------------------------------------------------------------------------------------------
def run_bench(
    model: ScoringModel,
    rows: list[dict[str, str]],
    *,
    window: int = 2,
    token_budget: int | None = None,
    plan_tokens: float = 1e9,
    scores: tuple[str, ...] = ("global", "local"),
    naive: bool = True,
    repeat: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Run naive and engine on the same rows for each score; return a JSON-safe report.

    ``naive=False`` measures the engine alone (for inputs whose full logits would not fit in memory).
    ``repeat`` runs both sides that many times, alternating, and keeps each side's fastest round (peak
    memory comes from the first round: RSS never shrinks after a peak)."""
    model.model  # noqa: B018 - load before timing
    device = str(model.input_device)
    report: dict[str, Any] = {
        "model": model.name,
        "device": device,
        "dtype": str(model.dtype).removeprefix("torch."),
        "threads": torch.get_num_threads(),
        "rows": len(rows),
        "hardware": torch.cuda.get_device_name() if device.startswith("cuda") else _cpu_name(),
        "matmul_flops": matmul_flops(device, model.dtype),
        "repeat": repeat,
        "scores": {},
    }
    reference_model = float32_copy(model)  # the naive side is fp32, whatever the engine runs in
    references = {  # the naive side of each score that has one (the others are measured engine-only)
        "global_naturalness": lambda r: naive_global(reference_model, r["prompt"], r["response"]),
        "local_naturalness": lambda r: naive_local(reference_model, r["response"], window=window),
        "rank_surprisal": lambda r: naive_rank_surprisal(reference_model, r["prompt"], r["response"]),
    }
    aliases = {alias: cls for alias, cls in cli_aliases().items() if "model" in cls.model_roles}
    for name in scores:
        if name not in aliases:
            raise ConfigError(f"bench: unknown score {name!r}; choose from {sorted(aliases)}")
        cls = aliases[name]
        scorer = cls(model, window=window) if "window" in field_names(cls.Params) else cls(model)
        if token_budget:
            scorer.engine.token_budget = token_budget
        reference = references.get(cls.name) if naive else None
        if reference is not None and naive_logits_bytes(model, rows) > 0.7 * _available_memory():
            need = naive_logits_bytes(model, rows) / 2**30
            report["scores"][name] = {
                "note": f"naive reference skipped: its full logits would need {need:.1f} GiB, more than is free"
            }
            reference = None
        report["scores"][name] = {
            **_bench_score(
                name, scorer, reference, rows, device, repeat, progress, report["matmul_flops"], plan_tokens
            ),
            "note": report["scores"].get(name, {}).get("note"),
        }
    report["plan_tokens"] = plan_tokens
    return report


def _bench_score(
    name: str,
    scorer: Any,
    reference: Any,
    rows: list[dict[str, str]],
    device: str,
    repeat: int,
    progress: bool,
    probe_flops: float,
    plan_tokens: float,
) -> dict[str, Any]:
    """One score's report: both sides timed in alternating rounds (each side's fastest kept), their memory, the
    largest difference between them, and the engine's efficiency."""
    model, column = scorer.model, scorer.columns[0].name
    requests = [req for row in scorer.tokenise([scorer.requests_for(r) for r in rows]) for req in row]
    scored = sum(len(r.target) for r in requests)
    batch = {"prompt": [r["prompt"] for r in rows], "response": [r["response"] for r in rows]}
    warm_up = build_workload(model.tokenizer, 1, min_tokens=50, max_tokens=100)
    scorer({"prompt": [warm_up[0]["prompt"]], "response": [warm_up[0]["response"]]})
    if reference is not None:
        reference(warm_up[0])
    before = asdict(scorer.engine.stats)
    engine_side = naive_side = expected = None
    for round_ in range(repeat):  # alternate the sides, so that a change in machine load hits both
        if progress:
            print(f"[bench] {name}: engine (round {round_ + 1}/{repeat})...", flush=True)
        seconds, got, peak = _timed(device, scorer, batch)
        engine_side = _best(engine_side, SideResult(seconds, scored, peak))
        if reference is not None:
            if progress:
                print(f"[bench] {name}: naive reference on {len(rows)} rows ({scored} scored tokens)...", flush=True)
            seconds, expected, peak = _timed(device, list, map(reference, rows))  # lazy: runs inside the timer
            naive_side = _best(naive_side, SideResult(seconds, scored, peak))
    stats = scorer.engine.stats
    padded, fed = stats.padded_tokens - before["padded_tokens"], stats.tokens - before["tokens"]
    lengths = [len(r) for r in requests]
    flops, naive_flops = engine_flops(model, lengths, scored), engine_flops(model, lengths, sum(lengths))
    return {
        "scored_tokens": scored,
        "naive_tokens_per_s": naive_side.tokens_per_s if naive_side else None,
        "engine_tokens_per_s": engine_side.tokens_per_s,
        "speedup": naive_side.seconds / engine_side.seconds if naive_side else None,
        "naive_peak_memory_mb": naive_side.peak_memory_mb if naive_side else None,
        "engine_peak_memory_mb": engine_side.peak_memory_mb,
        "max_abs_difference": float(np.max(np.abs(np.subtract(got[column], [e[column] for e in expected]))))
        if expected
        else None,
        "padding_waste": 1 - fed / padded if padded else 0.0,
        "forward_calls": (stats.forward_calls - before["forward_calls"]) // repeat,
        "engine_flops_per_s": flops / engine_side.seconds,
        "fraction_of_matmul": flops / engine_side.seconds / probe_flops,
        # the naive side computes logits at every position: the same body, the LM head everywhere
        "naive_fraction_of_matmul": naive_flops / naive_side.seconds / probe_flops if naive_side else None,
        # the speed-up the engine would reach at 100% of the matmul probe, against this naive run
        "speedup_ceiling": naive_side.seconds * probe_flops / flops if naive_side else None,
        "hours_per_plan": plan_tokens / engine_side.tokens_per_s / 3600,
    }


def _cell(row: dict[str, Any], key: str, fmt: str, width: int, suffix: str = "") -> str:
    """A right-aligned table cell; "-" where the naive side was not run."""
    return f"{row[key]:>{width - len(suffix)}{fmt}}{suffix}" if row[key] is not None else f"{'-':>{width}}"


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"model {report['model']} on {report['device']} ({report['hardware']}; engine {report['dtype']}, naive "
        f"float32, {report['threads']} threads), {report['rows']} rows"
        + (f", best of {report['repeat']} alternating rounds" if report["repeat"] > 1 else "")
        + f"; matmul probe {report['matmul_flops'] / 1e9:.1f} GFLOP/s",
        "",
        f"{'score':<8}{'naive tok/s':>12}{'engine tok/s':>13}{'speed-up':>9}{'naive peak':>11}{'engine peak':>12}"
        f"{'max|diff|':>11}{'pad waste':>10}{'GFLOP/s':>9}{'% matmul':>9}",
    ]
    for name, s in report["scores"].items():
        lines.append(
            f"{name:<8}{_cell(s, 'naive_tokens_per_s', '.1f', 12)}{_cell(s, 'engine_tokens_per_s', '.1f', 13)}"
            f"{_cell(s, 'speedup', '.2f', 9, 'x')}{_cell(s, 'naive_peak_memory_mb', '.0f', 8, ' MB')}"
            f"{_cell(s, 'engine_peak_memory_mb', '.0f', 9, ' MB')}{_cell(s, 'max_abs_difference', '.1e', 11)}"
            f"{s['padding_waste']:>10.1%}{s['engine_flops_per_s'] / 1e9:>9.1f}{s['fraction_of_matmul']:>9.0%}"
        )
    lines.append("")
    for name, s in report["scores"].items():
        if s["naive_fraction_of_matmul"] is not None:
            lines.append(
                f"{name}: the naive path runs at {s['naive_fraction_of_matmul']:.0%} of the matmul probe; at "
                f"100% the engine would be {s['speedup_ceiling']:.2f}x faster than it (measured: "
                f"{s['speedup']:.2f}x)"
            )
        if s.get("note"):
            lines.append(f"{name}: {s['note']}")
        lines.append(
            f"planning: {report['plan_tokens']:.3g} scored tokens of {name} naturalness take about "
            f"{s['hours_per_plan']:.1f} h on this machine with the engine"
        )
    return "\n".join(lines)


# -- shared passes -------------------------------------------------------------------------------------------------
SHARED = ("global_naturalness", "rank_surprisal", "ifd_conditional", "aslec")  # one forward pass per row between them


def _shared_scores(model: ScoringModel, names: tuple[str, ...]) -> list:
    from hf_select.scores import Aslec, GlobalNaturalness, RankSurprisal
    from hf_select.scores.ifd import IfdConditional

    make = {
        "global_naturalness": GlobalNaturalness,
        "rank_surprisal": RankSurprisal,
        "ifd_conditional": IfdConditional,
        # the bench times the forward pass: ASLEC-CASL's fit on a handful of rows is NaN, not a refusal
        "aslec": lambda m: Aslec(m, gamma="pooled", on_error="nan"),
    }
    return [make[name](model) for name in names]


def run_shared_bench(
    model: ScoringModel, rows: list[dict[str, str]], *, repeat: int = 1, progress: bool = True
) -> dict[str, Any]:
    """Global naturalness alone, the scores that share its forward pass (`SHARED`) asked together, and the same
    scores one at a time, in alternating rounds in this process on the same rows (each side's fastest kept):
    seconds, tokens fed to the model and the ratios to global alone."""
    import datasets
    from datasets import Dataset

    from hf_select.run_scores import score
    from hf_select.scores import Scorer

    model.model  # noqa: B018 - load before timing
    ds = Dataset.from_list(rows)
    sides = {
        "global alone": [("global_naturalness",)],
        "together": [SHARED],
        "one at a time": [(name,) for name in SHARED],
    }
    best: dict[str, float] = {}
    fed: dict[str, int] = {}
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        score(ds.select([0]), *_shared_scores(model, SHARED), completeness=False)  # warm-up
        for round_ in range(repeat):
            for side, runs in sides.items():
                if progress:
                    print(f"[bench] shared passes: {side} (round {round_ + 1}/{repeat})...", flush=True)
                made = [_shared_scores(model, names) for names in runs]
                start = time.perf_counter()
                for scores in made:
                    score(ds, *scores, completeness=False)
                best[side] = min(best.get(side, math.inf), time.perf_counter() - start)
                fed[side] = sum(
                    p.engine.stats.tokens
                    for scores in made
                    for item in scores
                    for p in item.passes()
                    if isinstance(p, Scorer)
                )
    finally:
        if bars:
            datasets.enable_progress_bars()
    alone = best["global alone"]
    return {
        "model": model.name,
        "device": str(model.input_device),
        "rows": len(rows),
        "repeat": repeat,
        "scores": list(SHARED),
        "seconds": best,
        "tokens_fed": fed,
        "ratio_together": best["together"] / alone,
        "ratio_one_at_a_time": best["one at a time"] / alone,
    }


def format_shared_report(report: dict[str, Any]) -> str:
    lines = [
        f"shared forward passes: {', '.join(report['scores'])} on {report['rows']} rows, model "
        f"{report['model']} on {report['device']}"
        + (f", best of {report['repeat']} rounds" if report["repeat"] > 1 else ""),
        "",
        f"{'':<16}{'seconds':>9}{'tokens fed':>12}{'x global alone':>16}",
    ]
    alone = report["seconds"]["global alone"]
    for side, seconds in report["seconds"].items():
        lines.append(f"{side:<16}{seconds:>9.2f}{report['tokens_fed'][side]:>12}{seconds / alone:>15.2f}x")
    return "\n".join(lines)


# -- teacher rankings ----------------------------------------------------------------------------------------------
def run_ranking_bench(
    rows: int = 10_000, teachers: int = 8, resamples: int = 1000, seed: int = 0, naive: bool = True
) -> dict[str, Any]:
    """The prompt bootstrap of `rank_teachers` (vectorised over resamples) against a loop over resamples
    (`hf_select.reference.naive_bootstrap`), on the same draws: seconds, speed-up and max |difference|."""
    from datasets import Dataset

    from hf_select.reference import naive_bootstrap
    from hf_select.select import rank_teachers
    from hf_select.stats import TeacherTable, resample_weights

    rng = np.random.default_rng(seed)
    prompts = rows // teachers
    prompt = np.repeat(np.arange(prompts), teachers)[:rows]
    teacher = np.tile(np.arange(teachers), prompts)[:rows]
    values = rng.normal(size=rows) + teacher * 0.01 + rng.normal(size=prompts)[prompt]
    ds = Dataset.from_dict({"prompt": prompt, "teacher": [f"t{t}" for t in teacher], "score": values})
    start = time.perf_counter()
    ranked = rank_teachers(ds, by="score", bootstrap=resamples, seed=seed, higher_is_better=True)
    whole = time.perf_counter() - start
    table = TeacherTable.build(prompt, teacher, values, prompts, teachers)
    start = time.perf_counter()
    weights = resample_weights(prompts, resamples, np.random.default_rng(seed))
    fast = table.scores(weights)
    vectorised = time.perf_counter() - start
    report: dict[str, Any] = {
        "rows": rows,
        "teachers": teachers,
        "prompts": prompts,
        "resamples": resamples,
        "rank_teachers_seconds": whole,
        "vectorised_seconds": vectorised,
        "naive_seconds": None,
        "speedup": None,
        "max_abs_difference": None,
        "p_first": dict(zip(ranked["teacher"], ranked["p_first"], strict=True)),
    }
    if naive:
        draws = np.random.default_rng(seed).integers(0, prompts, size=(resamples, prompts))
        start = time.perf_counter()
        slow = naive_bootstrap(prompt, teacher, values, draws)
        report["naive_seconds"] = time.perf_counter() - start
        report["speedup"] = report["naive_seconds"] / vectorised
        report["max_abs_difference"] = float(np.nanmax(np.abs(slow - fast)))
    return report


def format_ranking_report(report: dict[str, Any]) -> str:
    lines = [
        f"teacher-ranking bootstrap: {report['rows']} rows, {report['teachers']} teachers, {report['prompts']} "
        f"prompts, {report['resamples']} resamples",
        f"  rank_teachers(bootstrap={report['resamples']}) in all: {report['rank_teachers_seconds']:.3f} s",
        f"  resampled teacher means, vectorised: {report['vectorised_seconds']:.4f} s",
    ]
    if report["naive_seconds"] is not None:
        lines.append(
            f"  the same, one resample at a time (naive): {report['naive_seconds']:.3f} s -> speed-up "
            f"{report['speedup']:.0f}x, max |difference| {report['max_abs_difference']:.1e}"
        )
    return "\n".join(lines)
