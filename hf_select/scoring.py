"""What a pass is: the contract every score follows (`MapPass`), and nothing that runs passes.

A *score* (what a user asks for: `LocalNaturalness`, `Provenance`, `CheckAnswers`, ...) is one or more
*map passes* (`MapPass`): one ``Dataset.map`` each. A plain score is its own single pass; a composite score
such as provenance runs one pass per model and a model-free pass after them, so only one model is in memory
at a time. ``ds.map(score, batched=True)`` runs every pass of a score on each batch. A pass declares its
parameters, the columns it reads and adds, and computes rows; `hf_select.run_scores` runs passes over a dataset
(caching, chunks, shared requests, joining, completeness).
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from datasets import Dataset

from hf_select._compat import is_batch
from hf_select.columns import ERROR_COLUMN, Column, Field, Shade
from hf_select.config import check_fields, field_names, option
from hf_select.errors import Arg, ConfigError, MissingColumnError, Placeholder, ScoringInputError
from hf_select.formats import Shape

logger = logging.getLogger(__name__)

ERROR_DOC = "why the row's scores are NaN (on_error/on_overflow='nan'), or that its text was truncated; null if neither"


OnError = Literal["raise", "nan"]  # the one place the choices are declared


@dataclass(frozen=True)
class PassParams:
    """The parameters every pass takes; a pass's own parameters subclass this (one field per option)."""

    on_error: OnError = option(
        "raise: stop at the first row that cannot be scored, naming it; nan: "
        "NaN scores and the reason in `hf_select_error`.",
        "raise",
    )

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class SuffixParams(PassParams):
    """The parameters of a pass whose columns may carry a suffix."""

    column_suffix: str | None = option(
        "Name the score's columns `<column>_<suffix>` (one score under several students).", None
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.column_suffix is not None and not re.fullmatch(r"[A-Za-z0-9][\w.-]*", self.column_suffix):
            raise ConfigError(
                f"column_suffix must be a short name (letters, digits, _ . -), not {self.column_suffix!r}"
            )


class RowLog:
    """The rows of one call: how messages name them, and what went wrong with each (recorded, or raised)."""

    def __init__(self, map_pass: MapPass, indices: Sequence[int] | None, batched: bool, count: int) -> None:
        self.map_pass, self.indices, self.batched = map_pass, indices, batched
        self.errors: list[str | None] = [None] * count

    def label(self, i: int) -> str:
        if self.indices is not None:
            return f"row {self.indices[i]}"
        if self.batched:
            return f"row {i} of this batch (pass with_indices=True to Dataset.map for dataset row numbers)"
        return "this row"

    def fail(self, i: int, error: ScoringInputError) -> None:
        """Row ``i`` cannot be scored: raise, naming the pass, row and column, or record why (``on_error``)."""
        parts = (f"{self.map_pass.key}: {self.label(i)}, column {error.column!r}: ", *error.args)
        if self.map_pass.raises(error):
            raise ScoringInputError(error.column, *parts, overflow=error.overflow) from None
        self.note(i, "".join(str(part) for part in parts))

    def note(self, i: int, message: str) -> None:
        """Record ``message`` for row ``i`` in ``hf_select_error`` (a truncation, or why a score is NaN)."""
        self.errors[i] = "; ".join(m for m in (self.errors[i], message) if m)

    def attempt(self, i: int, compute: Callable[[], Any]) -> Any:
        """``compute()`` for row ``i``, or None once `fail` recorded why it cannot be (``on_error="nan"``)."""
        try:
            return compute()
        except ScoringInputError as error:
            self.fail(i, error)
            return None


class MapPass(ABC):
    """One ``Dataset.map`` pass: a batch (or one row) in, new columns out.

    A pass declares its parameters (``Params``, a configuration dataclass: `params` holds them), the columns it
    reads (`input_columns`, `optional_columns`) and adds (`features`), and computes a list of rows
    (`compute`). This base owns the one row loop every pass shares: batch-or-row detection, the row labels in
    messages, ``on_error`` and the ``hf_select_error`` column, and assembling the output. `config` (everything
    that changes a number: the cache key and the card's parameter table) is built from the parameter
    dataclasses, so no parameter can be left out of it. Class attributes say what the columns mean."""

    name: ClassVar[str] = ""  # the recipe `type` of this pass (and, by default, its key in the metadata)
    Params: ClassVar[type] = PassParams
    explanation: ClassVar[str] = ""  # plain words for the card
    citation: ClassVar[str] = ""  # BibTeX of the paper the score comes from, for the card
    columns: ClassVar[tuple[Column, ...]] = ()  # the columns to rank by, with direction and definition
    shades: ClassVar[tuple[Shade, ...]] = ()  # spans it stores that the viewer can shade, each by a value
    fields: ClassVar[dict[str, Field]] = {}  # every other column it adds: its type and what it holds
    model_roles: ClassVar[tuple[str, ...]] = ()  # the model arguments it takes (recipes name them)
    cli_alias: ClassVar[str | None] = None  # `hf-select score --scores <alias>`
    reads_shape: ClassVar[bool] = False  # whether it reads the data's own columns through a `Shape`
    pooled: ClassVar[bool] = False  # numbers depend on the whole split (fitted in `prepare`): run after sharding
    params: PassParams
    shape: Shape | None = None  # how rows are read, for passes that read the data's own columns
    model: Any = None  # the model the pass runs, if any
    progress: Any = None  # set by `score` while it runs the pass (a `ScoreProgress`)

    # -- what a pass defines --------------------------------------------------------------------------------
    @abstractmethod
    def input_columns(self) -> list[str]:
        """The columns a call reads (checked before any work starts)."""

    @abstractmethod
    def features(self) -> dict[str, Any]:
        """Every column a call returns, as `datasets` feature types."""

    @abstractmethod
    def compute(self, rows: list[dict[str, Any]], log: RowLog) -> list[dict[str, Any]]:
        """The new columns of each row. A row that cannot be computed goes to ``log.fail`` (which raises or
        records it, per ``on_error``) and gets NaN/null columns."""

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """Full, JSON-safe configuration: what the cache key and the dataset card are built from."""

    # -- defaults -------------------------------------------------------------------------------------------
    @property
    def suffix(self) -> str | None:
        """The pass's ``column_suffix``: its columns and metadata key are ``<name>_<suffix>`` (one score under
        several students, and the passes over its columns)."""
        return getattr(self.params, "column_suffix", None)

    @property
    def key(self) -> str:
        """This pass's key in the dataset's metadata (`name`, with the suffix, unless an instance is named apart)."""
        return f"{self.name}_{self.suffix}" if self.suffix else self.name

    def optional_columns(self) -> list[str]:
        """Columns read when the data has them (a system prompt column, ``finish_reasons``, ...)."""
        return self.shape.optional_columns() if self.shape is not None else []

    def non_null_columns(self) -> list[str]:
        """Columns whose nulls are mistakes in the data for this pass (recipes check them before scoring)."""
        return []

    @property
    def records_errors(self) -> bool:
        """Whether rows get a message in ``hf_select_error`` (NaN scores instead of raising, or a truncation)."""
        return self.params.on_error == "nan"

    def raises(self, error: ScoringInputError) -> bool:
        """Whether this input error stops the run (``on_error="raise"``) rather than making the row NaN."""
        return self.params.on_error == "raise"

    def describe(self) -> str:
        return self.key

    def passes(self) -> list[MapPass]:
        """The ``Dataset.map`` passes `score` runs for this score: itself, unless it is composite."""
        return [self]

    def prepare(self, ds: Dataset) -> None:
        """Called by `score` with the whole split before mapping: a pass whose numbers depend on the whole pool
        (a regression over every row) fits it here. Nothing to do for a pass that works row by row."""
        return None

    def base_column_specs(self) -> tuple[Column, ...]:
        """The columns to rank by, under their base names (`column_specs` adds the suffix)."""
        return self.columns

    def column_specs(self) -> tuple[Column, ...]:
        """The columns to rank by, renamed when the pass has a suffix."""
        specs = self.base_column_specs()
        return tuple(c.suffixed(self.suffix) for c in specs) if self.suffix else specs

    def shade_specs(self) -> tuple[Shade, ...]:
        """The shading declarations, renamed when the pass has a suffix."""
        return tuple(s.suffixed(self.suffix) for s in self.shades) if self.suffix else self.shades

    def column(self, name: str) -> str:
        """The name a column of this pass gets in the dataset (``<name>_<suffix>`` with a suffix)."""
        return f"{name}_{self.suffix}" if self.suffix else name

    def field_docs(self) -> dict[str, str]:
        """A description of every column a call returns (the card's field table)."""
        docs = {
            ERROR_COLUMN: ERROR_DOC,
            **{self.column(k): f.doc for k, f in self.fields.items()},
            **{c.name: c.definition for c in self.column_specs()},
        }
        return {name: docs.get(name, "") for name in self.features()}

    def check_columns(self, available: Collection[str]) -> None:
        """Raise `MissingColumnError` naming the first input column that is not ``available``, and the fix."""
        for column in self.input_columns():
            if column not in available:
                raise MissingColumnError(
                    f"{self.key}: column {column!r} is not in the dataset (columns: "
                    f"{sorted(available)}). Rename it, or pass ",
                    self.column_argument(column),
                    " to match your dataset.",
                )

    def column_argument(self, column: str) -> Arg:
        """The argument that names ``column`` (``response_column=...``), for error messages."""
        for config in (self.shape, self.params):
            for key in field_names(type(config)) if config is not None else ():
                if key.endswith("_column") and getattr(config, key) == column:
                    return Arg(key, Placeholder("your column"))
        return Arg("response_column", Placeholder("your column"))

    def is_batch(self, batch: dict[str, Any]) -> bool:
        """Whether a call got a batch or one row (see `hf_select._compat.is_batch`; a pass whose cells are lists
        says how to tell them apart)."""
        return is_batch(batch, self.input_columns() or list(batch))

    # -- the one row loop -----------------------------------------------------------------------------------
    def __call__(self, batch: dict[str, Any], indices: Sequence[int] | int | None = None) -> dict[str, Any]:
        """The new columns of a batch (``Dataset.map(batched=True)``) or of a single row."""
        self.check_columns(batch.keys())
        batched = self.is_batch(batch)
        if batched:
            keys = [
                k for k in dict.fromkeys([*self.input_columns(), *self.optional_columns(), ERROR_COLUMN]) if k in batch
            ]
            rows = [dict(zip(keys, values, strict=True)) for values in zip(*(batch[k] for k in keys), strict=True)]
            where = list(indices) if indices is not None else None
        else:
            rows, where = [dict(batch)], [indices] if isinstance(indices, int) else None
        log = RowLog(self, where, batched, len(rows))
        outputs = self.compute(rows, log)
        if self.records_errors:
            for row, out, error in zip(rows, outputs, log.errors, strict=True):
                out[ERROR_COLUMN] = "; ".join(e for e in (row.get(ERROR_COLUMN), error) if e) or None
        if not batched:
            return outputs[0]
        return {name: [out[name] for out in outputs] for name in self.features()}


class CompositeScore(MapPass):
    """A score made of several passes, each its own cached ``Dataset.map`` in `score` (one per model, or a model
    pass then a pass over its columns); called directly, it runs every pass on each batch in turn."""

    parts: list[MapPass]

    def passes(self) -> list[MapPass]:
        return list(self.parts)

    def config(self) -> dict[str, Any]:
        return {p.key: p.config() for p in self.parts}

    def features(self) -> dict[str, Any]:
        return {name: feature for p in self.parts for name, feature in p.features().items()}

    def input_columns(self) -> list[str]:
        return self.parts[0].input_columns()

    @property
    def records_errors(self) -> bool:
        return any(p.records_errors for p in self.parts)

    def raises(self, error: ScoringInputError) -> bool:
        return self.parts[0].raises(error)

    def compute(self, rows: list[dict[str, Any]], log: RowLog) -> list[dict[str, Any]]:
        """Every pass in turn on the same rows (each model's pass, then the passes over their columns)."""
        outputs: list[dict[str, Any]] = [{} for _ in rows]
        for map_pass in self.parts:
            for row, out, new in zip(rows, outputs, map_pass.compute(rows, log), strict=True):
                row.update(new)
                out.update(new)
        return outputs


def configure(
    cls: type[MapPass],
    params: Any,
    shape: Shape | None,
    options: dict[str, Any],
) -> tuple[Shape | None, Any]:
    """A pass's (shape, parameters) from keyword options: each option goes to the `Shape` or to ``cls.Params`` by
    its name, so the data's shape and the parameters are each one validated object. An option neither takes is
    an error naming what the pass accepts."""
    shape_keys = set(field_names(Shape)) if cls.reads_shape else set()
    param_keys = set(field_names(cls.Params))
    unknown = sorted(set(options) - shape_keys - param_keys)
    if unknown:
        raise ConfigError(
            f"{cls.__name__} takes no parameter {unknown[0]!r}; it takes {', '.join(sorted(shape_keys | param_keys))}"
        )
    shape_options = {k: v for k, v in options.items() if k in shape_keys}
    param_options = {k: v for k, v in options.items() if k in param_keys}
    if shape is not None and shape_options:
        raise ConfigError(
            f"{cls.__name__}: give the data's shape once, as shape=Shape(...) or as "
            f"{', '.join(f'{k}=' for k in shape_options)}, not both"
        )
    if params is not None and param_options:
        raise ConfigError(f"{cls.__name__}: give the parameters once, as a {cls.Params.__name__} or as keywords")
    if params is not None and not isinstance(params, cls.Params):
        raise ConfigError(f"{cls.__name__} takes a {cls.Params.__name__}, not a {type(params).__name__}")
    if cls.reads_shape and shape is None:
        shape = Shape(**shape_options)
    return shape, params if params is not None else cls.Params(**param_options)
