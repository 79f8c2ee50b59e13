"""The score registry: every score hf_select knows, and the one place a new score is added.

A score is a `MapPass` class that carries everything the rest of the library needs to know about it:
``name`` (the recipe ``type`` and the metadata key), ``Params`` (its parameters, one dataclass), ``cli_alias``
(``hf-select score --scores``), ``explanation`` (the card text), ``columns`` (what to rank by, with direction and
definition) and ``model_roles`` (the model arguments it takes: ``("model",)``, ``("teacher", "student",
"distilled")`` or none). Recipes, the CLI, cards and the bench read it all from here (`score_options`);
`register_score` adds a score from outside the library.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hf_select import columns as _columns
from hf_select.answers.check import CheckAnswers
from hf_select.columns import ERROR_COLUMN
from hf_select.completeness import Completeness
from hf_select.config import hints
from hf_select.errors import ConfigError, ScoringInputError
from hf_select.formats import Shape
from hf_select.scores.aslec import Aslec
from hf_select.scores.base import Scorer
from hf_select.scores.ifd import Ifd
from hf_select.scores.naturalness import GlobalNaturalness, LocalNaturalness
from hf_select.scores.provenance import Provenance, ProvenanceCategories, SentenceLogprobs
from hf_select.scores.rank_surprisal import RankSurprisal
from hf_select.scoring import MapPass

SCORES: dict[str, type[MapPass]] = {}


def register_score(cls: type[MapPass]) -> type[MapPass]:
    """Make a score usable by name in recipes (``type:``), in ``hf-select score --scores`` (its ``cli_alias``)
    and in cards; its columns' directions become known (usable as a class decorator)."""
    if not cls.name:
        raise ConfigError(f"{cls.__name__} needs a `name` (its recipe type) to be registered")
    SCORES[cls.name] = cls
    _columns.register(*cls.columns)
    _columns.register_shades(*cls.shades)
    return cls


def score_class(name: str) -> type[MapPass]:
    """The registered score of recipe type ``name`` (`ConfigError` listing the known ones)."""
    try:
        return SCORES[name]
    except KeyError:
        raise ConfigError(f"unknown score type {name!r}; known: {sorted(SCORES)}") from None


def score_options(cls: type[MapPass]) -> dict[str, dataclasses.Field]:
    """Every option a score takes by keyword, as ``{name: field}`` (its ``Params`` fields, and the `Shape` fields
    when it reads the data's columns): the recipe schema and the CLI flags of a score. Models are not options:
    they are given by role (``model_roles``)."""
    own = {f.name: f for f in dataclasses.fields(cls.Params)}
    return {**({f.name: f for f in dataclasses.fields(Shape)} if cls.reads_shape else {}), **own}


def option_type(cls: type[MapPass], name: str) -> Any:
    """The annotation of one of a score's options (for recipe type checks)."""
    return {**(hints(Shape) if cls.reads_shape else {}), **hints(cls.Params)}[name]


def cli_aliases() -> dict[str, type[MapPass]]:
    """``{alias: score}`` for the scores ``hf-select score --scores`` can run (one model or none, a short alias)."""
    return {
        cls.cli_alias: cls
        for cls in SCORES.values()
        if getattr(cls, "cli_alias", None) and getattr(cls, "model_roles", ()) in (("model",), ())
    }


for _score in (GlobalNaturalness, LocalNaturalness, RankSurprisal, Ifd, Aslec, Provenance, CheckAnswers, Completeness):
    register_score(_score)

__all__ = [
    "ERROR_COLUMN",
    "SCORES",
    "Aslec",
    "CheckAnswers",
    "Completeness",
    "GlobalNaturalness",
    "Ifd",
    "LocalNaturalness",
    "MapPass",
    "Provenance",
    "ProvenanceCategories",
    "RankSurprisal",
    "Scorer",
    "ScoringInputError",
    "SentenceLogprobs",
    "cli_aliases",
    "option_type",
    "register_score",
    "score_class",
    "score_options",
]
