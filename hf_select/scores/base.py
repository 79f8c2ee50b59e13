"""The base of every model-backed score: a batch of rows in, score columns out, through the engine.

A concrete score is one parameter dataclass (``Params``, on `ScoreParams`) and two methods: which requests a
row needs (`requests_for`) and how to turn their per-token results into columns (`columns_for`), as datatrove's
filters only say ``filter(doc)``. The base owns the rest: reading rows through the data's `Shape`, the one row
loop of `MapPass` (single rows and batches, row and column in every message, ``on_error``), ``on_overflow``,
progress, and the configuration that keys the cache and is written into dataset cards.
"""

from __future__ import annotations

import math
import re
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from datasets import Value

from hf_select.columns import ERROR_COLUMN, TRUNCATED, Column
from hf_select.config import as_config, option
from hf_select.engine import ScoringEngine, ScoringRequest, TokenScores
from hf_select.errors import Arg, ConfigError, ScoringInputError
from hf_select.formats import Shape, require_text  # noqa: F401 - require_text: for scores written on this base
from hf_select.models import ScoringModel
from hf_select.scoring import MapPass, PassParams, RowLog, configure
from hf_select.version import __version__


@dataclass(frozen=True)
class ScoreParams(PassParams):
    """The parameters every model-backed score takes; a score's own parameters subclass this."""

    on_overflow: Literal["error", "truncate_left", "nan"] = option(
        "A row longer than the model accepts: error; truncate_left (drop the oldest tokens, which are not scored, "
        "and say so in `hf_select_error`); nan.", "error")
    column_suffix: str | None = option("Name the score's columns `<column>_<suffix>` (one score under several "
                                       "students).", None)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.column_suffix is not None and not re.fullmatch(r"[A-Za-z0-9][\w.-]*", self.column_suffix):
            raise ConfigError(f"column_suffix must be a short name (letters, digits, _ . -), not "
                              f"{self.column_suffix!r}")


