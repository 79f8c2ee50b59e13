"""One module per score; each is a `Scorer` usable as ``Dataset.map(scorer, batched=True)``."""

from hf_select.scores.base import ERROR_COLUMN, Scorer, ScoringInputError
from hf_select.scores.naturalness import GlobalNaturalness, LocalNaturalness

SCORERS = [GlobalNaturalness, LocalNaturalness]
KNOWN_DIRECTIONS = {column: up for cls in SCORERS for column, up in cls.higher_is_better.items()}

__all__ = ["ERROR_COLUMN", "GlobalNaturalness", "KNOWN_DIRECTIONS", "LocalNaturalness", "Scorer",
           "ScoringInputError"]
