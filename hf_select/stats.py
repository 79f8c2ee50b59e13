"""Uncertainty of teacher rankings: a prompt bootstrap, vectorised over resamples, and paired comparisons.

Teachers answer the same prompts, so a resample draws *prompts* with replacement and keeps each drawn prompt's
responses together (a prompt drawn twice counts twice). With ``C[b, p]`` the number of times resample ``b``
drew prompt ``p`` and ``S[p, t]``, ``N[p, t]`` the sum and the count of teacher ``t``'s scores on prompt ``p``,
every teacher's mean in every resample is ``(C @ S) / (C @ N)``: two matrix products, no loop over resamples
(`hf-select bench --rankings` measures it against a loop over resamples). A teacher-level score that is a ratio
of means (the Rank-Surprisal Ratio) resamples its numerator and denominator the same way.

Reported per teacher: the ``confidence`` percentile interval of its score, the interval of its rank, and the
share of resamples in which it ranks first. Neighbouring teachers are compared on the prompts both answered:
the mean per-prompt difference, with a percentile interval from resampling those prompts.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

BLOCK_BYTES = 2**27  # weights of the resamples drawn at once (128 MiB)


@dataclass
class TeacherTable:
    """Per-prompt sums and counts of each teacher's values (and of a denominator, for a ratio of means)."""

    sums: np.ndarray  # [prompts, teachers]
    counts: np.ndarray  # [prompts, teachers]
    denominators: np.ndarray | None = None  # [prompts, teachers]: sums of the denominator values

    @classmethod
    def build(
        cls,
        prompt: np.ndarray,
        teacher: np.ndarray,
        values: np.ndarray,
        n_prompts: int,
        n_teachers: int,
        denominators: np.ndarray | None = None,
    ) -> TeacherTable:
        """From per-row dense ids and values; rows whose value (or denominator) is NaN are left out."""
        keep = ~np.isnan(values) if denominators is None else ~(np.isnan(values) | np.isnan(denominators))
        cell = prompt[keep] * n_teachers + teacher[keep]
        size = n_prompts * n_teachers

        def total(weights: np.ndarray | None) -> np.ndarray:
            return np.bincount(cell, weights=weights, minlength=size).reshape(n_prompts, n_teachers)

        return cls(total(values[keep]), total(None), None if denominators is None else total(denominators[keep]))

    def scores(self, weights: np.ndarray) -> np.ndarray:
        """Each teacher's score for each row of prompt ``weights`` ([resamples, prompts] -> [resamples, teachers]):
        the mean, or the ratio of the mean to the mean denominator. NaN for a teacher left without a value."""
        with np.errstate(invalid="ignore", divide="ignore"):
            counts = weights @ self.counts
            means = (weights @ self.sums) / counts
            if self.denominators is not None:
                means = means / ((weights @ self.denominators) / counts)
        return means


