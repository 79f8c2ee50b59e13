"""hf_select: curate reasoning-distillation data with Hugging Face datasets."""

__version__ = "0.1.0"

from hf_select.answers import CheckAnswers
from hf_select.engine import ScoringEngine, ScoringRequest
from hf_select.models import ScoringModel, load_model
from hf_select.scores import (
    ERROR_COLUMN,
    GlobalNaturalness,
    LocalNaturalness,
    Provenance,
    RankSurprisal,
    Scorer,
    ScoringInputError,
)
from hf_select.scoring import score
from hf_select.select import (
    filter_equals,
    filter_quantile,
    filter_threshold,
    rank_teachers,
    select_best,
    select_by_divergence,
)
from hf_select.steps import split_steps

__all__ = [
    "ERROR_COLUMN",
    "CheckAnswers",
    "GlobalNaturalness",
    "LocalNaturalness",
    "Provenance",
    "RankSurprisal",
    "Scorer",
    "ScoringEngine",
    "ScoringInputError",
    "ScoringModel",
    "ScoringRequest",
    "__version__",
    "filter_equals",
    "filter_quantile",
    "filter_threshold",
    "load_model",
    "rank_teachers",
    "score",
    "select_best",
    "select_by_divergence",
    "split_steps",
]
