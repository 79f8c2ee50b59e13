"""`score`: run scorers over a dataset as cached ``Dataset.map`` calls.

Each map gets an explicit fingerprint derived from the input dataset's fingerprint and the scorer's full
configuration (model identity, tokenizer, dtype, parameters, library version). Rerunning the same scoring
on the same data is therefore a cache hit that never loads the model, and any parameter change is a miss.
"""

from __future__ import annotations

import hashlib
import json

from datasets import Dataset, DatasetDict, Features

from hf_select.metadata import record_score
from hf_select.scores.base import Scorer


def fingerprint(ds: Dataset, scorer: Scorer) -> str:
    """The cache key of ``scorer`` applied to ``ds``: independent of batch size, order of calls and num_proc."""
    payload = json.dumps({"input": ds._fingerprint, "scorer": scorer.config()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def score(
    ds: Dataset | DatasetDict,
    *scorers: Scorer,
    batch_size: int = 64,
    num_proc: int | None = None,
    load_from_cache_file: bool | None = None,
) -> Dataset | DatasetDict:
    """Add the columns of every scorer to ``ds``, reusing cached results when nothing changed.

    ``batch_size`` rows go to the engine at a time (results do not depend on it); ``num_proc`` splits the
    rows over worker processes, each loading its own copy of the model.
    """
    if isinstance(ds, DatasetDict):
        return DatasetDict({split: score(part, *scorers, batch_size=batch_size, num_proc=num_proc,
                                         load_from_cache_file=load_from_cache_file)
                            for split, part in ds.items()})
    for scorer in scorers:
        features = Features({**ds.features, **scorer.features()})
        ds = ds.map(
            scorer,
            batched=True,
            batch_size=batch_size,
            with_indices=True,
            num_proc=num_proc,
            features=features,
            new_fingerprint=fingerprint(ds, scorer),
            load_from_cache_file=load_from_cache_file,
            desc=f"{scorer.name} ({scorer.model.name})",
        )
        columns = {column: {"score": scorer.name, "higher_is_better": up,
                            "definition": scorer.definitions.get(column, "")}
                   for column, up in scorer.higher_is_better.items()}
        record_score(ds, scorer.name, scorer.config(), columns)
    return ds