def ranks_of(scores: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Rank (1 = best) of each column in each row; NaN scores rank last; ties are broken by column order."""
    keyed = np.where(np.isnan(scores), np.inf, -scores if higher_is_better else scores)
    order = np.argsort(keyed, axis=-1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, scores.shape[-1] + 1)[None, :].repeat(len(scores), 0), axis=-1)
    return ranks


def resample_weights(n_prompts: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``C[b, p]``: how many times resample ``b`` drew prompt ``p`` (``n_prompts`` draws with replacement)."""
    draws = rng.integers(0, n_prompts, size=(n_resamples, n_prompts))
    weights = np.empty((n_resamples, n_prompts))
    for row, drawn in zip(weights, draws, strict=True):  # a count per row, straight into floats: 2x one flat count
        row[:] = np.bincount(drawn, minlength=n_prompts)
    return weights


def resampled(
    statistics: Callable[[np.ndarray], dict[str, np.ndarray]],
    n_prompts: int,
    n_resamples: int,
    seed: int,
    block_bytes: int = BLOCK_BYTES,
) -> dict[str, np.ndarray]:
    """``statistics(C)`` for the whole data (row 0: every prompt once) and ``n_resamples`` resamples, each
    statistic stacked over them. Resamples are drawn in blocks of at most ``block_bytes`` of weights (a million
    rows x 1,000 resamples would be gigabytes at once); the draws, and so the results, are those of one
    `resample_weights` call with ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    rows = max(1, block_bytes // (8 * max(n_prompts, 1)))
    blocks = [statistics(np.ones((1, n_prompts)))]
    for start in range(0, n_resamples, rows):
        blocks.append(statistics(resample_weights(n_prompts, min(rows, n_resamples - start), rng)))
    return {name: np.concatenate([block[name] for block in blocks]) for name in blocks[0]}


@dataclass
class Bootstrap:
    """The bootstrap of one teacher ranking (arrays indexed by teacher)."""

    score_low: np.ndarray
    score_high: np.ndarray
    rank_low: np.ndarray
    rank_high: np.ndarray
    p_first: np.ndarray


def percentile_bootstrap(scores: np.ndarray, higher_is_better: bool, confidence: float) -> Bootstrap:
    """Percentile intervals of every teacher's score and rank, and P(first), from resampled ``scores``
    ``[resamples, teachers]``."""
    ranks = ranks_of(scores, higher_is_better)
    tail = (1 - confidence) / 2 * 100
    with warnings.catch_warnings():  # a teacher without any value: its interval is NaN, which is the answer
        warnings.filterwarnings("ignore", message="All-NaN slice encountered")
        low, high = np.nanpercentile(scores, [tail, 100 - tail], axis=0)
    rank_low, rank_high = np.percentile(ranks, [tail, 100 - tail], axis=0, method="nearest")
    return Bootstrap(low, high, rank_low.astype(np.int64), rank_high.astype(np.int64), (ranks == 1).mean(axis=0))


@dataclass
class Paired:
    """A teacher against another on the prompts both answered (difference oriented so that > 0 favours ``a``)."""

    difference: float
    low: float
    high: float
    prompts: int

    @property
    def distinguishable(self) -> bool:
        return self.prompts > 1 and (self.low > 0 or self.high < 0)


def paired_difference(
    a: np.ndarray, b: np.ndarray, *, n_resamples: int, seed: int, higher_is_better: bool, confidence: float = 0.95
) -> Paired:
    """``a`` and ``b``: per-prompt scores of two teachers (NaN where a teacher did not answer). The mean of the
    differences on shared prompts, oriented so that a positive value means ``a`` is better, with a percentile
    interval from resampling those prompts."""
    shared = ~(np.isnan(a) | np.isnan(b))
    diff = (a[shared] - b[shared]) * (1 if higher_is_better else -1)
    if not len(diff):
        return Paired(float("nan"), float("nan"), float("nan"), 0)
    means = resampled(lambda weights: {"mean": weights @ diff / len(diff)}, len(diff), n_resamples, seed)["mean"]
    return _paired(means, confidence, len(diff))


def _paired(means: np.ndarray, confidence: float, prompts: int) -> Paired:
    """A `Paired` from the mean difference on the whole data (``means[0]``) and on each resample."""
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means[1:], [tail, 100 - tail])
    return Paired(float(means[0]), float(low), float(high), prompts)


def uncertainty_columns(
    point: TeacherTable,
    per_prompt: TeacherTable,
    order: np.ndarray,
    names: list,
    *,
    n_resamples: int,
    seed: int,
    higher_is_better: bool,
    confidence: float = 0.95,
) -> dict:
    """The bootstrap columns of a ranking (indexed by teacher): score and rank intervals, P(first), and each
    teacher's paired comparison with the next one in ``order`` on ``per_prompt``'s values. Neighbours that share
    every prompt are resampled with the teachers, in the same pass (the same draws a pass of their own would make);
    the others resample the prompts they share."""
    n, sign = len(names), 1 if higher_is_better else -1
    with np.errstate(invalid="ignore", divide="ignore"):
        means = per_prompt.sums / per_prompt.counts  # [prompts, teachers], NaN where a teacher did not answer
    pairs = list(zip(order[:-1], order[1:], strict=True))
    complete = [k for k, (u, v) in enumerate(pairs) if not np.isnan(means[:, [u, v]]).any()]

    def statistics(weights: np.ndarray) -> dict[str, np.ndarray]:
        out = {"scores": point.scores(weights)}
        for k in complete:
            u, v = pairs[k]
            out[f"pair {k}"] = weights @ ((means[:, u] - means[:, v]) * sign) / len(means)
        return out

    samples = resampled(statistics, point.sums.shape[0], n_resamples, seed)
    boot = percentile_bootstrap(samples["scores"][1:], higher_is_better, confidence)
    out = {
        "score_low": boot.score_low,
        "score_high": boot.score_high,
        "rank_low": boot.rank_low,
        "rank_high": boot.rank_high,
        "p_first": boot.p_first,
        "next_teacher": [None] * n,
        "vs_next": np.full(n, np.nan),
        "vs_next_low": np.full(n, np.nan),
        "vs_next_high": np.full(n, np.nan),
        "vs_next_prompts": np.zeros(n, np.int64),
    }
    for k, (upper, lower) in enumerate(pairs):
        if k in complete:
            paired = _paired(samples[f"pair {k}"], confidence, len(means))
        else:
            paired = paired_difference(
                means[:, upper],
                means[:, lower],
                n_resamples=n_resamples,
                seed=seed,
                higher_is_better=higher_is_better,
                confidence=confidence,
            )
        out["next_teacher"][upper] = names[lower]
        out["vs_next"][upper], out["vs_next_low"][upper] = paired.difference, paired.low
        out["vs_next_high"][upper], out["vs_next_prompts"][upper] = paired.high, paired.prompts
    return out


def crossfit_folds(n_prompts: int, seed: int, folds: int = 5, repeats: int = 4) -> np.ndarray:
    """``[repeats, prompts]``: the fold of each prompt in each of ``repeats`` random splits into ``folds`` folds of
    (nearly) equal size (fewer folds when there are fewer prompts). Folds belong to prompts, not to draws, so a
    prompt a resample draws twice is never on both sides of a split."""
    rng = np.random.default_rng([seed, 1])  # not the bootstrap's stream: adding this leaves its draws as they were
    k = max(1, min(folds, n_prompts))
    return np.stack([rng.permutation(n_prompts) % k for _ in range(repeats)])


def held_out_best(table: TeacherTable, folds: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """What choosing the best teacher on labelled prompts gives on prompts it was not chosen on, under each row
    of prompt ``weights`` (``[resamples]``).

    Choosing the teacher with the highest mean on the same prompts its mean is reported on is optimistic (four
    teachers of equal accuracy: the best of four noisy means is above their common value). Here each fold's
    prompts are held out in turn, the teacher is chosen on the others (a tie: the mean of the tied teachers, as a
    coin flip would give on average), and its mean on the held-out prompts is weighted by their number; the
    estimate is averaged over the splits of ``folds`` (`crossfit_folds`). NaN where no fold can be evaluated."""
    estimates = []
    for assignment in folds:
        total, mass = np.zeros(len(weights)), np.zeros(len(weights))
        for k in np.unique(assignment):
            held = (assignment == k).astype(np.float64)
            train, test = weights * (1 - held), weights * held
            with np.errstate(invalid="ignore", divide="ignore"):
                chosen_on = (train @ table.sums) / (train @ table.counts)
                held_out = (test @ table.sums) / (test @ table.counts)
            best = np.max(np.where(np.isnan(chosen_on), -np.inf, chosen_on), axis=1, keepdims=True)
            tied = (chosen_on == best) & ~np.isnan(held_out)
            with np.errstate(invalid="ignore", divide="ignore"):
                value = np.where(tied, held_out, 0.0).sum(1) / tied.sum(1)
            ok = ~np.isnan(value)
            prompts = test.sum(1)
            total += np.where(ok, value * prompts, 0.0)
            mass += np.where(ok, prompts, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            estimates.append(total / mass)
    estimates = np.stack(estimates)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Mean of empty slice")
        return np.nanmean(estimates, axis=0)
