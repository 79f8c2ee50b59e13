"""`score`: run scores over a dataset as cached ``Dataset.map`` passes, and the contract every pass follows.

A *score* (what a user asks for: `LocalNaturalness`, `Provenance`, `CheckAnswers`, ...) is one or more
*map passes* (`MapPass`): one ``Dataset.map`` each. A plain score is its own single pass; a composite score
such as provenance runs one pass per model and a model-free pass after them, so only one model is in memory
at a time. ``ds.map(score, batched=True)`` runs every pass of a score on each batch.

Each pass gets an explicit fingerprint derived from the input dataset's fingerprint and the pass's full
configuration (model identity, tokenizer, dtype, parameters, library version). Rerunning the same scoring
on the same data is therefore a cache hit that never loads the model, and any parameter change is a miss.
Large datasets are mapped in chunks of ``checkpoint_rows``, each cached on its own, so an interrupted run
resumes from the last finished chunk instead of starting the score over.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import datasets
from datasets import Dataset, DatasetDict, Features, IterableDataset, IterableDatasetDict, concatenate_datasets

from hf_select._compat import fingerprint as dataset_fingerprint
from hf_select._compat import is_batch, is_cached
from hf_select.columns import ERROR_COLUMN, Column, Field, Shade
from hf_select.config import check_fields, field_names, option
from hf_select.errors import Arg, ConfigError, MissingColumnError, Placeholder, ScoringInputError, WrongTypeError
from hf_select.formats import Shape
from hf_select.metadata import record_score
from hf_select.progress import ScoreProgress

logger = logging.getLogger(__name__)

CHECKPOINT_ROWS = 1000
CACHE_LAYOUT = "own columns"  # what a pass's cache file holds (in every key: files of another layout never match)
ERROR_DOC = "why the row's scores are NaN (on_error/on_overflow='nan'), or that its text was truncated; null if neither"


OnError = Literal["raise", "nan"]  # the one place the choices are declared


@dataclass(frozen=True)
class PassParams:
    """The parameters every pass takes; a pass's own parameters subclass this (one field per option)."""

    on_error: OnError = option("raise: stop at the first row that cannot be scored, naming it; nan: "
                                               "NaN scores and the reason in `hf_select_error`.", "raise")

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class SuffixParams(PassParams):
    """The parameters of a pass whose columns may carry a suffix."""

    column_suffix: str | None = option("Name the score's columns `<column>_<suffix>` (one score under several "
                                       "students).", None)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.column_suffix is not None and not re.fullmatch(r"[A-Za-z0-9][\w.-]*", self.column_suffix):
            raise ConfigError(f"column_suffix must be a short name (letters, digits, _ . -), not "
                              f"{self.column_suffix!r}")


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
        docs = {ERROR_COLUMN: ERROR_DOC, **{self.column(k): f.doc for k, f in self.fields.items()},
                **{c.name: c.definition for c in self.column_specs()}}
        return {name: docs.get(name, "") for name in self.features()}

    def check_columns(self, available: Collection[str]) -> None:
        """Raise `MissingColumnError` naming the first input column that is not ``available``, and the fix."""
        for column in self.input_columns():
            if column not in available:
                raise MissingColumnError(f"{self.key}: column {column!r} is not in the dataset (columns: "
                                         f"{sorted(available)}). Rename it, or pass ", self.column_argument(column),
                                         " to match your dataset.")

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
            keys = [k for k in dict.fromkeys([*self.input_columns(), *self.optional_columns(), ERROR_COLUMN])
                    if k in batch]
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


def configure(cls: type[MapPass], params: Any, shape: Shape | None, options: dict[str, Any],
              ) -> tuple[Shape | None, Any]:
    """A pass's (shape, parameters) from keyword options: each option goes to the `Shape` or to ``cls.Params`` by
    its name, so the data's shape and the parameters are each one validated object. An option neither takes is
    an error naming what the pass accepts."""
    shape_keys = set(field_names(Shape)) if cls.reads_shape else set()
    param_keys = set(field_names(cls.Params))
    unknown = sorted(set(options) - shape_keys - param_keys)
    if unknown:
        raise ConfigError(f"{cls.__name__} takes no parameter {unknown[0]!r}; it takes "
                          f"{', '.join(sorted(shape_keys | param_keys))}")
    shape_options = {k: v for k, v in options.items() if k in shape_keys}
    param_options = {k: v for k, v in options.items() if k in param_keys}
    if shape is not None and shape_options:
        raise ConfigError(f"{cls.__name__}: give the data's shape once, as shape=Shape(...) or as "
                          f"{', '.join(f'{k}=' for k in shape_options)}, not both")
    if params is not None and param_options:
        raise ConfigError(f"{cls.__name__}: give the parameters once, as a {cls.Params.__name__} or as keywords")
    if params is not None and not isinstance(params, cls.Params):
        raise ConfigError(f"{cls.__name__} takes a {cls.Params.__name__}, not a {type(params).__name__}")
    if cls.reads_shape and shape is None:
        shape = Shape(**shape_options)
    return shape, params if params is not None else cls.Params(**param_options)


