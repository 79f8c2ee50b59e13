"""The score registry: every score hf_select knows, and the one place a new score is added.

A score is a `MapPass` class that carries everything the rest of the library needs to know about it:
``name`` (the recipe ``type`` and the metadata key), ``cli_alias`` (``hf-select score --scores``), ``explanation``
(the card text), ``columns`` (what to rank by, with direction and definition) and ``model_roles`` (the model
arguments it takes: ``("model",)``, ``("teacher", "student", "distilled")`` or none). Recipes, the CLI, cards
and the bench read it all from here; `register_score` adds a score from outside the library.
"""

from __future__ import annotations

from hf_select import columns as _columns
from hf_select.answers.check import CheckAnswers
from hf_select.columns import ERROR_COLUMN
from hf_select.errors import ScoringInputError
from hf_select.scores.base import Scorer
from hf_select.scores.naturalness import GlobalNaturalness, LocalNaturalness
from hf_select.scores.provenance import Provenance, ProvenanceCategories, SentenceLogprobs
from hf_select.scores.rank_surprisal import RankSurprisal
from hf_select.scoring import MapPass

SCORES: dict[str, type[MapPass]] = {}


def register_score(cls: type[MapPass]) -> type[MapPass]:
    """Make a score usable by name in recipes (``type:``), in ``hf-select score --scores`` (its ``cli_alias``)
    and in cards; its columns' directions become known (usable as a class decorator)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a `name` (its recipe type) to be registered")
    SCORES[cls.name] = cls
    _columns.register(*cls.columns)
    return cls


def score_class(name: str) -> type[MapPass]:
    """The registered score of recipe type ``name`` (KeyError listing the known ones)."""
    try:
        return SCORES[name]
    except KeyError:
        raise KeyError(f"unknown score type {name!r}; known: {sorted(SCORES)}") from None


def cli_aliases() -> dict[str, type[MapPass]]:
    """``{alias: score}`` for the scores ``hf-select score --scores`` can run (one model or none, a short alias)."""
    return {cls.cli_alias: cls for cls in SCORES.values()
            if getattr(cls, "cli_alias", None) and getattr(cls, "model_roles", ()) in (("model",), ())}


for _score in (GlobalNaturalness, LocalNaturalness, RankSurprisal, Provenance, CheckAnswers):
    register_score(_score)

__all__ = ["ERROR_COLUMN", "SCORES", "CheckAnswers", "GlobalNaturalness", "LocalNaturalness", "MapPass",
           "Provenance", "ProvenanceCategories", "RankSurprisal", "Scorer", "ScoringInputError", "SentenceLogprobs",
           "cli_aliases", "register_score", "score_class"]
