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

import hashlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from typing import Any, ClassVar

import datasets
from datasets import Dataset, DatasetDict, Features, IterableDataset, IterableDatasetDict, concatenate_datasets

from hf_select._compat import fingerprint as dataset_fingerprint
from hf_select._compat import is_batch
from hf_select.columns import ERROR_COLUMN, Column
from hf_select.errors import Arg, MissingColumnError, Placeholder
from hf_select.metadata import record_score
from hf_select.progress import ScoreProgress

logger = logging.getLogger(__name__)

CHECKPOINT_ROWS = 1000
ERROR_DOC = "why the row's scores are NaN (on_error/on_overflow='nan'), or that its text was truncated; null if neither"


class MapPass(ABC):
    """One ``Dataset.map`` pass: a batch (or one row) in, new columns out.

    A subclass says what it adds (`features`), what it depends on (`config`: everything that changes a
    number, the cache key and the card's parameter table) and how to compute a batch (`__call__`). The class
    attributes say what the columns mean, for metadata and cards."""

    name: ClassVar[str] = ""  # the key of this pass in the dataset's metadata
    explanation: ClassVar[str] = ""  # plain words for the card
    citation: ClassVar[str] = ""  # BibTeX of the paper the score comes from, for the card
    columns: ClassVar[tuple[Column, ...]] = ()  # the columns to rank by, with direction and definition
    fields: ClassVar[dict[str, str]] = {}  # a short description of every other column it adds, for the card
    model: Any = None  # the model the pass runs, if any
    progress: Any = None  # set by `score` while it runs the pass (a `ScoreProgress`)

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """Full, JSON-safe configuration: what the cache key and the dataset card are built from."""

    @abstractmethod
    def features(self) -> dict[str, Any]:
        """Every column a call returns, as `datasets` feature types."""

    @abstractmethod
    def __call__(self, batch: dict[str, Any], indices: Sequence[int] | int | None = None) -> dict[str, Any]:
        """The new columns of a batch (``map(batched=True)``) or of a single row."""

    def input_columns(self) -> list[str]:
        """The columns a call reads (checked before any work starts)."""
        return []

    def optional_columns(self) -> list[str]:
        """Columns read when present (a ShareGPT ``system`` column): those of the pass's `RowReader`, if any."""
        reader = getattr(self, "reader", None)
        return reader.optional_columns() if reader is not None else []

    def check_columns(self, available: Collection[str]) -> None:
        """Raise `MissingColumnError` naming the first input column that is not ``available``, and the fix."""
        for column in self.input_columns():
            if column not in available:
                raise MissingColumnError(f"{self.name}: column {column!r} is not in the dataset (columns: "
                                         f"{sorted(available)}). Rename it, or pass ", self.column_argument(column),
                                         " to match your dataset.")

    def column_argument(self, column: str) -> Arg:
        """The argument that names ``column`` (``response_column=...``), for error messages."""
        for key, value in vars(self).items():
            if key.endswith("_column") and value == column:
                return Arg(key, Placeholder("your column"))
        return Arg("response_column", Placeholder("your column"))

    def describe(self) -> str:
        return self.name

    def passes(self) -> list[MapPass]:
        """The ``Dataset.map`` passes `score` runs for this score: itself, unless it is composite."""
        return [self]

    def column_specs(self) -> tuple[Column, ...]:
        """The columns to rank by (`columns`, renamed when an instance renames its columns)."""
        return self.columns

    def column(self, name: str) -> str:
        """The name a column of this pass gets in the dataset (a score with a ``column_suffix`` renames)."""
        return name

    def field_docs(self) -> dict[str, str]:
        """A description of every column a call returns (the card's field table)."""
        docs = {ERROR_COLUMN: ERROR_DOC, **{self.column(k): v for k, v in self.fields.items()},
                **{c.name: c.definition for c in self.column_specs()}}
        return {name: docs.get(name, "") for name in self.features()}

    def split_batch(self, batch: dict[str, Any], keys: Sequence[str]) -> tuple[bool, list[dict[str, Any]]]:
        """(whether ``batch`` is a batch, its rows restricted to ``keys``)."""
        if not is_batch(batch, self.input_columns() or list(keys)):
            return False, [batch]
        present = [k for k in keys if k in batch]
        return True, [dict(zip(present, values, strict=True)) for values in zip(*(batch[k] for k in present),
                                                                                  strict=True)]


def fingerprint(ds: Dataset, map_pass: MapPass) -> str:
    """The cache key of ``map_pass`` applied to ``ds``: independent of batch size, call order and num_proc."""
    payload = json.dumps({"input": dataset_fingerprint(ds), "pass": map_pass.config()}, sort_keys=True)
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


