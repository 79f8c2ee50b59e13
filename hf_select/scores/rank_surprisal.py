"""Rank-Surprisal Ratio (Yang et al., arXiv 2601.14249): mean token rank over mean surprisal, as published.

- Per token: rank = 1 + the number of vocabulary logits strictly greater than the target's, clipped at
  ``rank_clip`` (the published default, 100: a token outside the student's top 100 counts as 100).
- Per response: the sum of clipped ranks over the sum of surprisals (negative log-probabilities), which equals
  the mean rank over the mean surprisal. With chat data and ``turns="all"``, every assistant turn's tokens.
- Per teacher (dataset level): the mean over responses of the mean rank, divided by the mean over responses of
  the mean surprisal, a ratio of means and not a mean of ratios; the column's metadata says so, and
  `hf_select.rank_teachers` aggregates it that way.

A response whose tokens the student ranks high (aligned with what it would say) while still being surprising
in absolute terms (informative) gets a low RSR. Reported to track post-training accuracy across teachers
(Spearman 0.86 over 11 teachers). Lower is better. Ranks come from the logits the engine already computes at
scored positions, so RSR costs one forward pass, and ``include_global=True`` adds global naturalness from that
same pass.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from datasets import Value

from hf_select import citations
from hf_select.columns import RSR
from hf_select.engine import ScoringRequest, TokenScores
from hf_select.errors import ConfigError
from hf_select.formats import Format, Part, Turns
from hf_select.layout import Layout
from hf_select.models import ScoringModel
from hf_select.scores.base import OnError, OnOverflow
from hf_select.scores.naturalness import GlobalNaturalness

DEFAULT_RANK_CLIP = 100  # the published default


class RankSurprisal(GlobalNaturalness):
    """Adds ``rsr`` (mean rank / mean surprisal over the response's tokens given the prompt, laid out as
    for global naturalness), ``rsr_mean_rank`` and ``rsr_mean_surprisal``. A token's rank is 1 + the number
    of vocabulary entries with a strictly larger logit. ``rank_clip`` (default 100, as published; None: no clip)
    caps each rank before averaging, so a few very unlikely tokens do not dominate. With ``include_global=True``
    the ``global_*`` columns come from the same forward pass."""

    name = "rank_surprisal"
    cli_alias = "rsr"
    columns = (RSR,)
    explanation = (
        "Rank-Surprisal Ratio (arXiv 2601.14249): the mean rank of the response's tokens under the student (1 = its "
        "top choice) divided by their mean surprisal (negative log-probability). Lower is better: content that is "
        "informative in absolute terms yet aligned with what the student already ranks high.")
    citation = citations.RANK_SURPRISAL
    fields = {**GlobalNaturalness.fields,
              "rsr_mean_rank": "mean rank of the response's tokens under the student (clipped as configured)",
              "rsr_mean_surprisal": "mean negative log-probability of the response's tokens"}
    with_ranks = True

    def __init__(self, model: ScoringModel, *, prompt_column: str | None = None, response_column: str | None = None,
                 format: Format = "text", turns: Turns = "last", part: Part = "all", layout: Layout = "auto",
                 rank_clip: int | None = DEFAULT_RANK_CLIP, include_global: bool = False, on_error: OnError = "raise",
                 on_overflow: OnOverflow = "error", column_suffix: str | None = None):
        super().__init__(model, prompt_column=prompt_column, response_column=response_column, format=format,
                         turns=turns, part=part, layout=layout, on_error=on_error, on_overflow=on_overflow,
                         column_suffix=column_suffix)
        if rank_clip is not None and (isinstance(rank_clip, bool) or not isinstance(rank_clip, int) or rank_clip < 1):
            raise ConfigError(f"rank_clip must be a positive integer or None, not {rank_clip!r}")
        self.rank_clip, self.include_global = rank_clip, include_global

    def base_column_specs(self):
        return (*GlobalNaturalness.columns, *self.columns) if self.include_global else self.columns

    def output_features(self) -> dict[str, Any]:
        features = {"rsr": Value("float64"), "rsr_mean_rank": Value("float64"),
                    "rsr_mean_surprisal": Value("float64")}
        return {**(super().output_features() if self.include_global else {}), **features}

    def score_config(self) -> dict[str, Any]:
        return {**super().score_config(), "rank_clip": self.rank_clip, "include_global": self.include_global}

    def columns_for(self, row: dict[str, Any], requests: list[ScoringRequest],
                    results: list[TokenScores]) -> dict[str, Any]:
        logprobs = np.concatenate([r.logprobs for r in results])  # every scored turn's tokens
        scored = ~np.isnan(logprobs)
        ranks = np.concatenate([r.ranks for r in results])[scored].astype(np.float64)
        if self.rank_clip is not None:
            ranks = np.minimum(ranks, self.rank_clip)
        surprisal = -logprobs[scored].astype(np.float64)
        mean_rank = float(ranks.mean()) if ranks.size else math.nan
        mean_surprisal = float(surprisal.mean()) if surprisal.size else math.nan
        out = {"rsr": mean_rank / mean_surprisal if mean_surprisal > 0 else math.nan,
               "rsr_mean_rank": mean_rank, "rsr_mean_surprisal": mean_surprisal}
        if self.include_global:
            out = {**super().columns_for(row, requests, results), **out}
        return out
