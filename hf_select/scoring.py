"""`score`: run scorers over a dataset as cached ``Dataset.map`` calls.

Each map gets an explicit fingerprint derived from the input dataset's fingerprint and the step's full
configuration (model identity, tokenizer, dtype, parameters, library version). Rerunning the same scoring
on the same data is therefore a cache hit that never loads the model, and any parameter change is a miss.
Large datasets are mapped in chunks of ``checkpoint_rows``, each cached on its own, so an interrupted run
resumes from the last finished chunk instead of starting the score over.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import datasets
from datasets import Dataset, DatasetDict, Features, concatenate_datasets
from tqdm.auto import tqdm

from hf_select.metadata import record_score

CHECKPOINT_ROWS = 1000


def fingerprint(ds: Dataset, step: Any) -> str:
    """The cache key of ``step`` applied to ``ds``: independent of batch size, order of calls and num_proc."""
    payload = json.dumps({"input": ds._fingerprint, "step": step.config()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def map_steps(scorer: Any) -> list:
    """The ``Dataset.map`` calls a scorer needs: one for a plain score; one per model, then a model-free
    step, for composite scores such as `Provenance`."""
    return scorer.steps() if hasattr(scorer, "steps") else [scorer]


class _Offset:
    """A chunk's step: reports dataset row numbers (chunk start + position) in its error messages."""

    def __init__(self, step: Any, offset: int):
        self.step, self.offset = step, offset

    def __call__(self, batch: dict[str, Any], indices: Sequence[int] | int | None = None) -> dict[str, Any]:
        if isinstance(indices, int):
            indices += self.offset
        elif indices is not None:
            indices = [i + self.offset for i in indices]
        return self.step(batch, indices)


def _map_step(ds: Dataset, step: Any, checkpoint_rows: int | None, **kwargs: Any) -> Dataset:
    kwargs["features"] = Features({**ds.features, **step.features()})
    if not checkpoint_rows or len(ds) <= checkpoint_rows:
        return ds.map(step, new_fingerprint=fingerprint(ds, step), desc=step.describe(), **kwargs)
    pieces = []
    bars_were_on = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # one bar for the whole score instead of one per chunk
    try:
        with tqdm(total=len(ds), desc=step.describe(), unit=" examples") as bar:
            for start in range(0, len(ds), checkpoint_rows):
                piece = ds.select(range(start, min(start + checkpoint_rows, len(ds))))
                pieces.append(piece.map(_Offset(step, start), new_fingerprint=fingerprint(piece, step), **kwargs))
                bar.update(len(piece))
    finally:
        if bars_were_on:
            datasets.enable_progress_bars()
    return concatenate_datasets(pieces)


def score(
    ds: Dataset | DatasetDict,
    *scorers: Any,
    batch_size: int = 64,
    num_proc: int | None = None,
    load_from_cache_file: bool | None = None,
    checkpoint_rows: int | None = CHECKPOINT_ROWS,
) -> Dataset | DatasetDict:
    """Add the columns of every scorer to ``ds``, reusing cached results when nothing changed.

    ``batch_size`` rows go to the engine at a time (results do not depend on it); ``num_proc`` splits the
    rows over worker processes, each loading its own copy of the model (single-threaded). A composite
    score runs one model at a time: a model it had to load for its pass is released afterwards.
    ``checkpoint_rows`` sets the size of the separately cached chunks (``None``: one map per score).
    """
    if isinstance(ds, DatasetDict):
        return DatasetDict({split: score(part, *scorers, batch_size=batch_size, num_proc=num_proc,
                                         load_from_cache_file=load_from_cache_file, checkpoint_rows=checkpoint_rows)
                            for split, part in ds.items()})
    for scorer in scorers:
        steps = map_steps(scorer)
        for step in steps:
            model = getattr(step, "model", None)
            was_loaded = model is None or model.loaded
            ds = _map_step(ds, step, checkpoint_rows, batched=True, batch_size=batch_size, with_indices=True,
                           num_proc=num_proc, load_from_cache_file=load_from_cache_file)
            columns = {column: {"score": step.name, "higher_is_better": up,
                                "definition": step.definitions.get(column, "")}
                       for column, up in step.higher_is_better.items()}
            record_score(ds, step.name, step.config(), columns)
            if len(steps) > 1 and not was_loaded:
                model.release()
    return ds
