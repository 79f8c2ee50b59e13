"""Naive references only the tests use (the ones `hf-select bench` also runs stay in `hf_select.reference`):
one example at a time, full logits, each definition as its paper states it."""

from __future__ import annotations

import numpy as np

from hf_select.models import ScoringModel
from hf_select.reference import context_ids, naive_global, naive_token_scores, prompt_text
from hf_select.stats import Bootstrap, TeacherTable, percentile_bootstrap, resampled
from hf_select.steps import split_steps


def naive_teacher_rsr(responses: list[tuple[str, float, float]]) -> dict[str, float]:
    """Dataset-level RSR per teacher, as published: the mean over the teacher's responses of their mean rank,
    divided by the mean over its responses of their mean surprisal. ``responses``: (teacher, mean rank, mean
    surprisal) per response."""
    out = {}
    for teacher in sorted({t for t, _, _ in responses}):
        mine = [(r, s) for t, r, s in responses if t == teacher]
        out[teacher] = (sum(r for r, _ in mine) / len(mine)) / (sum(s for _, s in mine) / len(mine))
    return out


def naive_ifd(
    model: ScoringModel, prompt: str | list[dict], response: str, layout: str = "auto", max_tokens: int | None = None
) -> dict:
    """IFD as published: the mean token loss of the response given the prompt, over its mean loss alone (after the
    BOS token, EOS without one); with ``max_tokens``, of its first ``max_tokens`` tokens in both (Cherry's cut)."""
    tok = model.tokenizer
    text, special = prompt_text(tok, prompt, layout)
    target = tok(response, add_special_tokens=False)["input_ids"][:max_tokens]
    given, _ = naive_token_scores(model, context_ids(tok, text, special), target)
    alone, _ = naive_token_scores(model, context_ids(tok, "", True), target)
    conditional, unconditional = -float(given.astype(np.float64).mean()), -float(alone.astype(np.float64).mean())
    return {
        "ifd": conditional / unconditional,
        "ifd_conditional_loss": conditional,
        "ifd_unconditional_loss": unconditional,
    }


def naive_aslec(
    model: ScoringModel,
    prompt: str | list[dict],
    response: str,
    *,
    splitter="aslec",
    skip_tokens: int = 1,
    layout: str = "auto",
) -> dict:
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
    return {
        "aslec_drop": float(np.mean(rest)),
        "aslec_mean": float(logprobs.mean()),
        "aslec_rest_mean": float(np.mean(rest)),
        "aslec_first_mean": float(np.mean(first)),
        "aslec_first_share": len(first) / len(logprobs),
        "aslec_num_steps": len(set(owner)),
    }


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
    prefix, special = prompt_text(tok, prompt, layout)
    context_prompt = context_ids(tok, prefix, special)
    out = []
    for start, end in spans:
        previous = tok(response[:start], add_special_tokens=False)["input_ids"] if start else []
        logprobs, _ = naive_token_scores(
            model, context_prompt + list(previous), tok(response[start:end], add_special_tokens=False)["input_ids"]
        )
        out.append(float(logprobs.astype(np.float64).sum()))
    return out


def bootstrap_teachers(
    table: TeacherTable, *, n_resamples: int, seed: int, higher_is_better: bool, confidence: float = 0.95
) -> Bootstrap:
    """Percentile intervals of every teacher's score and rank, and P(first), from ``n_resamples`` resamples of
    the prompts (deterministic for a given ``seed``)."""
    scores = resampled(lambda weights: {"scores": table.scores(weights)}, table.sums.shape[0], n_resamples, seed)[
        "scores"
    ][1:]
    return percentile_bootstrap(scores, higher_is_better, confidence)
