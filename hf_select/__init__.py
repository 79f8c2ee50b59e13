"""hf_select: curate reasoning-distillation data with Hugging Face datasets."""

__version__ = "0.1.0"

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
from hf_select.steps import split_steps

__all__ = [
    "ERROR_COLUMN",
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
    "load_model",
    "score",
    "split_steps",
]