def _map_pass(ds: Dataset, map_pass: MapPass, checkpoint_rows: int | None, num_proc: int | None,
              **kwargs: Any) -> Dataset:
    kwargs["features"] = Features({**ds.features, **map_pass.features()})
    chunk = checkpoint_rows or len(ds) or 1
    pieces = []
    bars_were_on = datasets.is_progress_bar_enabled()
    own_bar = num_proc is None or num_proc <= 1  # worker processes cannot move a bar in this one
    if own_bar:
        datasets.disable_progress_bars()  # one bar for the whole pass, moving as rows finish
    try:
        with ScoreProgress(len(ds), map_pass.describe(), enabled=own_bar and bars_were_on) as progress:
            map_pass.progress = progress
            for start in range(0, max(len(ds), 1), chunk):
                piece = ds if chunk >= len(ds) else ds.select(range(start, min(start + chunk, len(ds))))
                step = map_pass if piece is ds else _Offset(map_pass, start)
                mapped = piece.map(step, new_fingerprint=fingerprint(piece, map_pass), num_proc=num_proc,
                                   desc=map_pass.describe(), **kwargs)
                progress.finish_chunk(start + len(piece))
                pieces.append(mapped)
    finally:
        map_pass.progress = None
        if own_bar and bars_were_on:
            datasets.enable_progress_bars()
    return pieces[0] if len(pieces) == 1 else concatenate_datasets(pieces)


def _record(ds: Dataset | IterableDataset, map_pass: MapPass) -> None:
    definitions = {c.name: c for c in map_pass.column_specs()}
    columns = {name: {"score": map_pass.name, "higher_is_better": spec.higher_is_better,
                      "definition": spec.definition, "aggregate": list(spec.aggregate) if spec.aggregate else None}
               for name, spec in definitions.items()}
    about = {"explanation": map_pass.explanation, "citation": map_pass.citation, "fields": map_pass.field_docs()}
    record_score(ds, map_pass.name, map_pass.config(), columns, about)


def score(
    ds: Dataset | DatasetDict | IterableDataset | IterableDatasetDict,
    *scores: MapPass,
    batch_size: int = 64,
    num_proc: int | None = None,
    load_from_cache_file: bool | None = None,
    checkpoint_rows: int | None = CHECKPOINT_ROWS,
) -> Dataset | DatasetDict | IterableDataset | IterableDatasetDict:
    """Add the columns of every score to ``ds``, reusing cached results when nothing changed.

    ``batch_size`` rows go to the engine at a time (results do not depend on it); ``num_proc`` splits the
    rows over worker processes, each loading its own copy of the model (single-threaded). A model that a pass
    had to load (given with ``load_model(..., lazy=True)``) is released once no later pass needs it, so
    several students, or a composite score's models, are in memory one at a time.
    ``checkpoint_rows`` sets the size of the separately cached chunks (``None``: one map per pass).

    A `DatasetDict` is scored split by split. A streaming `IterableDataset` is mapped lazily, as
    ``IterableDataset.map`` always is: nothing is computed until it is iterated, and nothing is cached.
    """
    if isinstance(ds, (DatasetDict, IterableDatasetDict)):
        return type(ds)({split: score(part, *scores, batch_size=batch_size, num_proc=num_proc,
                                      load_from_cache_file=load_from_cache_file, checkpoint_rows=checkpoint_rows)
                         for split, part in ds.items()})
    for item in scores:
        if not isinstance(item, MapPass):
            raise TypeError(f"score() takes hf_select scores (MapPass), not {type(item).__name__}")
    passes = [map_pass for item in scores for map_pass in item.passes()]
    available = set(ds.column_names or ())
    for map_pass in passes if available else ():  # a missing column fails before any model loads
        map_pass.check_columns(available)
        available |= set(map_pass.features())
    if isinstance(ds, IterableDataset):
        for map_pass in passes:
            features = Features({**ds.features, **map_pass.features()}) if ds.features else None
            ds = ds.map(map_pass, batched=True, batch_size=batch_size, with_indices=True, features=features)
            _record(ds, map_pass)
        return ds
    loaded_before = [p.model for p in passes if p.model is not None and p.model.loaded]
    for i, map_pass in enumerate(passes):
        ds = _map_pass(ds, map_pass, checkpoint_rows, num_proc, batched=True, batch_size=batch_size,
                       with_indices=True, load_from_cache_file=load_from_cache_file)
        _record(ds, map_pass)
        model = map_pass.model
        if model is not None and not any(model is m for m in loaded_before) \
                and all(later.model is not model for later in passes[i + 1:]):
            model.release()  # loaded for these passes only: free it before the next model loads
    return ds