class Scorer(MapPass):
    """Base of every model-backed score: ``Scorer(model, **options)``, the options being the score's parameters
    (``Params``) and the data's shape (`Shape` fields, or ``shape=``).

    Class attributes (what the registry, recipes, the CLI and cards read): `name` (the recipe ``type``),
    `cli_alias` (``hf-select score --scores``), `explanation`, `columns` (the columns to rank by, float64) and
    `fields` (the other columns, with their types), `model_roles` (the model arguments)."""

    Params: ClassVar[type] = ScoreParams
    model_roles: ClassVar[tuple[str, ...]] = ("model",)
    reads_shape: ClassVar[bool] = True
    with_ranks: ClassVar[bool] = False  # whether `columns_for` needs token ranks from the engine
    params: ScoreParams
    shape: Shape

    def __init__(self, model: ScoringModel, params: ScoreParams | None = None, *, shape: Shape | None = None,
                 **options: Any) -> None:
        self.model = model
        self.shape, self.params = configure(type(self), params, shape, options)
        self._engine: ScoringEngine | None = None
        self.progress = None

    # -- what a score defines -----------------------------------------------------------------------------
    @abstractmethod
    def requests_for(self, row: dict[str, Any]) -> list[ScoringRequest]:
        """The engine requests one row needs. Raise `ScoringInputError` for bad input."""

    @abstractmethod
    def columns_for(self, row: dict[str, Any], requests: list[ScoringRequest],
                    results: list[TokenScores]) -> dict[str, Any]:
        """The row's output columns from its requests and their results (tokens left unscored by
        ``on_overflow="truncate_left"`` are NaN)."""

    def output_features(self) -> dict[str, Any]:
        """The columns this score adds, as `datasets` feature types: its `columns` (float64) and its `fields`."""
        return {**{c.name: Value("float64") for c in self.base_column_specs()},
                **{name: f.feature for name, f in self.fields.items()}}

    def input_columns(self) -> list[str]:
        return self.shape.columns()

    # -- shared ---------------------------------------------------------------------------------------------
    @property
    def engine(self) -> ScoringEngine:
        if self._engine is None:
            self._engine = ScoringEngine(self.model, **self.model.engine_options)
        return self._engine

    @property
    def key(self) -> str:
        suffix = self.params.column_suffix  # one score under several students: its metadata carries the suffix
        return f"{self.name}_{suffix}" if suffix else self.name

    def config(self) -> dict[str, Any]:
        return {"score": self.name, "model": self.model.name, "model_hub_id": self.model.hub_id,
                "model_identity": self.model.identity, **as_config(self.shape), **as_config(self.params),
                "hf_select_version": __version__}

    def describe(self) -> str:
        return f"{self.key} ({self.model.name})"

    @property
    def records_errors(self) -> bool:
        return self.params.on_error == "nan" or self.params.on_overflow in ("nan", "truncate_left")

    def raises(self, error: ScoringInputError) -> bool:
        if error.overflow and self.params.on_overflow == "nan":
            return False
        return self.params.on_error == "raise"

    def column(self, name: str) -> str:
        suffix = self.params.column_suffix
        return f"{name}_{suffix}" if suffix else name

    def base_column_specs(self) -> tuple[Column, ...]:
        """The columns to rank by, under their base names (`column_specs` adds the suffix)."""
        return self.columns

    def column_specs(self) -> tuple[Column, ...]:
        suffix = self.params.column_suffix
        specs = self.base_column_specs()
        return tuple(c.suffixed(suffix) for c in specs) if suffix else specs

    def features(self) -> dict[str, Any]:
        features = {self.column(name): feature for name, feature in self.output_features().items()}
        if self.records_errors:
            features[ERROR_COLUMN] = Value("string")
        return features

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_engine": None, "progress": None}  # each worker builds its own engine

    def compute(self, rows: list[dict[str, Any]], log: RowLog) -> list[dict[str, Any]]:
        """Plan every row's requests, run them through the engine together, and turn results into columns."""
        limit = 0  # the model's length limit, read once a row has requests (a batch of bad rows loads nothing)

        def plan(row: dict[str, Any]) -> list[tuple[ScoringRequest, ScoringRequest, int]]:  # (asked, fitted, dropped)
            nonlocal limit
            requests = self.requests_for(row)
            limit = limit or self.model.max_length
            return [(request, *self._fit(request, limit)) for request in requests]

        plans = [log.attempt(i, lambda row=row: plan(row)) for i, row in enumerate(rows)]
        for i, plan in enumerate(plans):
            dropped = sum(d for _, _, d in plan or [])
            if dropped:
                total = sum(len(asked.target) for asked, _, _ in plan)
                log.note(i, f"{self.key}: {log.label(i)}, column {self._overflow_column()!r}: {TRUNCATED} {limit} "
                            f"tokens; {dropped} of {total} scored tokens were dropped (on_overflow='truncate_left')")
        flat, owner = [], []
        for i, plan in enumerate(plans):
            for _, fitted, _ in plan or []:
                flat.append(fitted)
                owner.append(i)
        results = iter(self.engine.score(flat, ranks=self.with_ranks, on_done=self._reporter(owner, flat, plans))
                       if flat else ())
        outputs = []
        for row, plan in zip(rows, plans, strict=True):
            if plan is None:
                out = {name: _unscored(feature) for name, feature in self.output_features().items()}
            else:
                out = self.columns_for(row, [asked for asked, _, _ in plan],
                                       [_unfit(next(results), dropped) for _, _, dropped in plan])
            outputs.append({self.column(name): value for name, value in out.items()})
        if self.progress is not None:  # rows without requests (unscorable) are done too
            self.progress.advance(sum(1 for plan in plans if not plan))
        return outputs

    def _reporter(self, owner: list[int], flat: list[ScoringRequest], plans: list):
        """A callback for the engine that moves the progress bar as requests finish (each request is its
        row's share)."""
        if self.progress is None:
            return None
        progress = self.progress
        share = [1 / len(plans[i]) for i in owner]
        progress.plan(sum(1 for plan in plans if plan), sum(len(r.target) for r in flat))

        def done(request_indices: Sequence[int]) -> None:
            progress.advance(sum(share[r] for r in request_indices), sum(len(flat[r].target) for r in request_indices))

        return done

    def _fit(self, request: ScoringRequest, limit: int) -> tuple[ScoringRequest, int]:
        """Apply ``on_overflow`` to a request longer than the model accepts; return it and the dropped targets."""
        if len(request) <= limit:
            return request, 0
        if self.params.on_overflow != "truncate_left":
            raise ScoringInputError(
                self._overflow_column(),
                f"the sequence is {len(request)} tokens but the model accepts at most {limit}. Shorten the text, or "
                "pass ", Arg("on_overflow", "truncate_left"), " (drop the oldest tokens) or ",
                Arg("on_overflow", "nan"), ".", overflow=True)
        sequence = list(request.context) + list(request.target)
        kept_target = min(len(request.target), limit - 1)  # at least one context token stays
        context = sequence[len(sequence) - limit : len(sequence) - kept_target]
        return ScoringRequest(context, list(request.target)[-kept_target:]), len(request.target) - kept_target

    def _overflow_column(self) -> str:
        return self.input_columns()[0]


def _unfit(scores: TokenScores, dropped: int) -> TokenScores:
    """Pad a truncated request's results back to full target length with NaN for the unscored tokens."""
    if not dropped:
        return scores
    logprobs = np.concatenate([np.full(dropped, np.nan, dtype=np.float32), scores.logprobs])
    ranks = None if scores.ranks is None else np.concatenate([np.full(dropped, -1), scores.ranks])
    return TokenScores(logprobs, ranks)


def _unscored(feature: Any) -> Any:
    """The value of an unscorable row: NaN for float scores, None (null) otherwise; never a silent 0."""
    return math.nan if isinstance(feature, Value) and feature.dtype.startswith("float") else None


def mean_logprob(logprobs: np.ndarray) -> tuple[float, float, int]:
    """(mean, sum, count) over the scored tokens, in float64; NaN mean when nothing was scored."""
    scored = logprobs[~np.isnan(logprobs)].astype(np.float64)
    if scored.size == 0:
        return math.nan, math.nan, 0
    total = float(scored.sum())
    return total / scored.size, total, int(scored.size)
