"""The naive reference: one example, one window at a time, full-vocabulary logits, log_softmax, gather.

Slow and obviously correct. The tests hold the engine to it, and `hf-select bench` measures the engine
against it in the same run, so it must stay honest: fp32, no artificial slowness, nothing shared with the
engine's batching or head code. It re-derives the pinned tokenisation conventions (see `hf_select.layout`)
in its own few lines.
"""

from __future__ import annotations

import numpy as np
import torch

from hf_select.models import ScoringModel
from hf_select.steps import split_steps


@torch.inference_mode()
def naive_token_scores(model: ScoringModel, context: list[int], target: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Log-prob and rank (1 + number of strictly larger logits) of each target token, one full forward pass."""
    lm = model.model
    ids = torch.tensor([list(context) + list(target)], device=model.input_device)
    logits = lm(input_ids=ids).logits[0, len(context) - 1 : -1].float()
    tgt = torch.tensor(target, device=logits.device)[:, None]
    logprobs = torch.log_softmax(logits, dim=-1).gather(1, tgt)[:, 0]
    ranks = (logits > logits.gather(1, tgt)).sum(dim=-1) + 1
    return logprobs.cpu().numpy(), ranks.cpu().numpy()


def context_ids(tokenizer, text: str, special: bool) -> list[int]:
    ids = tokenizer(text, add_special_tokens=special)["input_ids"] if text else []
    if not ids:
        ids = [tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id]
    return list(ids)


def prompt_text(tokenizer, prompt: str | list[dict], layout: str) -> tuple[str, bool]:
    """A string prompt is one user message; a conversation is rendered as it is (plain: contents + blank lines)."""
    messages = list(prompt) if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
    if layout == "auto":
        layout = "chat" if tokenizer.chat_template else "plain"
    if layout == "chat":
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True), False
    return "".join(m["content"] + "\n\n" for m in messages), True


def naive_global(
    model: ScoringModel, prompt: str | list[dict], response: str, layout: str = "auto", before: str = ""
) -> dict:
    """``response`` scored given the prompt (a string, or the conversation before it) and ``before`` (response text
    that precedes the scored part, e.g. the reasoning of an R1 trace when scoring its answer)."""
    tok = model.tokenizer
    text, special = prompt_text(tok, prompt, layout)
    context = context_ids(tok, text + before, special)
    target = tok(response, add_special_tokens=False)["input_ids"]
    logprobs, ranks = naive_token_scores(model, context, target)
    total = float(logprobs.astype(np.float64).sum())
    return {
        "global_naturalness": total / len(target),
        "global_logprob_sum": total,
        "global_num_tokens": len(target),
        "ranks": ranks,
        "logprobs": logprobs,
    }


def naive_local(
    model: ScoringModel,
    response: str,
    window: int = 2,
    *,
    splitter="paragraph",
    max_step_tokens: int = 80,
    include_prompt: bool = False,
    prompt: str | None = None,
    layout: str = "auto",
) -> dict:
    tok = model.tokenizer
    prefix, special = prompt_text(tok, prompt, layout) if include_prompt else ("", True)
    steps = [response[s:e] for s, e in split_steps(response, splitter, max_step_tokens=max_step_tokens)]
    step_scores = []
    for i, step in enumerate(steps):
        context = context_ids(tok, prefix + "".join(steps[max(0, i - window) : i]), special)
        logprobs, _ = naive_token_scores(model, context, tok(step, add_special_tokens=False)["input_ids"])
        step_scores.append(float(logprobs.astype(np.float64).mean()))
    return {
        "local_naturalness": float(np.mean(step_scores)),
        "local_step_scores": step_scores,
        "local_num_steps": len(steps),
    }


def naive_rank_surprisal(
    model: ScoringModel, prompt: str | list[dict], response: str, layout: str = "auto", rank_clip: int | None = 100
) -> dict:
    """RSR as published: each token's rank (1 + the number of strictly larger logits) clipped at ``rank_clip``,
    then the sum of clipped ranks over the sum of surprisals."""
    g = naive_global(model, prompt, response, layout)
    ranks = [float(min(r, rank_clip)) if rank_clip is not None else float(r) for r in g["ranks"]]
    surprisals = [-float(lp) for lp in g["logprobs"]]
    return {
        "rsr": sum(ranks) / sum(surprisals),
        "rsr_mean_rank": sum(ranks) / len(ranks),
        "rsr_mean_surprisal": sum(surprisals) / len(surprisals),
    }


def naive_bootstrap(prompts: np.ndarray, teachers: np.ndarray, values: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Every teacher's mean in every resample, one resample at a time: ``draws[b]`` are the prompt ids drawn
    (with replacement) by resample ``b``; the rows of each drawn prompt are gathered (twice if drawn twice) and
    each teacher's mean taken over them. Returns ``[resamples, teachers]`` (NaN: no row of that teacher)."""
    rows_of = {p: np.flatnonzero(prompts == p) for p in np.unique(prompts)}
    n_teachers = int(teachers.max()) + 1
    out = np.full((len(draws), n_teachers), np.nan)
    for b, drawn in enumerate(draws):
        rows = np.concatenate([rows_of.get(p, np.zeros(0, np.int64)) for p in drawn])
        for t in range(n_teachers):
            mine = values[rows[teachers[rows] == t]]
            mine = mine[~np.isnan(mine)]
            if len(mine):
                out[b, t] = mine.mean()
    return out
