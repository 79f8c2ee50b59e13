"""Scoring on a Ray cluster: the same passes, run by Ray Data actors that each load the model once.

    pip install "hf_select[ray]"

`ScoreBatches` is a callable class for ``ray.data.Dataset.map_batches``: each actor holds the scores (their models
load on the actor's first batch, on the actor's GPU when it has one) and runs the very passes `hf_select.score`
runs, on Arrow batches, returning the columns they add. `score_ray` maps a ``ray.data.Dataset`` with it (data
streamed from and to Parquet, on object storage or a shared disk); `score_split_ray` is what a recipe with
``executor: {type: ray}`` runs: the split goes out to the actors, and the driver joins the new columns, records
every score's metadata and runs the passes fitted over the whole split (ASLEC-CASL) itself, so the filters,
rankings, comparison, selection, card, viewer and publishing that follow are those of a one-process run.

A batch's result is checkpointed under a key made of its content and every pass's configuration (model identity,
parameters, version): an actor that dies loses at most the batch it was scoring (Ray restarts it and retries the
batch), and rerunning the same job serves every finished batch from the checkpoints without loading a model.
Scores are per row and independent of batching, so the result equals a one-process run up to float rounding.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Dataset

from hf_select._compat import dataset_from_arrow
from hf_select.cache import cache_dir
from hf_select.errors import ConfigError, HfSelectError
from hf_select.run_scores import completeness_for, join_columns, record_pass, score
from hf_select.scoring import MapPass

if TYPE_CHECKING:
    import ray.data

INSTALL = 'pip install "hf_select[ray]"'
ROW = "__hf_select_ray_row"  # each row's place in the split, while it is out on the actors (never in the output)
FAILED = "__hf_select_ray_error"  # a batch that could not be scored: its error, pickled, back to the driver


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - Ray without its data extra cannot map batches
    except ImportError:
        raise ConfigError(f"scoring on Ray needs Ray Data, which is not installed: {INSTALL}") from None
    return ray


def check_ray() -> None:
    """Refuse, before anything is scored, a Ray run that cannot start: Ray missing, or the run launched as one of
    several processes (Ray brings its own actors)."""
    _ray()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError(
            "`executor.type: ray` runs its own actors on the Ray cluster: start it once with `hf-select run`, not "
            "under `accelerate launch`"
        )


@dataclass(frozen=True)
class RayOptions:
    """How the actors run: ``actors`` of them, each with ``gpus_per_actor`` GPUs (0: CPU), ``batch_size`` rows a
    batch, checkpoints in ``checkpoint_dir`` (a folder every node sees; default ``$HF_SELECT_CACHE/ray``), on the
    cluster at ``address`` (default: ``RAY_ADDRESS``, else a local cluster)."""

    actors: int = 1
    gpus_per_actor: float = 0
    batch_size: int = 64
    checkpoint_dir: str | None = None
    address: str | None = None


class ScoreBatches:
    """``map_batches`` callable: an Arrow batch with the columns ``passes`` add (``keep_input=False``: those columns
    alone, beside the row key the batch came with)."""

    def __init__(self, passes: list[MapPass], batch_size: int, checkpoint_dir: str, keep_input: bool = True) -> None:
        import datasets

        datasets.disable_progress_bars()  # an actor's log is no place for a bar per batch
        self.passes, self.batch_size, self.checkpoints = passes, batch_size, Path(checkpoint_dir)
        self.keep_input = keep_input
        self._configs: str | None = None

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.column(ROW) if ROW in batch.column_names else None
        data = batch.drop_columns([ROW]) if rows is not None else batch
        path = self.checkpoints / f"{self._key(data)}.parquet"
        if path.is_file():
            added = pq.read_table(path)
        else:
            try:
                added = self._score(data)
            except HfSelectError as error:
                if rows is None:
                    raise
                # the driver raises it, naming the row of the split (not of this batch): an error as a value
                # crosses the actor boundary whole, where Ray would wrap it in a traceback of its own
                _renumber(error, rows.to_pylist())
                return pa.table({ROW: rows, FAILED: pa.array([pickle.dumps(error)] * len(rows), pa.binary())})
            _write_atomically(added, path)
        if self.keep_input:
            kept = batch.drop_columns([c for c in added.column_names if c in batch.column_names])
            return pa.Table.from_arrays(
                [*kept.columns, *added.columns], names=[*kept.column_names, *added.column_names]
            )
        return added.append_column(ROW, rows) if rows is not None else added

    def _score(self, data: pa.Table) -> pa.Table:
        """The columns the passes add to ``data``, computed by `hf_select.score` itself."""
        for model in {id(p.model): p.model for p in self.passes if p.model is not None}.values():
            model.model  # noqa: B018 - load once per actor: score() releases only what it loaded itself
        scored = score(
            dataset_from_arrow(data), *self.passes, batch_size=self.batch_size, checkpoint_rows=None, completeness=False
        )
        made = [c for c in scored.column_names if c not in data.column_names or _made(c, self.passes)]
        return scored.with_format("arrow")[:].select(made)

    def _key(self, data: pa.Table) -> str:
        """The batch's content and every pass's configuration: equal keys, equal results."""
        if self._configs is None:
            self._configs = json.dumps([p.config() for p in self.passes], sort_keys=True, default=str)
        content = json.dumps(data.to_pylist(), sort_keys=True, default=str)
        return hashlib.sha256(f"{self._configs}\n{data.schema}\n{content}".encode()).hexdigest()[:40]


def _renumber(error: HfSelectError, rows: list[int]) -> None:
    """Name the split's rows in ``error``'s message, where it names the rows of a batch."""
    error.args = tuple(
        re.sub(r"\brow (\d+)\b", lambda m: f"row {rows[int(m.group(1))]}", part) if isinstance(part, str) else part
        for part in error.args
    )


def _made(column: str, passes: list[MapPass]) -> bool:
    return any(column in p.features() for p in passes)


def _write_atomically(table: pa.Table, path: Path) -> None:
    """One checkpoint file, written beside its place and renamed into it (a killed actor leaves no half file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _by_row(scores: tuple[MapPass, ...], completeness: bool) -> tuple[list[MapPass], list[MapPass]]:
    """The passes that run row by row (on the actors) and those fitted over the split (on the driver), with the
    completeness pass `hf_select.score` adds."""
    passes = [p for item in scores for p in item.passes()]
    passes += completeness_for(passes) if completeness else []
    return [p for p in passes if not p.pooled], [p for p in passes if p.pooled]


def connect(address: str | None = None) -> Any:
    """Ray, connected to the cluster at ``address`` (or ``RAY_ADDRESS``, or a new local one) unless it already is."""
    ray = _ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    context = ray.data.DataContext.get_current()
    context.print_on_execution_start = False  # Ray Data's own bar shows the rows scored
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # the driver's output is the run summary
    return ray


def score_ray(
    data: ray.data.Dataset, *scores: MapPass, options: RayOptions | None = None, completeness: bool = True
) -> ray.data.Dataset:
    """``data`` with the columns of every score's per-row passes, computed by ``options.actors`` Ray actors.
    A pass fitted over the whole split (ASLEC-CASL) cannot run batch by batch: it is refused here; run it on the
    scored split with `hf_select.score` (or use `score_split_ray`, which does)."""
    options = options or RayOptions()
    by_row, pooled = _by_row(scores, completeness)
    if pooled:
        raise ConfigError(
            f"{pooled[0].key} is fitted over the whole split and cannot run batch by batch on the actors: score "
            "the other passes with score_ray, then run it on the collected split with hf_select.score (or use "
            "score_split_ray, which does both)"
        )
    return _map(data, by_row, options, keep_input=True)


def _map(data: ray.data.Dataset, passes: list[MapPass], options: RayOptions, keep_input: bool) -> ray.data.Dataset:
    if options.actors < 1 or options.batch_size < 1 or options.gpus_per_actor < 0:
        raise ConfigError(f"Ray needs at least one actor and a positive batch size, not {options}")
    ray = connect(options.address)
    available = ray.cluster_resources().get("GPU", 0)
    if options.gpus_per_actor > available:  # Ray would wait for them for ever
        raise ConfigError(
            f"each actor asks for {options.gpus_per_actor:g} GPU(s) and the Ray cluster has {available:g}: lower "
            "gpus_per_actor (0: CPU), or add GPU nodes"
        )
    gpus = {"num_gpus": options.gpus_per_actor} if options.gpus_per_actor else {}
    return data.map_batches(
        ScoreBatches,
        fn_constructor_args=(
            passes,
            options.batch_size,
            options.checkpoint_dir or str(cache_dir() / "ray"),
            keep_input,
        ),
        batch_size=options.batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=options.actors),  # Ray Data restarts a dead actor, retries its batch
        **gpus,
    )


