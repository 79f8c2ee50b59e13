"""The base every score is built on: a batch of rows in, score columns out, through the engine.

A concrete score only says which requests a row needs (`requests_for`) and how to turn their per-token
results into columns (`columns_for`). The base owns the rest: single-row and batched calls, input
validation with row and column in every message, ``on_error`` / ``on_overflow``, and the configuration
that keys the cache and is written into dataset cards.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from datasets import Value

from hf_select.engine import ScoringEngine, ScoringRequest, TokenScores
from hf_select.models import ScoringModel

ERROR_COLUMN = "hf_select_error"
OnError = Literal["raise", "nan"]
OnOverflow = Literal["error", "truncate_left", "nan"]


class ScoringInputError(ValueError):
    """A row cannot be scored as it is. The message names the row and column and says what to do."""

    def __init__(self, column: str | None, problem: str, *, overflow: bool = False):
        self.column, self.problem, self.overflow = column, problem, overflow
        super().__init__(problem)


class Scorer:
    """Base of every score. Subclasses set `name` and `higher_is_better`, and implement `input_columns`,
    `output_features`, `requests_for`, `columns_for` and `score_config`."""

    name: ClassVar[str]
    higher_is_better: ClassVar[dict[str, bool]] = {}
    definitions: ClassVar[dict[str, str]] = {}  # plain-words definition per column, for cards
    with_ranks: ClassVar[bool] = False

    def __init__(self, model: ScoringModel, *, on_error: OnError = "raise", on_overflow: OnOverflow = "error"):
        if on_error not in ("raise", "nan"):
            raise ValueError(f"on_error must be 'raise' or 'nan', not {on_error!r}")
        if on_overflow not in ("error", "truncate_left", "nan"):
            raise ValueError(f"on_overflow must be 'error', 'truncate_left' or 'nan', not {on_overflow!r}")
        self.model, self.on_error, self.on_overflow = model, on_error, on_overflow
        self._engine: ScoringEngine | None = None

    # -- what a score defines -----------------------------------------------------------------------------
    def input_columns(self) -> list[str]:
        raise NotImplementedError

    def output_features(self) -> dict[str, Any]:
        """The columns this score adds, as `datasets` feature types."""
        raise NotImplementedError

    def requests_for(self, row: dict[str, Any]) -> list[ScoringRequest]:
        """The engine requests one row needs. Raise `ScoringInputError` for bad input."""
        raise NotImplementedError

    def columns_for(self, row: dict[str, Any], requests: list[ScoringRequest],
                    results: list[TokenScores]) -> dict[str, Any]:
        """The row's output columns from its requests and their results (tokens left unscored by
        ``on_overflow="truncate_left"`` are NaN)."""
        raise NotImplementedError

    def score_config(self) -> dict[str, Any]:
        """Every parameter of this score that changes a number (the model is added by `config`)."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------------------
    @property
    def engine(self) -> ScoringEngine:
        if self._engine is None:
            self._engine = ScoringEngine(self.model, **self.model.engine_options)
        return self._engine

    def config(self) -> dict[str, Any]:
        """Full, JSON-safe configuration: what the cache key and the dataset card are built from."""
        from hf_select import __version__

        return {"score": self.name, "model": self.model.name, "model_identity": self.model.identity,
                **self.score_config(), "on_error": self.on_error, "on_overflow": self.on_overflow,
                "hf_select_version": __version__}

    def describe(self) -> str:
        return f"{self.name} ({self.model.name})"

    @property
    def records_errors(self) -> bool:
        """Whether rows that cannot be scored get NaN and a message in ``hf_select_error``."""
        return self.on_error == "nan" or self.on_overflow == "nan"

    def features(self) -> dict[str, Any]:
        """Every column a call returns, the error column included when errors are recorded, not raised."""
        features = dict(self.output_features())
        if self.records_errors:
            features[ERROR_COLUMN] = Value("string")
        return features

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_engine": None}  # each worker builds its own engine

    def __call__(self, batch: dict[str, Any], indices: Sequence[int] | int | None = None) -> dict[str, Any]:
        """Score a batch (``Dataset.map(batched=True)``) or a single row (``batched=False``)."""
        missing = [c for c in self.input_columns() if c not in batch]
        if missing:
            raise KeyError(
                f"{self.name}: column {missing[0]!r} is not in the dataset (columns: {sorted(batch)}). "
                f"Rename it, or pass {self._column_argument(missing[0])}=<your column> to {type(self).__name__}."
            )
        single = not isinstance(batch[self.input_columns()[0]], list)
        if single:
            rows = [batch]
            index_list = [indices] if isinstance(indices, int) else None
        else:
            keys = self.input_columns() + ([ERROR_COLUMN] if ERROR_COLUMN in batch else [])
            rows = [dict(zip(keys, values, strict=True)) for values in zip(*(batch[k] for k in keys), strict=True)]
            index_list = list(indices) if indices is not None else None
        outputs = self._score_rows(rows, index_list)
        if single:
            return outputs[0]
        return {name: [out[name] for out in outputs] for name in self.features()}

    def _score_rows(self, rows: list[dict[str, Any]], indices: list[int] | None) -> list[dict[str, Any]]:
        plans: list[list[tuple[ScoringRequest, ScoringRequest, int]] | None] = []  # (asked, fitted, dropped)
        errors: list[str | None] = []
        limit = None
        for i, row in enumerate(rows):
            try:
                requests = self.requests_for(row)
                limit = limit or self.model.max_length
                plans.append([(request, *self._fit(request, limit)) for request in requests])
                errors.append(None)
            except ScoringInputError as err:
                where = f"row {indices[i]}" if indices is not None else (
                    f"row {i} of this batch (pass with_indices=True to Dataset.map for dataset row numbers)")
                message = f"{self.name}: {where}, column {err.column!r}: {err.problem}"
                if self.on_error == "raise" and not (err.overflow and self.on_overflow == "nan"):
                    raise ScoringInputError(err.column, message, overflow=err.overflow) from None
                plans.append(None)
                errors.append(message)
        flat = [fitted for plan in plans if plan for _, fitted, _ in plan]
        results = iter(self.engine.score(flat, ranks=self.with_ranks)) if flat else iter(())
        outputs = []
        for row, plan, error in zip(rows, plans, errors, strict=True):
            if plan is None:
                out = {name: _unscored(feature) for name, feature in self.output_features().items()}
            else:
                out = self.columns_for(row, [asked for asked, _, _ in plan],
                                       [_unfit(next(results), dropped) for _, _, dropped in plan])
            if self.records_errors:
                previous = row.get(ERROR_COLUMN)
                out[ERROR_COLUMN] = "; ".join(e for e in (previous, error) if e) or None
            outputs.append(out)
        return outputs

    def _fit(self, request: ScoringRequest, limit: int) -> tuple[ScoringRequest, int]:
        """Apply ``on_overflow`` to a request longer than the model accepts; return it and the dropped targets."""
        if len(request) <= limit:
            return request, 0
        if self.on_overflow != "truncate_left":
            raise ScoringInputError(
                self._overflow_column(),
                f"the sequence is {len(request)} tokens but the model accepts at most {limit}. Shorten the "
                "text, or pass on_overflow='truncate_left' (drop the oldest tokens) or on_overflow='nan'.",
                overflow=True,
            )
        sequence = list(request.context) + list(request.target)
        kept_target = min(len(request.target), limit - 1)  # at least one context token stays
        context = sequence[len(sequence) - limit : len(sequence) - kept_target]
        return ScoringRequest(context, list(request.target)[-kept_target:]), len(request.target) - kept_target

    def _overflow_column(self) -> str:
        return self.input_columns()[0]

    def _column_argument(self, column: str) -> str:
        for key, value in vars(self).items():
            if key.endswith("_column") and value == column:
                return key
        return "the matching *_column argument"


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


def require_text(row: dict[str, Any], column: str, what: str) -> str:
    """The row's text in ``column``; a clear error when it is missing, not a string, or empty."""
    value = row[column]
    if not isinstance(value, str):
        raise ScoringInputError(column, f"the {what} must be a string, got {type(value).__name__} ({value!r:.40}). "
                                        "Fix or drop the row (Dataset.filter), or pass on_error='nan'.")
    if not value.strip():
        raise ScoringInputError(column, f"the {what} is empty. Drop the row (Dataset.filter) or pass on_error='nan'.")
    return value


def mean_logprob(logprobs: np.ndarray) -> tuple[float, float, int]:
    """(mean, sum, count) over the scored tokens, in float64; NaN mean when nothing was scored."""
    scored = logprobs[~np.isnan(logprobs)].astype(np.float64)
    if scored.size == 0:
        return math.nan, math.nan, 0
    total = float(scored.sum())
    return total / scored.size, total, int(scored.size)
