"""The base of every model-backed score: a batch of rows in, score columns out, through the engine.

A concrete score only says which requests a row needs (`requests_for`) and how to turn their per-token
results into columns (`columns_for`), as datatrove's filters only say ``filter(doc)``. The base owns the
rest: single-row and batched calls, input validation with row and column in every message, ``on_error`` /
``on_overflow``, progress, and the configuration that keys the cache and is written into dataset cards.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from datasets import Value

from hf_select.columns import ERROR_COLUMN, TRUNCATED, Column
from hf_select.engine import ScoringEngine, ScoringRequest, TokenScores
from hf_select.errors import Arg, ConfigError, ScoringInputError
from hf_select.formats import require_text  # noqa: F401 - for scores written on this base
from hf_select.models import ScoringModel
from hf_select.scoring import MapPass
from hf_select.version import __version__

OnError = Literal["raise", "nan"]
OnOverflow = Literal["error", "truncate_left", "nan"]


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, choices))}, not {value!r}")
    return value


class Scorer(MapPass):
    """Base of every model-backed score.

    Class attributes (what the registry, recipes, the CLI and cards read): `name` (the recipe ``type`` and
    the metadata key), `cli_alias` (``hf-select score --scores``), `explanation`, `columns` (the columns to
    rank by), `model_roles` (the model arguments). Subclasses implement `input_columns`, `output_features`,
    `requests_for`, `columns_for` and `score_config`."""

    cli_alias: ClassVar[str | None] = None
    model_roles: ClassVar[tuple[str, ...]] = ("model",)
    with_ranks: ClassVar[bool] = False  # whether `columns_for` needs token ranks from the engine

    def __init__(self, model: ScoringModel, *, on_error: OnError = "raise", on_overflow: OnOverflow = "error",
                 column_suffix: str | None = None):
        if column_suffix is not None and not re.fullmatch(r"[A-Za-z0-9][\w.-]*", str(column_suffix)):
            raise ConfigError(f"column_suffix must be a short name (letters, digits, _ . -), not {column_suffix!r}")
        self.column_suffix = column_suffix
        if column_suffix:  # one score under several students: its columns, and its metadata, carry the suffix
            self.name = f"{type(self).name}_{column_suffix}"
        self.model = model
        self.on_error = check_choice("on_error", on_error, ("raise", "nan"))
        self.on_overflow = check_choice("on_overflow", on_overflow, ("error", "truncate_left", "nan"))
        self._engine: ScoringEngine | None = None
        self.progress = None

    # -- what a score defines -----------------------------------------------------------------------------
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
        suffix = {"column_suffix": self.column_suffix} if self.column_suffix else {}
        return {"score": type(self).name, **suffix, "model": self.model.name, "model_hub_id": self.model.hub_id,
                "model_identity": self.model.identity,
                **self.score_config(), "on_error": self.on_error, "on_overflow": self.on_overflow,
                "hf_select_version": __version__}

    def describe(self) -> str:
        return f"{self.name} ({self.model.name})"

    @property
    def records_errors(self) -> bool:
        """Whether rows get a message in ``hf_select_error``: NaN scores instead of raising, or a truncation."""
        return self.on_error == "nan" or self.on_overflow in ("nan", "truncate_left")

    def column(self, name: str) -> str:
        """The name a column of this score gets in the dataset (with ``column_suffix``)."""
        return f"{name}_{self.column_suffix}" if self.column_suffix else name

    def base_column_specs(self) -> tuple[Column, ...]:
        """The columns to rank by, under their base names (`column_specs` adds the suffix)."""
        return self.columns

    def column_specs(self) -> tuple[Column, ...]:
        specs = self.base_column_specs()
        return tuple(c.suffixed(self.column_suffix) for c in specs) if self.column_suffix else specs

    def features(self) -> dict[str, Any]:
        features = {self.column(name): feature for name, feature in self.output_features().items()}
        if self.records_errors:
            features[ERROR_COLUMN] = Value("string")
        return features

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_engine": None, "progress": None}  # each worker builds its own engine

    def __call__(self, batch: dict[str, Any], indices: Sequence[int] | int | None = None) -> dict[str, Any]:
        """Score a batch (``Dataset.map(batched=True)``) or a single row (``batched=False``)."""
        self.check_columns(batch.keys())
        optional = [c for c in (*self.optional_columns(), ERROR_COLUMN) if c in batch]
        keys = self.input_columns() + optional
        batched, rows = self.split_batch(batch, keys)
        if batched:
            index_list = list(indices) if indices is not None else None
        else:
            index_list = [indices] if isinstance(indices, int) else None
        outputs = self._score_rows(rows, index_list)
        if not batched:
            return outputs[0]
        return {name: [out[name] for out in outputs] for name in self.features()}

    def _where(self, i: int, indices: list[int] | None) -> str:
        if indices is not None:
            return f"row {indices[i]}"
        return f"row {i} of this batch (pass with_indices=True to Dataset.map for dataset row numbers)"

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
                message = (f"{self.name}: {self._where(i, indices)}, column {err.column!r}: ", *err.args)
                if self.on_error == "raise" and not (err.overflow and self.on_overflow == "nan"):
                    raise ScoringInputError(err.column, *message, overflow=err.overflow) from None
                plans.append(None)
                errors.append("".join(str(part) for part in message))
        for i, plan in enumerate(plans):
            dropped = sum(d for _, _, d in plan or [])
            if dropped:
                total = sum(len(asked.target) for asked, _, _ in plan)
                errors[i] = (f"{self.name}: {self._where(i, indices)}, column {self._overflow_column()!r}: "
                             f"{TRUNCATED} {limit} tokens; {dropped} of {total} scored tokens were dropped "
                             "(on_overflow='truncate_left')")
        flat, owner = [], []
        for i, plan in enumerate(plans):
            for _, fitted, _ in plan or []:
                flat.append(fitted)
                owner.append(i)
        results = iter(self.engine.score(flat, ranks=self.with_ranks, on_done=self._reporter(owner, flat, plans))
                       if flat else ())
        outputs = []
        for row, plan, error in zip(rows, plans, errors, strict=True):
            if plan is None:
                out = {name: _unscored(feature) for name, feature in self.output_features().items()}
            else:
                out = self.columns_for(row, [asked for asked, _, _ in plan],
                                       [_unfit(next(results), dropped) for _, _, dropped in plan])
            out = {self.column(name): value for name, value in out.items()}
            if self.records_errors:
                previous = row.get(ERROR_COLUMN)
                out[ERROR_COLUMN] = "; ".join(e for e in (previous, error) if e) or None
            outputs.append(out)
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
        if self.on_overflow != "truncate_left":
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
