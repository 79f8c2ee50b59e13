"""Scoring beyond one process with `accelerate launch`: each rank scores a contiguous shard, the main
process joins the shards in rank order and writes the result once.

Scores are per row and independent of batching, so the joined dataset equals a single-process run (up to
float rounding, ~1e-7). A pass fitted over the whole split (`MapPass.pooled`, e.g. ASLEC-CASL's regression) runs
once, on the main process, over the joined split. ``out_dir`` must be visible to every rank (a shared filesystem
across nodes).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from datasets import Dataset, DatasetDict, concatenate_datasets, load_from_disk
from datasets.distributed import split_dataset_by_node

from hf_select.outputs import check_output, save_to_disk
from hf_select.scoring import MapPass, score


def process_state():
    """accelerate's view of this process. Without a GPU, ranks talk over gloo on the CPU, so that
    ``accelerate launch --multi_gpu --num_processes N`` (its torchrun launcher) also works on CPU machines."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def _join(folder: Path, world_size: int) -> Dataset:
    """The ranks' shards of one split, in rank order, with the score metadata (the same on every rank)."""
    parts = [load_from_disk(str(folder / f"{rank:05d}-of-{world_size:05d}")) for rank in range(world_size)]
    joined = concatenate_datasets(parts)
    joined.info.description = parts[0].info.description
    return joined


def score_to_disk(ds: Dataset | DatasetDict, *scores: MapPass, out_dir: str | Path, batch_size: int = 64,
                  overwrite: bool = False, sources: Iterable[str | Path] = ()) -> Dataset | DatasetDict:
    """Score ``ds`` (across the processes of an ``accelerate launch``, or alone) and ``save_to_disk`` the
    result into ``out_dir`` once, atomically, with the guarantees of `hf_select.outputs` (checked before any
    scoring). A `DatasetDict` is scored split by split. Every rank returns the saved dataset."""
    state = process_state()
    out_dir = check_output(out_dir, overwrite=overwrite, sources=sources)
    if state.num_processes == 1:
        save_to_disk(score(ds, *scores, batch_size=batch_size), out_dir, overwrite=overwrite, sources=sources)
        return load_from_disk(str(out_dir))
    shards = out_dir.with_name(f".{out_dir.name}.hf_select-shards")
    splits = dict(ds) if isinstance(ds, DatasetDict) else {"": ds}
    rank = f"{state.process_index:05d}-of-{state.num_processes:05d}"
    passes = [map_pass for item in scores for map_pass in item.passes()]
    by_row, pooled = [p for p in passes if not p.pooled], [p for p in passes if p.pooled]
    for split, part in splits.items():
        shard = split_dataset_by_node(part, rank=state.process_index, world_size=state.num_processes)
        score(shard, *by_row, batch_size=batch_size).save_to_disk(str(shards / split / rank))
    state.wait_for_everyone()
    if state.is_main_process:  # a pass fitted over the whole split runs once, on all of it
        joined = {split: score(_join(shards / split, state.num_processes), *pooled, completeness=False)
                  for split in splits}
        result = DatasetDict(joined) if isinstance(ds, DatasetDict) else joined[""]
        save_to_disk(result, out_dir, overwrite=overwrite, sources=sources)
        shutil.rmtree(shards, ignore_errors=True)
    state.wait_for_everyone()
    return load_from_disk(str(out_dir))
