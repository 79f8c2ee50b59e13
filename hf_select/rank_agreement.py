"""How well one teacher ranking follows another, for every row of a ``[resamples, teachers]`` matrix at once.

The statistics the public teacher-ranking harness (franziweindel/teacher-ranking-proxy) reports for a proxy
against post-SFT ground truth, plus Spearman's rho. Each takes oriented values (higher is better) and leaves a
teacher out of a row where either side is NaN:

* `kendall_tau_b`: concordant minus discordant teacher pairs over the tie-corrected number of pairs;
* `pairwise_accuracy`: among the teacher pairs the truth orders strictly, the share the score orders the same way
  (a tie in the score counts one half: a coin flip);
* `top_is_best`: whether the score's top teacher is one of the truly best (1.0 or 0.0); its mean over resamples
  is P(top);
* `spearman`: Pearson's correlation of average ranks.

With T teachers there are only T(T-1)/2 pairs, so a rank statistic takes few values (`rank_values`): with 4
teachers, tau-b is one of 7 values. The report says so when T is small.
"""

from __future__ import annotations

import numpy as np


def _pair_signs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sign of ``values[:, i] - values[:, j]`` for every teacher pair i < j, and whether both are known."""
    i, j = np.triu_indices(values.shape[1], k=1)
    difference = values[:, i] - values[:, j]
    return np.nan_to_num(np.sign(difference)), ~np.isnan(difference)


def kendall_tau_b(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Kendall's tau-b between the rows of ``a`` and ``b``; NaN where a row has no pair untied on both sides."""
    sa, known_a = _pair_signs(a)
    sb, known_b = _pair_signs(b)
    both = known_a & known_b
    sa, sb = sa * both, sb * both
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sa * sb).sum(1) / np.sqrt((sa * sa).sum(1) * (sb * sb).sum(1))


def pairwise_accuracy(score: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Share of the teacher pairs ``truth`` orders strictly that ``score`` orders the same way (ties: 1/2)."""
    ss, known_s = _pair_signs(score)
    st, known_t = _pair_signs(truth)
    counted = known_s & known_t & (st != 0)
    agree = np.where(ss == st, 1.0, np.where(ss == 0, 0.5, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (agree * counted).sum(1) / counted.sum(1)


def top_is_best(score: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """1.0 where the score's top teacher (ties: the first) has the truth's highest value, else 0.0; NaN where
    either side has no value."""
    valid = ~np.isnan(score) & ~np.isnan(truth)
    has = valid.any(1)
    keyed = np.where(valid, score, -np.inf)
    top = np.argmax(keyed, axis=1)
    best = np.max(np.where(valid, truth, -np.inf), axis=1)
    hit = truth[np.arange(len(truth)), top] == best
    return np.where(has, hit.astype(np.float64), np.nan)


def _average_ranks(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean rank) of each row's valid entries."""
    v = np.where(valid, values, 0.0)
    below = ((v[:, None, :] < v[:, :, None]) & valid[:, None, :]).sum(-1)
    equal = ((v[:, None, :] == v[:, :, None]) & valid[:, None, :]).sum(-1)
    return below + (equal + 1) / 2


def spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman's rho between the rows of ``a`` and ``b`` over the teachers valid in both."""
    valid = ~np.isnan(a) & ~np.isnan(b)
    x, y, n = _average_ranks(a, valid), _average_ranks(b, valid), valid.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        xc = np.where(valid, x - (x * valid).sum(1, keepdims=True) / n[:, None], 0.0)
        yc = np.where(valid, y - (y * valid).sum(1, keepdims=True) / n[:, None], 0.0)
        return (xc * yc).sum(1) / np.sqrt((xc * xc).sum(1) * (yc * yc).sum(1))


def rank_values(teachers: int) -> int:
    """How many values tau-b can take between two untied rankings of ``teachers`` teachers."""
    return teachers * (teachers - 1) // 2 + 1
