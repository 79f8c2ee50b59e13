"""`score`: run scores over a dataset as cached ``Dataset.map`` passes (the passes themselves: `hf_select.scoring`).

Each pass gets an explicit fingerprint derived from the input dataset's fingerprint and the pass's full
configuration (model identity, tokenizer, dtype, parameters, library version). Rerunning the same scoring
on the same data is therefore a cache hit that never loads the model, and any parameter change is a miss.
Large datasets are mapped in chunks of ``checkpoint_rows``, each cached on its own, so an interrupted run
resumes from the last finished chunk instead of starting the score over. Scores on one model that ask the same
requests share them (`hf_select.scores.base.SharedPass`); completeness is added after the scores.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Collection, Iterator, Sequence
from typing import Any

import datasets
from datasets import Dataset, DatasetDict, Features, IterableDataset, IterableDatasetDict, concatenate_datasets

from hf_select._compat import dataset_from_arrow, is_cached
from hf_select._compat import fingerprint as dataset_fingerprint
from hf_select.columns import ERROR_COLUMN
from hf_select.completeness import Completeness
from hf_select.errors import WrongTypeError
from hf_select.formats import Shape
from hf_select.metadata import record_score
from hf_select.progress import ScoreProgress
from hf_select.scores.base import Scorer, SharedPass, TakeColumns
from hf_select.scoring import MapPass

CHECKPOINT_ROWS = 1000
CACHE_LAYOUT = "own columns"  # what a pass's cache file holds (in every key: files of another layout never match)


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
    payload = json.dumps(
        {"input": input_fingerprint, "pass": map_pass.config(), "layout": CACHE_LAYOUT}, sort_keys=True
    )
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


def _map_passes(
    source: Dataset, ds: Dataset, group: list[MapPass], checkpoint_rows: int | None, num_proc: int | None, **kwargs: Any
) -> Dataset:
    """``ds`` with the columns of ``group`` (one pass, or several scores on one model) computed over ``source``
    (``ds`` itself, or the data before any pass for scores that read only the data's own columns).

    Each pass maps the columns it reads to the columns it adds, in chunks of ``checkpoint_rows``, each chunk cached
    under a key made of the input's fingerprint and the pass's configuration alone: adding, removing or reordering
    other scores never recomputes it, and its cache file holds its own columns only. In a chunk where several passes
    are not cached yet, a `SharedPass` computes them together (their common requests once) and each pass's map
    takes its columns from it. The new columns are then joined to ``ds`` (no copy)."""

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
                    shared = piece.map(
                        together if piece is source else _Offset(together, start),
                        keep_in_memory=True,
                        features=Features(together.features()),
                        remove_columns=piece.column_names,
                        new_fingerprint=pass_fingerprint(keys[missing[0]], together),
                        desc=describe,
                        num_proc=num_proc,
                        **kwargs,
                    )
                for i, (map_pass, key) in enumerate(zip(group, keys, strict=True)):
                    taking = shared is not None and i in missing
                    map_pass.progress = progress if not taking else None
                    step = (
                        TakeColumns(map_pass, missing.index(i), shared)
                        if taking
                        else (map_pass if piece is source else _Offset(map_pass, start))
                    )
                    reads = piece.select_columns(_reads(map_pass, piece.column_names))
                    added[i].append(
                        reads.map(
                            step,
                            new_fingerprint=key,
                            features=Features(map_pass.features()),
                            remove_columns=reads.column_names,
                            desc=map_pass.describe(),
                            num_proc=None if taking else num_proc,
                            **kwargs,
                        )
                    )
                progress.finish_chunk(start + len(piece))
    finally:
        for map_pass in group:
            map_pass.progress = None
        if own_bar and bars_were_on:
            datasets.enable_progress_bars()
    return join_columns(ds, [concatenate_datasets(pieces) if len(pieces) > 1 else pieces[0] for pieces in added])


def _chunks(source: Dataset, checkpoint_rows: int | None) -> Iterator[tuple[int, Dataset]]:
    """(first row, rows) of each separately cached chunk of ``source``."""
    chunk = checkpoint_rows or len(source) or 1
    for start in range(0, max(len(source), 1), chunk):
        yield start, source if chunk >= len(source) else source.select(range(start, min(start + chunk, len(source))))


def uncached(ds: Dataset, *scores: MapPass, checkpoint_rows: int | None = CHECKPOINT_ROWS) -> list[str]:
    """The model-backed passes and chunks of ``scores`` over ``ds`` that `score` would have to compute (not in
    the `datasets` cache), as "<pass>: rows a-b". Distributed runs check that what other ranks scored is here."""

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


def join_columns(ds: Dataset, added: list[Dataset]) -> Dataset:
    """``ds`` with the columns of each of ``added`` (same rows; the last made of a name wins), their messages
    appended to ``hf_select_error``."""
    import pyarrow as pa

    messages = [part.with_format("arrow")[ERROR_COLUMN] for part in [ds, *added] if ERROR_COLUMN in part.column_names]
    parts, claimed = [], {ERROR_COLUMN}
    for part in reversed([ds, *added]):  # a column made again replaces the one before (as a map would)
        parts.insert(0, part.remove_columns([c for c in part.column_names if c in claimed]))
        claimed |= set(part.column_names)
    parts = [part for part in parts if part.column_names]  # `datasets` counts no rows in a table of no columns
    if messages:
        joined = [
            "; ".join(m for m in row if m) or None
            for row in zip(*(column.to_pylist() for column in messages), strict=True)
        ]
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


def completeness_for(passes: list[MapPass], shape: Shape | None = None) -> list[MapPass]:
    """The completeness pass to run after ``passes`` (read with ``shape``, by default their first), unless one is
    among them: the one place that decides it, for `score` and for recipes."""
    shape = shape or next((p.shape for p in passes if p.shape is not None), None)
    if shape is None or any(isinstance(p, Completeness) for p in passes):
        return []
    return [Completeness(shape=shape)]


def record_pass(ds: Dataset | IterableDataset, map_pass: MapPass) -> None:
    """Write what ``map_pass`` is (configuration, column meanings, card text, shades) into ``ds``'s metadata."""
    definitions = {c.name: c for c in map_pass.column_specs()}
    columns = {
        name: {
            "score": map_pass.key,
            "higher_is_better": spec.higher_is_better,
            "definition": spec.definition,
            "aggregate": list(spec.aggregate) if spec.aggregate else None,
            "correctness": spec.correctness,
            "select_max": spec.select_max,
        }
        for name, spec in definitions.items()
    }
    about = {
        "explanation": map_pass.explanation,
        "citation": map_pass.citation,
        "fields": map_pass.field_docs(),
        "shades": [dataclasses.asdict(s) for s in map_pass.shade_specs()],
    }
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
        return type(ds)(
            {
                split: score(
                    part,
                    *scores,
                    batch_size=batch_size,
                    num_proc=num_proc,
                    load_from_cache_file=load_from_cache_file,
                    checkpoint_rows=checkpoint_rows,
                    completeness=completeness,
                )
                for split, part in ds.items()
            }
        )
    for item in scores:
        if not isinstance(item, MapPass):
            raise WrongTypeError(f"score() takes hf_select scores (MapPass), not {type(item).__name__}")
    passes = [map_pass for item in scores for map_pass in item.passes()]
    if completeness:
        passes += completeness_for(passes)
    passes = [p for p in passes if not p.pooled] + [p for p in passes if p.pooled]  # as across processes: last
    if ds.column_names:  # a missing column fails before any model loads (a stream may not know its columns)
        check_passes(passes, ds.column_names)
    if isinstance(ds, IterableDataset):
        for map_pass in passes:
            map_pass.prepare(ds)
            features = Features({**ds.features, **map_pass.features()}) if ds.features else None
            ds = ds.map(map_pass, batched=True, batch_size=batch_size, with_indices=True, features=features)
            record_pass(ds, map_pass)
        return ds
    loaded_before = [p.model for p in passes if p.model is not None and p.model.loaded]
    groups, source = _groups(passes), ds
    for k, group in enumerate(groups):
        for map_pass in group:
            map_pass.prepare(ds)
        reads_source = all(set(p.input_columns()) <= set(source.column_names) for p in group)
        ds = _map_passes(
            source if reads_source else ds,
            ds,
            group,
            checkpoint_rows,
            num_proc,
            batched=True,
            batch_size=batch_size,
            with_indices=True,
            load_from_cache_file=load_from_cache_file,
        )
        for map_pass in group:
            record_pass(ds, map_pass)
        model = group[0].model
        if (
            model is not None
            and not any(model is m for m in loaded_before)
            and all(later.model is not model for rest in groups[k + 1 :] for later in rest)
        ):
            model.release()  # loaded for these passes only: free it before the next model loads
    return ds