def check_passes(passes: Sequence[MapPass], columns: Collection[str]) -> set[str]:
    """Check that every pass finds its input columns, in the data (``columns``) or made by a pass before it; return
    the columns there will be after them. `MissingColumnError` names the first missing one and the fix."""
    available = set(columns)
    for map_pass in passes:
        map_pass.check_columns(available)
        available |= set(map_pass.features())
    return available


def fingerprint(ds: Dataset, map_pass: MapPass) -> str:
    """The cache key of ``map_pass`` applied to ``ds``: independent of batch size, call order and num_proc."""
    return pass_fingerprint(dataset_fingerprint(ds), map_pass)


def pass_fingerprint(input_fingerprint: str, map_pass: MapPass) -> str:
    """The cache key of ``map_pass`` applied to the dataset of ``input_fingerprint``."""
    payload = json.dumps({"input": input_fingerprint, "pass": map_pass.config(), "layout": CACHE_LAYOUT},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


class _Offset:
    """A chunk's pass: reports dataset row numbers (chunk start + position) in its error messages."""

    def __init__(self, map_pass: MapPass, offset: int):
        self.map_pass, self.offset = map_pass, offset

    def __call__(self, batch: dict[str, Any], indices: Sequence[int] | int | None = None) -> dict[str, Any]:
        if isinstance(indices, int):
            indices += self.offset
        elif indices is not None:
            indices = [i + self.offset for i in indices]
        return self.map_pass(batch, indices)


def _map_passes(source: Dataset, ds: Dataset, group: list[MapPass], checkpoint_rows: int | None,
                num_proc: int | None, **kwargs: Any) -> Dataset:
    """``ds`` with the columns of ``group`` (one pass, or several scores on one model) computed over ``source``
    (``ds`` itself, or the data before any pass for scores that read only the data's own columns).

    Each pass maps the columns it reads to the columns it adds, in chunks of ``checkpoint_rows``, each chunk cached
    under a key made of the input's fingerprint and the pass's configuration alone: adding, removing or reordering
    other scores never recomputes it, and its cache file holds its own columns only. In a chunk where several passes
    are not cached yet, a `SharedPass` computes them together (their common requests once) and each pass's map
    takes its columns from it. The new columns are then joined to ``ds`` (no copy)."""
    from hf_select.scores.base import SharedPass, TakeColumns

    reuse = kwargs.get("load_from_cache_file") is not False
    kwargs = {k: v for k, v in kwargs.items() if k != "features"}
    added: list[list[Dataset]] = [[] for _ in group]
    bars_were_on = datasets.is_progress_bar_enabled()
    own_bar = num_proc is None or num_proc <= 1  # worker processes cannot move a bar in this one
    if own_bar:
        datasets.disable_progress_bars()  # one bar for the whole pass, moving as rows finish
    describe = ", ".join(p.describe() for p in group)
    try:
        with ScoreProgress(len(source), describe, enabled=own_bar and bars_were_on) as progress:
            for start, piece in _chunks(source, checkpoint_rows):
                keys = [pass_fingerprint(dataset_fingerprint(piece), map_pass) for map_pass in group]
                missing = [i for i, key in enumerate(keys) if not (reuse and is_cached(piece, key))]
                shared = None
                if len(missing) > 1:
                    together = SharedPass([group[i] for i in missing])
                    together.progress = progress
                    shared = piece.map(together if piece is source else _Offset(together, start), keep_in_memory=True,
                                       features=Features(together.features()), remove_columns=piece.column_names,
                                       new_fingerprint=pass_fingerprint(keys[missing[0]], together), desc=describe,
                                       num_proc=num_proc, **kwargs)
                for i, (map_pass, key) in enumerate(zip(group, keys, strict=True)):
                    taking = shared is not None and i in missing
                    map_pass.progress = progress if not taking else None
                    step = TakeColumns(map_pass, missing.index(i), shared) if taking else (
                        map_pass if piece is source else _Offset(map_pass, start))
                    reads = piece.select_columns(_reads(map_pass, piece.column_names))
                    added[i].append(reads.map(step, new_fingerprint=key, features=Features(map_pass.features()),
                                              remove_columns=reads.column_names, desc=map_pass.describe(),
                                              num_proc=None if taking else num_proc, **kwargs))
                progress.finish_chunk(start + len(piece))
    finally:
        for map_pass in group:
            map_pass.progress = None
        if own_bar and bars_were_on:
            datasets.enable_progress_bars()
    return _join(ds, [concatenate_datasets(pieces) if len(pieces) > 1 else pieces[0] for pieces in added])


def _chunks(source: Dataset, checkpoint_rows: int | None) -> Iterator[tuple[int, Dataset]]:
    """(first row, rows) of each separately cached chunk of ``source``."""
    chunk = checkpoint_rows or len(source) or 1
    for start in range(0, max(len(source), 1), chunk):
        yield start, source if chunk >= len(source) else source.select(range(start, min(start + chunk, len(source))))


def uncached(ds: Dataset, *scores: MapPass, checkpoint_rows: int | None = CHECKPOINT_ROWS) -> list[str]:
    """The model-backed passes and chunks of ``scores`` over ``ds`` that `score` would have to compute (not in
    the `datasets` cache), as "<pass>: rows a-b". Distributed runs check that what other ranks scored is here."""
    from hf_select.scores.base import Scorer

    missing = []
    for map_pass in (p for item in scores for p in item.passes() if isinstance(p, Scorer)):
        for start, piece in _chunks(ds, checkpoint_rows):
            if not is_cached(piece, pass_fingerprint(dataset_fingerprint(piece), map_pass)):
                missing.append(f"{map_pass.key}: rows {start}-{start + len(piece) - 1}")
    return missing


def _reads(map_pass: MapPass, columns: Sequence[str]) -> list[str]:
    """The columns a pass's map is given: what it reads, not the messages of the passes before it."""
    wanted = set(map_pass.input_columns()) | set(map_pass.optional_columns())
    return [c for c in columns if c in wanted and c != ERROR_COLUMN]


def _join(ds: Dataset, added: list[Dataset]) -> Dataset:
    """``ds`` with the columns of each of ``added`` (same rows; the last made of a name wins), their messages
    appended to ``hf_select_error``."""
    import pyarrow as pa

    from hf_select._compat import dataset_from_arrow

    messages = [part.with_format("arrow")[ERROR_COLUMN] for part in [ds, *added] if ERROR_COLUMN in part.column_names]
    parts, claimed = [], {ERROR_COLUMN}
    for part in reversed([ds, *added]):  # a column made again replaces the one before (as a map would)
        parts.insert(0, part.remove_columns([c for c in part.column_names if c in claimed]))
        claimed |= set(part.column_names)
    parts = [part for part in parts if part.column_names]  # `datasets` counts no rows in a table of no columns
    if messages:
        joined = ["; ".join(m for m in row if m) or None
                  for row in zip(*(column.to_pylist() for column in messages), strict=True)]
        key = hashlib.sha256("".join(dataset_fingerprint(p) for p in parts).encode() + b"messages").hexdigest()[:32]
        parts.append(dataset_from_arrow(pa.table({ERROR_COLUMN: pa.array(joined, pa.string())}), fingerprint=key))
    if len(parts) == 1:
        return parts[0]
    joined = concatenate_datasets(parts, axis=1)
    joined.info.description = ds.info.description  # the scores' metadata: `datasets` would join every part's
    return joined


def _groups(passes: list[MapPass]) -> list[list[MapPass]]:
    """The model-backed scores of each model as one group (computed together), where the first of them stands, and
    every other pass alone, in order. A model-backed score reads only the data's own columns, so running it
    earlier changes nothing; a pass that reads its columns still comes after it."""
    from hf_select.scores.base import Scorer

    groups: list[list[MapPass]] = []
    of_model: dict[int, list[MapPass]] = {}
    for map_pass in passes:
        if isinstance(map_pass, Scorer) and id(map_pass.model) in of_model:
            of_model[id(map_pass.model)].append(map_pass)
            continue
        groups.append([map_pass])
        if isinstance(map_pass, Scorer):
            of_model[id(map_pass.model)] = groups[-1]
    return groups


def _completeness(passes: list[MapPass]) -> list[MapPass]:
    """The completeness pass to run after ``passes`` (read with their first shape), unless one is among them."""
    from hf_select.completeness import Completeness

    shape = next((p.shape for p in passes if p.shape is not None), None)
    if shape is None or any(isinstance(p, Completeness) for p in passes):
        return []
    return [Completeness(shape=shape)]


def _record(ds: Dataset | IterableDataset, map_pass: MapPass) -> None:
    definitions = {c.name: c for c in map_pass.column_specs()}
    columns = {name: {"score": map_pass.key, "higher_is_better": spec.higher_is_better,
                      "definition": spec.definition, "aggregate": list(spec.aggregate) if spec.aggregate else None,
                      "correctness": spec.correctness, "select_max": spec.select_max}
               for name, spec in definitions.items()}
    about = {"explanation": map_pass.explanation, "citation": map_pass.citation, "fields": map_pass.field_docs(),
             "shades": [dataclasses.asdict(s) for s in map_pass.shade_specs()]}
    record_score(ds, map_pass.key, map_pass.config(), columns, about)


def score(
    ds: Dataset | DatasetDict | IterableDataset | IterableDatasetDict,
    *scores: MapPass,
    batch_size: int = 64,
    num_proc: int | None = None,
    load_from_cache_file: bool | None = None,
    checkpoint_rows: int | None = CHECKPOINT_ROWS,
    completeness: bool = True,
) -> Dataset | DatasetDict | IterableDataset | IterableDatasetDict:
    """Add the columns of every score to ``ds``, reusing cached results when nothing changed.

    ``batch_size`` rows go to the engine at a time (results do not depend on it); ``num_proc`` splits the
    rows over worker processes, each loading its own copy of the model (single-threaded). A model that a pass
    had to load (given with ``load_model(..., lazy=True)``) is released once no later pass needs it, so
    several students, or a composite score's models, are in memory one at a time.
    ``checkpoint_rows`` sets the size of the separately cached chunks (``None``: one map per pass).
    ``completeness``: after the scores, add `hf_select.completeness.Completeness` (``complete`` and
    ``incomplete_reason``, read with the first score's shape), which selection uses to leave cut-off traces out.

    A `DatasetDict` is scored split by split. A streaming `IterableDataset` is mapped lazily, as
    ``IterableDataset.map`` always is: nothing is computed until it is iterated, and nothing is cached.
    """
    if isinstance(ds, (DatasetDict, IterableDatasetDict)):
        return type(ds)({split: score(part, *scores, batch_size=batch_size, num_proc=num_proc,
                                      load_from_cache_file=load_from_cache_file, checkpoint_rows=checkpoint_rows,
                                      completeness=completeness)
                         for split, part in ds.items()})
    for item in scores:
        if not isinstance(item, MapPass):
            raise WrongTypeError(f"score() takes hf_select scores (MapPass), not {type(item).__name__}")
    passes = [map_pass for item in scores for map_pass in item.passes()]
    if completeness:
        passes += _completeness(passes)
    passes = [p for p in passes if not p.pooled] + [p for p in passes if p.pooled]  # as across processes: last
    if ds.column_names:  # a missing column fails before any model loads (a stream may not know its columns)
        check_passes(passes, ds.column_names)
    if isinstance(ds, IterableDataset):
        for map_pass in passes:
            map_pass.prepare(ds)
            features = Features({**ds.features, **map_pass.features()}) if ds.features else None
            ds = ds.map(map_pass, batched=True, batch_size=batch_size, with_indices=True, features=features)
            _record(ds, map_pass)
        return ds
    loaded_before = [p.model for p in passes if p.model is not None and p.model.loaded]
    groups, source = _groups(passes), ds
    for k, group in enumerate(groups):
        for map_pass in group:
            map_pass.prepare(ds)
        reads_source = all(set(p.input_columns()) <= set(source.column_names) for p in group)
        ds = _map_passes(source if reads_source else ds, ds, group, checkpoint_rows, num_proc, batched=True,
                         batch_size=batch_size, with_indices=True, load_from_cache_file=load_from_cache_file)
        for map_pass in group:
            _record(ds, map_pass)
        model = group[0].model
        if model is not None and not any(model is m for m in loaded_before) \
                and all(later.model is not model for rest in groups[k + 1:] for later in rest):
            model.release()  # loaded for these passes only: free it before the next model loads
    return ds
