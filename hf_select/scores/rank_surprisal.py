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
from dataclasses import dataclass
from typing import Any

import numpy as np
from datasets import Value

from hf_select import citations
from hf_select.columns import GLOBAL_NATURALNESS, RSR, Field
from hf_select.config import option
from hf_select.engine_io import ScoringRequest, TokenScores
from hf_select.errors import ConfigError
from hf_select.layout import TextRequest
from hf_select.scores.base import Scorer
from hf_select.scores.naturalness import GLOBAL_FIELDS, PromptedParams, global_columns, response_given_prompt

DEFAULT_RANK_CLIP = 100  # the published default


@dataclass(frozen=True)
class RankSurprisalParams(PromptedParams):
    rank_clip: int | None = option(
        "Cap each token's rank at this before averaging (the published 100; None: no cap).", DEFAULT_RANK_CLIP
    )
    include_global: bool = option("Also add the global_* columns, from the same forward pass.", False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.rank_clip is not None and self.rank_clip < 1:
            raise ConfigError(f"rank_clip must be a positive integer or None, not {self.rank_clip!r}")


class RankSurprisal(Scorer):
    """Adds ``rsr`` (mean rank / mean surprisal over the response's tokens given the prompt, laid out as
    for global naturalness), ``rsr_mean_rank`` and ``rsr_mean_surprisal``. A token's rank is 1 + the number
    of vocabulary entries with a strictly larger logit. ``rank_clip`` (default 100, as published; None: no clip)
    caps each rank before averaging, so a few very unlikely tokens do not dominate. With ``include_global=True``
    the ``global_*`` columns come from the same forward pass."""

    name = "rank_surprisal"
    cli_alias = "rsr"
    Params = RankSurprisalParams
    columns = (RSR,)
    explanation = (
        "Rank-Surprisal Ratio (arXiv 2601.14249): the mean rank of the response's tokens under the student (1 = its "
        "top choice) divided by their mean surprisal (negative log-probability). Lower is better: content that is "
        "informative in absolute terms yet aligned with what the student already ranks high."
    )
    citation = citations.RANK_SURPRISAL
    fields = {
        **GLOBAL_FIELDS,
        "rsr_mean_rank": Field(
            Value("float64"), "mean rank of the response's tokens under the student (clipped as configured)"
        ),
        "rsr_mean_surprisal": Field(Value("float64"), "mean negative log-probability of the response's tokens"),
    }
    with_ranks = True
    params: RankSurprisalParams

    def base_column_specs(self):
        return (GLOBAL_NATURALNESS, *self.columns) if self.params.include_global else self.columns

    def output_features(self) -> dict[str, Any]:
        features = super().output_features()
        return (
            features
            if self.params.include_global
            else {name: feature for name, feature in features.items() if name not in GLOBAL_FIELDS}
        )

    def requests_for(self, row: dict[str, Any]) -> list[TextRequest]:
        return response_given_prompt(self, row)

    def columns_for(
        self, row: dict[str, Any], requests: list[ScoringRequest], results: list[TokenScores]
    ) -> dict[str, Any]:
        logprobs = np.concatenate([r.logprobs for r in results])  # every scored turn's tokens
        scored = ~np.isnan(logprobs)
        ranks = np.concatenate([r.ranks for r in results])[scored].astype(np.float64)
        if self.params.rank_clip is not None:
            ranks = np.minimum(ranks, self.params.rank_clip)
        surprisal = -logprobs[scored].astype(np.float64)
        mean_rank = float(ranks.mean()) if ranks.size else math.nan
        mean_surprisal = float(surprisal.mean()) if surprisal.size else math.nan
        out = {
            "rsr": mean_rank / mean_surprisal if mean_surprisal > 0 else math.nan,
            "rsr_mean_rank": mean_rank,
            "rsr_mean_surprisal": mean_surprisal,
        }
        if self.params.include_global:
            out = {**global_columns(results), **out}
        return out
