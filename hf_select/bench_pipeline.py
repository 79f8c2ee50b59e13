"""`hf-select bench --pipeline`: what everything around the model costs, and the work after scoring at scale.

On a GPU the model is fast, so reading rows, chat templates, step splitting, tokenising, building requests, the
engine's bookkeeping, the columns and the Arrow cache writes may become the bottleneck. This bench runs
`hf_select.score` with a tiny random model (the model costs almost nothing) on realistic rows (chat messages,
responses of 500-4,000 tokens in blank-line separated steps of 10-80 tokens, built from the bundled reasoning
text), and reports rows/s and response tokens/s for global naturalness, local naturalness and provenance beside
the rate of the tokenizer alone on the same responses (the physical limit of this path), the share of time in
each stage, the gain from ``num_proc``, and the peak memory of a run at two row counts (each in a fresh
process). The tokenizer is a byte-level BPE of 2,048 tokens trained in-process on the same text (what a real
vocabulary would cost the head, the tiny model cannot afford); token counts are in its tokens.

After scoring, `post_scoring` times selection, rankings with 1,000 bootstrap resamples, the score comparison,
`fold`, the card and the summary on a synthetic scored split of 1,000,000 rows.
"""

from __future__ import annotations

import functools
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from hf_select.bench import EXAMPLE_DATA

STEP_TOKENS = (10, 80)
CHARS_PER_TOKEN = 3.2  # of the bench tokenizer on this text (checked against the real count in `report`)


