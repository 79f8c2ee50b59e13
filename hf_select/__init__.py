"""hf_select: curate reasoning-distillation data with Hugging Face datasets.

The public API, loaded on first use (so ``import hf_select.select`` or ``hf_select.cards`` never pulls torch);
submodules too (``hf_select.metadata.read_metadata`` works after a plain ``import hf_select``).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from hf_select.version import __version__

_EXPORTS = {
    "CheckAnswers": "hf_select.answers",
    "Completeness": "hf_select.completeness",
    "ERROR_COLUMN": "hf_select.columns",
    "HfSelectError": "hf_select.errors",
    "MissingColumnError": "hf_select.errors",
    "RecipeError": "hf_select.errors",
    "ScoringInputError": "hf_select.errors",
    "Aslec": "hf_select.scores",
    "GlobalNaturalness": "hf_select.scores",
    "Ifd": "hf_select.scores",
    "LocalNaturalness": "hf_select.scores",
    "Provenance": "hf_select.scores",
    "RankSurprisal": "hf_select.scores",
    "Scorer": "hf_select.scores",
    "register_score": "hf_select.scores",
    "MapPass": "hf_select.scoring",
    "score": "hf_select.run_scores",
    "ScoringEngine": "hf_select.engine",
    "ScoringRequest": "hf_select.engine",
    "ModelConfig": "hf_select.models",
    "ScoringModel": "hf_select.models",
    "load_model": "hf_select.models",
    "explode": "hf_select.wide",
    "fold": "hf_select.wide",
    "Shape": "hf_select.formats",
    "compare_scores": "hf_select.compare",
    "filter_equals": "hf_select.select",
    "filter_quantile": "hf_select.select",
    "filter_threshold": "hf_select.select",
    "rank_teachers": "hf_select.select",
    "select_best": "hf_select.select",
    "select_by_divergence": "hf_select.select",
    "selection_summary": "hf_select.select",
    "split_steps": "hf_select.steps",
    "to_sft": "hf_select.sft",
    "view": "hf_select.viewer",
    "viewer_files": "hf_select.viewer",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif importlib.util.find_spec(f"hf_select.{name}") is not None:  # a submodule: `hf_select.metadata.read_metadata`
        value = importlib.import_module(f"hf_select.{name}")
    else:
        raise AttributeError(f"module 'hf_select' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
