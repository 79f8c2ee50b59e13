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


def _context_ids(tokenizer, text: str, special: bool) -> list[int]:
    ids = tokenizer(text, add_special_tokens=special)["input_ids"] if text else []
    if not ids:
        ids = [tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id]
    return list(ids)


def _prompt_text(tokenizer, prompt: str | list[dict], layout: str) -> tuple[str, bool]:
    """A string prompt is one user message; a conversation is rendered as it is (plain: contents + blank lines)."""
    messages = list(prompt) if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
    if layout == "auto":
        layout = "chat" if tokenizer.chat_template else "plain"
    if layout == "chat":
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True), False
    return "".join(m["content"] + "\n\n" for m in messages), True


def naive_global(model: ScoringModel, prompt: str | list[dict], response: str, layout: str = "auto",
                 before: str = "") -> dict:
    """``response`` scored given the prompt (a string, or the conversation before it) and ``before`` (response text
    that precedes the scored part, e.g. the reasoning of an R1 trace when scoring its answer)."""
    tok = model.tokenizer
    text, special = _prompt_text(tok, prompt, layout)
    context = _context_ids(tok, text + before, special)
    target = tok(response, add_special_tokens=False)["input_ids"]
    logprobs, ranks = naive_token_scores(model, context, target)
    total = float(logprobs.astype(np.float64).sum())
    return {"global_naturalness": total / len(target), "global_logprob_sum": total,
            "global_num_tokens": len(target), "ranks": ranks, "logprobs": logprobs}


def naive_local(model: ScoringModel, response: str, window: int = 2, *, splitter="paragraph",
                max_step_tokens: int = 80, include_prompt: bool = False, prompt: str | None = None,
                layout: str = "auto") -> dict:
    tok = model.tokenizer
    prefix, special = _prompt_text(tok, prompt, layout) if include_prompt else ("", True)
    steps = [response[s:e] for s, e in split_steps(response, splitter, max_step_tokens=max_step_tokens)]
    step_scores = []
    for i, step in enumerate(steps):
        context = _context_ids(tok, prefix + "".join(steps[max(0, i - window) : i]), special)
        logprobs, _ = naive_token_scores(model, context, tok(step, add_special_tokens=False)["input_ids"])
        step_scores.append(float(logprobs.astype(np.float64).mean()))
    return {"local_naturalness": float(np.mean(step_scores)), "local_step_scores": step_scores,
            "local_num_steps": len(steps)}


def naive_rank_surprisal(model: ScoringModel, prompt: str | list[dict], response: str, layout: str = "auto",
                         rank_clip: int | None = 100) -> dict:
    """RSR as published: each token's rank (1 + the number of strictly larger logits) clipped at ``rank_clip``,
    then the sum of clipped ranks over the sum of surprisals."""
    g = naive_global(model, prompt, response, layout)
    ranks = [float(min(r, rank_clip)) if rank_clip is not None else float(r) for r in g["ranks"]]
    surprisals = [-float(lp) for lp in g["logprobs"]]
    return {"rsr": sum(ranks) / sum(surprisals), "rsr_mean_rank": sum(ranks) / len(ranks),
            "rsr_mean_surprisal": sum(surprisals) / len(surprisals)}


def naive_teacher_rsr(responses: list[tuple[str, float, float]]) -> dict[str, float]:
    """Dataset-level RSR per teacher, as published: the mean over the teacher's responses of their mean rank,
    divided by the mean over its responses of their mean surprisal. ``responses``: (teacher, mean rank, mean
    surprisal) per response."""
    out = {}
    for teacher in sorted({t for t, _, _ in responses}):
        mine = [(r, s) for t, r, s in responses if t == teacher]
        out[teacher] = (sum(r for r, _ in mine) / len(mine)) / (sum(s for _, s in mine) / len(mine))
    return out


def naive_ifd(model: ScoringModel, prompt: str | list[dict], response: str, layout: str = "auto",
              max_tokens: int | None = None) -> dict:
    """IFD as published: the mean token loss of the response given the prompt, over its mean loss alone (after the
    BOS token, EOS without one); with ``max_tokens``, of its first ``max_tokens`` tokens in both (Cherry's cut)."""
    tok = model.tokenizer
    text, special = _prompt_text(tok, prompt, layout)
    target = tok(response, add_special_tokens=False)["input_ids"][:max_tokens]
    given, _ = naive_token_scores(model, _context_ids(tok, text, special), target)
    alone, _ = naive_token_scores(model, _context_ids(tok, "", True), target)
    conditional, unconditional = -float(given.astype(np.float64).mean()), -float(alone.astype(np.float64).mean())
    return {"ifd": conditional / unconditional, "ifd_conditional_loss": conditional,
            "ifd_unconditional_loss": unconditional}


def naive_aslec(model: ScoringModel, prompt: str | list[dict], response: str, *, splitter="aslec",
                skip_tokens: int = 1, layout: str = "auto") -> dict:
    """ASLEC's parts from the response's token log-probabilities given the prompt: each token goes to the step
    holding its first non-space character; the first ``skip_tokens`` tokens of each step are step-initial."""
    logprobs = naive_global(model, prompt, response, layout)["logprobs"].astype(np.float64)
    encoded = model.tokenizer(response, add_special_tokens=False, return_offsets_mapping=True)
    steps = split_steps(response, splitter)
    owner = []
    for start, end in encoded["offset_mapping"]:
        first_char = next((i for i in range(start, end) if not response[i].isspace()), start)
        owner.append(max(k for k, (s, _) in enumerate(steps) if s <= min(first_char, len(response) - 1)))
    initial = [i - owner.index(owner[i]) < skip_tokens for i in range(len(owner))]
    first = [lp for lp, x in zip(logprobs, initial, strict=True) if x]
    rest = [lp for lp, x in zip(logprobs, initial, strict=True) if not x]
    return {"aslec_drop": float(np.mean(rest)), "aslec_mean": float(logprobs.mean()),
            "aslec_rest_mean": float(np.mean(rest)), "aslec_first_mean": float(np.mean(first)),
            "aslec_first_share": len(first) / len(logprobs), "aslec_num_steps": len(set(owner))}


def naive_casl(rows: list[dict]) -> list[float]:
    """ASLEC-CASL over a pool of `naive_aslec` results: regress the mean on (rest mean, first mean, first share, 1)
    by least squares, and subtract gamma * first share from each row's mean."""
    design = np.array([[r["aslec_rest_mean"], r["aslec_first_mean"], r["aslec_first_share"], 1.0] for r in rows])
    coef = np.linalg.lstsq(design, np.array([r["aslec_mean"] for r in rows]), rcond=None)[0]
    return [r["aslec_mean"] - coef[2] * r["aslec_first_share"] for r in rows]


def naive_sentence_logprobs(model: ScoringModel, prompt: str, response: str, spans, layout: str = "auto") -> list:
    """Each sentence scored on its own: context = the prompt as laid out, then all previous response text
    re-encoded from scratch; target = the sentence's own tokens."""
    tok = model.tokenizer
    prefix, special = _prompt_text(tok, prompt, layout)
    context_prompt = _context_ids(tok, prefix, special)
    out = []
    for start, end in spans:
        previous = tok(response[:start], add_special_tokens=False)["input_ids"] if start else []
        logprobs, _ = naive_token_scores(model, context_prompt + list(previous),
                                         tok(response[start:end], add_special_tokens=False)["input_ids"])
        out.append(float(logprobs.astype(np.float64).sum()))
    return out


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