# -- the workload ----------------------------------------------------------------------------------------------------
def pipeline_rows(n: int, min_tokens: int = 500, max_tokens: int = 4000, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` chat rows (``messages``: the user's prompt, the assistant's response) whose responses are about
    ``min_tokens``-``max_tokens`` tokens in blank-line separated steps of 10-80, from the bundled text."""
    rows = [json.loads(line) for line in EXAMPLE_DATA.read_text().splitlines() if line.strip()]
    sentences = [
        s.strip() + ". "
        for row in rows
        for s in row["response"].replace("\n\n", " ").split(". ")
        if len(s.strip()) > 10
    ]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        goal, steps, total = rng.randint(min_tokens, max_tokens) * CHARS_PER_TOKEN, [], 0
        while total < goal:
            want, step = rng.randint(*STEP_TOKENS) * CHARS_PER_TOKEN, ""
            while len(step) < want:
                step += rng.choice(sentences)
            steps.append(step.strip())
            total += len(step)
        prompt = rng.choice(rows)["prompt"]
        out.append(
            {
                "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": "\n\n".join(steps)}],
                "teacher": f"t{i % 4}",
                "prompt_id": i // 4,
            }
        )
    return out


def tiny_models(folder: Path, texts: list[str]) -> tuple[Path, Path]:
    """A byte-level BPE tokenizer (2,048 tokens, a chat template) trained on ``texts`` and two tiny random Llama
    models that share it (a student and a teacher for provenance), saved under ``folder``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=2048,
            special_tokens=["<s>", "</s>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>")
    tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    paths = []
    for seed, name in ((0, "student"), (1, "teacher")):
        torch.manual_seed(seed)
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=16384,
            bos_token_id=0,
            eos_token_id=1,
        )
        LlamaForCausalLM(config).save_pretrained(folder / name)
        tokenizer.save_pretrained(folder / name)
        paths.append(folder / name)
    return paths[0], paths[1]


# -- where the time goes ---------------------------------------------------------------------------------------------
class StageClock:
    """Exclusive seconds per stage: a stage's clock stops while a stage called inside it runs."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.stack: list[list[Any]] = []  # [stage, running since]

    def wrap(self, stage: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            now = time.perf_counter()
            if self.stack:
                self.seconds[self.stack[-1][0]] += now - self.stack[-1][1]
            self.stack.append([stage, now])
            try:
                return fn(*args, **kwargs)
            finally:
                end = time.perf_counter()
                stage_, since = self.stack.pop()
                self.seconds[stage_] += end - since
                if self.stack:
                    self.stack[-1][1] = end

        return timed


def _stages() -> list[tuple[str, Any, str]]:
    """(stage, owner, attribute) of every function timed: owners are classes, or modules that imported it."""
    from datasets.arrow_writer import ArrowWriter
    from transformers import PreTrainedTokenizerBase

    from hf_select import layout, steps
    from hf_select.engine import ScoringEngine
    from hf_select.scores import aslec, naturalness, provenance
    from hf_select.scores.base import Scorer
    from hf_select.scoring import MapPass

    return [
        *(("templates", module, "prompt_prefix") for module in (layout, naturalness, provenance, aslec)),
        *(("splitting", module, "split_steps") for module in (steps, naturalness, provenance, aslec)),
        ("tokenising", PreTrainedTokenizerBase, "__call__"),
        ("tokenising", layout, "batch_ids"),
        ("model (tiny)", ScoringEngine, "_body"),
        ("model (tiny)", ScoringEngine, "_head"),
        ("engine overhead", ScoringEngine, "score"),
        ("columns", Scorer, "columns_of"),
        ("requests and rows", MapPass, "__call__"),
        *(("Arrow and cache writes", ArrowWriter, name) for name in ("write_batch", "write_table", "finalize")),
    ]


@contextmanager
def timed_stages() -> Iterator[StageClock]:
    clock = StageClock()
    patched = [(owner, name, getattr(owner, name)) for _, owner, name in _stages()]
    for (stage, owner, name), (_, _, original) in zip(_stages(), patched, strict=True):
        setattr(owner, name, clock.wrap(stage, original))
    try:
        yield clock
    finally:
        for owner, name, original in patched:
            setattr(owner, name, original)


# -- the scoring pipeline --------------------------------------------------------------------------------------------
def _scores(name: str, student: Any, teacher: Any) -> list:
    from hf_select.formats import Shape
    from hf_select.scores import GlobalNaturalness, LocalNaturalness, Provenance

    shape = Shape("messages")
    return {
        "global": lambda: [GlobalNaturalness(student, shape=shape)],
        "local": lambda: [LocalNaturalness(student, shape=shape)],
        "provenance": lambda: [Provenance(teacher=teacher, student=student, shape=shape)],
    }[name]()


def run_pipeline_bench(
    rows: int = 10_000,
    min_tokens: int = 500,
    max_tokens: int = 4000,
    *,
    scores: tuple[str, ...] = ("global", "local", "provenance"),
    num_proc: int = 2,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Score ``rows`` chat rows with each of ``scores`` through `hf_select.score` (data on disk, cached maps
    written as in a real run), timing each stage, beside the tokenizer alone; global naturalness again with
    ``num_proc`` workers."""
    import datasets
    from datasets import Dataset, load_from_disk

    from hf_select.models import load_model
    from hf_select.run_scores import score

    data = pipeline_rows(rows, min_tokens, max_tokens, seed)
    responses = [r["messages"][1]["content"] for r in data]
    with tempfile.TemporaryDirectory(prefix="hf-select-bench-") as tmp:
        student_path, teacher_path = tiny_models(Path(tmp), responses[:200])
        # the budget of a GPU: on the tiny model, the per-forward overhead of a CPU budget would dominate
        student, teacher = (
            load_model(str(path), device="cpu", token_budget=16384) for path in (student_path, teacher_path)
        )
        tokenizer = student.tokenizer
        start = time.perf_counter()
        tokens = sum(
            len(ids)
            for i in range(0, len(responses), 1000)
            for ids in tokenizer(responses[i : i + 1000], add_special_tokens=False)["input_ids"]
        )
        alone = time.perf_counter() - start
        report: dict[str, Any] = {
            "rows": rows,
            "response_tokens": tokens,
            "tokenizer_alone_seconds": alone,
            "tokenizer_alone_tokens_per_s": tokens / alone,
            "scores": {},
        }
        Dataset.from_list(data).save_to_disk(f"{tmp}/data")
        bars = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()
        try:
            runs = [(name, 1) for name in scores] + ([("global", num_proc)] if num_proc > 1 else [])
            for name, procs in runs:
                if progress:
                    print(f"[bench] pipeline: {name} on {rows} rows, num_proc={procs}...", flush=True)
                ds = load_from_disk(f"{tmp}/data")
                with timed_stages() as clock:
                    start = time.perf_counter()
                    score(
                        ds,
                        *_scores(name, student, teacher),
                        completeness=False,
                        load_from_cache_file=False,
                        num_proc=procs if procs > 1 else None,
                    )
                    seconds = time.perf_counter() - start
                report["scores"][name if procs == 1 else f"{name} (num_proc={procs})"] = _side(
                    seconds, rows, tokens, alone, clock.seconds if procs == 1 else None
                )
        finally:
            if bars:
                datasets.enable_progress_bars()
    return report


def _side(seconds: float, rows: int, tokens: int, alone: float, stages: dict[str, float] | None) -> dict:
    """A run's rates; with its stages, the rate of the path around the model (the run without the model's own
    time: what a GPU, where the model is fast, would leave) against the tokenizer alone."""
    out: dict[str, Any] = {
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "tokens_per_s": tokens / seconds,
        "around_model_tokens_per_s": None,
        "around_model_of_tokenizer_alone": None,
    }
    if stages is not None:
        around = seconds - stages.get("model (tiny)", 0.0)
        out["around_model_tokens_per_s"] = tokens / around
        out["around_model_of_tokenizer_alone"] = alone / around
        shares = {stage: t / seconds for stage, t in stages.items()}
        shares["reading rows and datasets"] = max(0.0, 1 - sum(shares.values()))
        out["stage_shares"] = dict(sorted(shares.items(), key=lambda kv: -kv[1]))
    return out


def peak_rss(rows: int, min_tokens: int, max_tokens: int) -> dict[str, Any]:
    """Peak resident memory of a fresh process that scores ``rows`` rows with global naturalness."""
    code = (
        "import resource, sys; from hf_select.bench_pipeline import run_pipeline_bench; "
        f"r = run_pipeline_bench({rows}, {min_tokens}, {max_tokens}, scores=('global',), num_proc=1, "
        "progress=False); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, r['response_tokens'])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    kib, tokens = done.stdout.split()[-2:]
    return {"rows": rows, "response_tokens": int(tokens), "peak_rss_mb": int(kib) / 1024}


# -- after scoring ---------------------------------------------------------------------------------------------------
def scored_split(rows: int, teachers: int = 4, seed: int = 0):
    """A synthetic scored split: ``rows`` responses, ``teachers`` per prompt, with the columns selection reads."""
    from datasets import Dataset

    rng = np.random.default_rng(seed)
    prompt = np.arange(rows) // teachers
    teacher = np.array([f"t{t}" for t in range(teachers)])[np.arange(rows) % teachers]
    correct = rng.random(rows) < 0.7
    columns = {
        "prompt_id": prompt,
        "teacher": teacher,
        "is_correct": correct,
        "complete": rng.random(rows) > 0.02,
        "local_naturalness": rng.normal(-2, 0.3, rows) + 0.2 * correct,
        "global_naturalness": rng.normal(-1.5, 0.3, rows),
        "global_num_tokens": rng.integers(500, 4000, rows),
        "local_num_steps": rng.integers(5, 60, rows),
    }
    ds = Dataset.from_dict(columns)
    from hf_select.metadata import record_score

    directions = {c: {"higher_is_better": True, "score": c} for c in ("local_naturalness", "global_naturalness")}
    return record_score(ds, "synthetic", {"score": "synthetic"}, directions)


def post_scoring(rows: int = 1_000_000, resamples: int = 1000) -> dict[str, float]:
    """Seconds of each step after scoring on a scored split of ``rows`` rows."""
    from hf_select.cards import CardContext, build_card
    from hf_select.compare import compare_scores
    from hf_select.report import format_summary
    from hf_select.results import Ranked, RunRecord, StageResult
    from hf_select.select import filter_equals, rank_teachers, select_best
    from hf_select.wide import fold

    ds = scored_split(rows)
    timings: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        out = fn()
        timings[name] = time.perf_counter() - start
        return out

    complete = timed("filter complete", lambda: filter_equals(ds, "complete", True))
    best = timed(
        "select_best (one per prompt)",
        lambda: select_best(complete, by="local_naturalness", group="prompt_id", among="is_correct"),
    )
    ranking = timed(
        f"rank_teachers ({resamples} resamples)",
        lambda: rank_teachers(complete, by="local_naturalness", bootstrap=resamples, group="prompt_id"),
    )
    timed(
        f"compare_scores (2 scores, {resamples} resamples)",
        lambda: compare_scores(
            complete, ["local_naturalness", "global_naturalness"], group="prompt_id", bootstrap=resamples
        ),
    )
    timed("fold (one row per prompt)", lambda: fold(complete, by="prompt_id"))
    record = RunRecord(
        loaded=[("loaded", rows)],
        results=[
            StageResult(data=complete, step="complete"),
            Ranked(data=complete, tables={"local_naturalness": ranking}, directions={}),
            StageResult(data=best, step="selected"),
        ],
    )
    context = CardContext(split="train", run=record)
    timed("card (with its plots)", lambda: build_card(best, complete, context))
    timed(
        "run summary",
        lambda: format_summary(
            record.steps,
            record.rankings,
            rows_out=len(best),
            output_dir=None,
            pushed=None,
            seconds=0.0,
        ),
    )
    return timings


def format_pipeline_report(report: dict[str, Any]) -> str:
    lines = [
        f"pipeline around the model: {report['rows']} chat rows, {report['response_tokens']} response tokens "
        f"(tiny random model; 2,048-token BPE)",
        f"tokenizer alone on the responses (one batched call per 1,000): "
        f"{report['tokenizer_alone_tokens_per_s']:,.0f} tokens/s; 'around the model': the rate without the tiny "
        "model's own time",
        "",
        f"{'score':<28}{'seconds':>9}{'rows/s':>9}{'tokens/s':>12}{'around the model':>18}{'of tokenizer alone':>20}",
    ]
    for name, s in report["scores"].items():
        around = s["around_model_tokens_per_s"]
        lines.append(
            f"{name:<28}{s['seconds']:>9.1f}{s['rows_per_s']:>9.1f}{s['tokens_per_s']:>12,.0f}"
            + (f"{around:>18,.0f}{s['around_model_of_tokenizer_alone']:>20.0%}" if around else "")
        )
    for name, s in report["scores"].items():
        if "stage_shares" in s:
            shares = ", ".join(f"{stage} {share:.0%}" for stage, share in s["stage_shares"].items())
            lines.append(f"\n{name}: {shares}")
    for rss in report.get("memory", []):
        lines.append(
            f"\npeak RSS scoring {rss['rows']} rows ({rss['response_tokens']} tokens) with global "
            f"naturalness: {rss['peak_rss_mb']:.0f} MB"
        )
    if report.get("post_scoring"):
        lines.append(f"\nafter scoring, on {report['post_rows']:,} rows:")
        lines += [f"  {name:<44}{seconds:>7.2f} s" for name, seconds in report["post_scoring"].items()]
    return "\n".join(lines)
