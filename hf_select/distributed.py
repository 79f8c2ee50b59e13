"""Scoring beyond one process with `accelerate launch`: each rank scores a contiguous shard, and the main process
joins the shards in rank order, then writes (and, for a recipe, selects and publishes) once.

Ranks share their work through the `datasets` cache, not through files of their own: every rank's chunks of
every pass are cached where `hf_select.score` always caches them (beside the data's Arrow files), and the main
process reads each rank's shard back from that cache (no model runs; a chunk that is not there is an error naming
it, never a silent recomputation). So a rank killed mid-run loses at most the chunk it was scoring, and rerunning
the same command reuses every finished chunk of every rank. Across machines the data's cache must be on a
filesystem every machine sees (and ``HF_DATASETS_CACHE`` with it); only the main process writes the output.

Scores are per row and independent of batching, so the joined dataset equals a single-process run (up to float
rounding, ~1e-7). A pass fitted over the whole split (`MapPass.pooled`, e.g. ASLEC-CASL's regression) runs once,
on the main process, over the joined split.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from datasets import Dataset, DatasetDict, concatenate_datasets, is_caching_enabled, load_from_disk
from datasets.distributed import split_dataset_by_node

from hf_select.errors import ConfigError, HfSelectError
from hf_select.outputs import check_output, save_to_disk
from hf_select.run_scores import CHECKPOINT_ROWS, score, uncached
from hf_select.scoring import MapPass

# Ranks meet at a barrier once their shards are scored: the fastest waits for the slowest, which on shards of
# hours can be more than the 30 minutes torch.distributed allows by default.
BARRIER_TIMEOUT = timedelta(days=7)


def process_state():
    """accelerate's view of this process. Without a GPU, ranks talk over gloo on the CPU, so that
    ``accelerate launch --multi_gpu --num_processes N`` (its torchrun launcher) also works on CPU machines."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available(), timeout=BARRIER_TIMEOUT)


def score_split(
    ds: Dataset, *scores: MapPass, batch_size: int = 64, checkpoint_rows: int | None = CHECKPOINT_ROWS
) -> Dataset | None:
    """``hf_select.score`` across the processes of an ``accelerate launch`` (or alone): the scored split on the
    main process, None on the others (once every rank has scored its shard)."""
    state = process_state()
    options = {"batch_size": batch_size, "checkpoint_rows": checkpoint_rows}
    if state.num_processes == 1:
        return score(ds, *scores, **options)
    if not ds.cache_files or not is_caching_enabled():
        raise ConfigError(
            "scoring across processes shares the work through the datasets cache: the data must be on "
            "disk (load_dataset, or save_to_disk then load_from_disk) and caching enabled"
        )
    passes = [map_pass for item in scores for map_pass in item.passes()]
    by_row, pooled = [p for p in passes if not p.pooled], [p for p in passes if p.pooled]
    n = state.num_processes
    mine = _shard(ds, state.process_index, n)
    if len(mine):  # more processes than rows: a rank without rows has nothing to score, and waits
        score(mine, *by_row, **options)
    state.wait_for_everyone()
    if not state.is_main_process:
        return None
    shards = []
    for rank in range(n):
        shard = _shard(ds, rank, n)
        if not len(shard):
            continue
        missing = uncached(shard, *by_row, checkpoint_rows=checkpoint_rows)
        if missing:
            raise HfSelectError(
                f"rank {rank}'s scores are not in this process's datasets cache ({missing[0]}, "
                f"{len(missing)} chunk(s) in all): across machines, the data and HF_DATASETS_CACHE "
                "must be on a filesystem every machine shares"
            )
        shards.append(score(shard, *by_row, **options))
    joined = concatenate_datasets(shards)
    joined.info.description = shards[0].info.description  # the scores' metadata, the same on every rank
    return score(joined, *pooled, completeness=False, **options)


def _shard(ds: Dataset, rank: int, n: int) -> Dataset:
    """The rank's contiguous share of the rows, as ``split_dataset_by_node`` gives it; with more processes than rows
    (which `datasets` refuses) the first ranks take a row each and the others none."""
    if len(ds) >= n:
        return split_dataset_by_node(ds, rank=rank, world_size=n)
    return ds.select(range(rank, rank + 1) if rank < len(ds) else [])


def score_to_disk(
    ds: Dataset | DatasetDict,
    *scores: MapPass,
    out_dir: str | Path,
    batch_size: int = 64,
    overwrite: bool = False,
    sources: Iterable[str | Path] = (),
) -> Dataset | DatasetDict:
    """Score ``ds`` (across the processes of an ``accelerate launch``, or alone) and ``save_to_disk`` the
    result into ``out_dir`` once, atomically, with the guarantees of `hf_select.outputs` (checked before any
    scoring). A `DatasetDict` is scored split by split. Every rank returns the saved dataset."""
    state = process_state()
    out_dir = check_output(out_dir, overwrite=overwrite, sources=sources)
    splits = dict(ds) if isinstance(ds, DatasetDict) else {"": ds}
    scored = {split: score_split(part, *scores, batch_size=batch_size) for split, part in splits.items()}
    if state.is_main_process:
        save_to_disk(
            DatasetDict(scored) if isinstance(ds, DatasetDict) else scored[""],
            out_dir,
            overwrite=overwrite,
            sources=sources,
        )
    state.wait_for_everyone()
    return load_from_disk(str(out_dir))