def score_split_ray(
    ds: Dataset, *scores: MapPass, options: RayOptions | None = None, completeness: bool = True
) -> Dataset:
    """`hf_select.score` of a split, with the per-row passes on Ray actors and the rest on this driver: the same
    columns and metadata as a one-process run."""
    options = options or RayOptions()
    by_row, pooled = _by_row(scores, completeness)
    if not len(ds):
        return score(ds, *scores, completeness=completeness)
    ray = connect(options.address)
    table = ds.with_format("arrow")[:]
    table = table.select([c for c in table.column_names if _reads(c, by_row)])
    table = table.append_column(ROW, pa.array(range(len(ds)), pa.int64()))
    size = options.batch_size  # one block a batch, so that every actor gets work
    sent = ray.data.from_arrow([table.slice(start, size) for start in range(0, len(table), size)])
    tables = ray.get(_map(sent, by_row, options, keep_input=False).to_arrow_refs())
    failed = sorted((t for t in tables if FAILED in t.column_names), key=lambda t: t.column(ROW)[0].as_py())
    if failed:
        raise pickle.loads(failed[0].column(FAILED)[0].as_py())
    added = pa.concat_tables(tables).sort_by(ROW)
    if added.column(ROW).to_pylist() != list(range(len(ds))):
        raise HfSelectError(f"Ray returned {len(added)} scored rows for {len(ds)}: rows were lost or repeated")
    scored = join_columns(ds, [dataset_from_arrow(added.drop_columns([ROW]))])
    for map_pass in by_row:
        record_pass(scored, map_pass)
    return score(scored, *pooled, completeness=False) if pooled else scored


def _reads(column: str, passes: list[MapPass]) -> bool:
    return any(column in p.input_columns() or column in p.optional_columns() for p in passes)
