"""`score`: run scorers over a dataset as cached ``Dataset.map`` calls.

Each map gets an explicit fingerprint derived from the input dataset's fingerprint and the step's full
configuration (model identity, tokenizer, dtype, parameters, library version). Rerunning the same scoring
on the same data is therefore a cache hit that never loads the model, and any parameter change is a miss.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from datasets import Dataset, DatasetDict, Features

from hf_select.metadata import record_score


def fingerprint(ds: Dataset, step: Any) -> str:
    """The cache key of ``step`` applied to ``ds``: independent of batch size, order of calls and num_proc."""
    payload = json.dumps({"input": ds._fingerprint, "step": step.config()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def map_steps(scorer: Any) -> list:
    """The ``Dataset.map`` calls a scorer needs: one for a plain score; one per model, then a model-free
    step, for composite scores such as `Provenance`."""
    return scorer.steps() if hasattr(scorer, "steps") else [scorer]


def score(
    ds: Dataset | DatasetDict,
    *scorers: Any,
    batch_size: int = 64,
    num_proc: int | None = None,
    load_from_cache_file: bool | None = None,
) -> Dataset | DatasetDict:
    """Add the columns of every scorer to ``ds``, reusing cached results when nothing changed.

    ``batch_size`` rows go to the engine at a time (results do not depend on it); ``num_proc`` splits the
    rows over worker processes, each loading its own copy of the model (single-threaded). A composite
    score runs one model at a time: a model it had to load for its pass is released afterwards.
    """
    if isinstance(ds, DatasetDict):
        return DatasetDict({split: score(part, *scorers, batch_size=batch_size, num_proc=num_proc,
                                         load_from_cache_file=load_from_cache_file)
                            for split, part in ds.items()})
    for scorer in scorers:
        steps = map_steps(scorer)
        for step in steps:
            model = getattr(step, "model", None)
            was_loaded = model is None or model.loaded
            ds = ds.map(
                step,
                batched=True,
                batch_size=batch_size,
                with_indices=True,
                num_proc=num_proc,
                features=Features({**ds.features, **step.features()}),
                new_fingerprint=fingerprint(ds, step),
                load_from_cache_file=load_from_cache_file,
                desc=step.describe(),
            )
            columns = {column: {"score": step.name, "higher_is_better": up,
                                "definition": step.definitions.get(column, "")}
                       for column, up in step.higher_is_better.items()}
            record_score(ds, step.name, step.config(), columns)
            if len(steps) > 1 and not was_loaded:
                model.release()
    return ds
