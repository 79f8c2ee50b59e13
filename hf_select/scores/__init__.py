"""One module per score; each is usable as ``Dataset.map(scorer, batched=True)``."""

from hf_select.scores.base import ERROR_COLUMN, Scorer, ScoringInputError
from hf_select.scores.naturalness import GlobalNaturalness, LocalNaturalness
from hf_select.scores.provenance import Provenance, ProvenanceCategories, SentenceLogprobs
from hf_select.scores.rank_surprisal import RankSurprisal

SCORES = [GlobalNaturalness, LocalNaturalness, RankSurprisal, ProvenanceCategories]
KNOWN_DIRECTIONS = {column: up for cls in SCORES for column, up in cls.higher_is_better.items()}

__all__ = ["ERROR_COLUMN", "GlobalNaturalness", "KNOWN_DIRECTIONS", "LocalNaturalness", "Provenance",
           "ProvenanceCategories", "RankSurprisal", "Scorer", "ScoringInputError", "SentenceLogprobs"]
