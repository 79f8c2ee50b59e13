"""Selecting rows from scored datasets: best response(s) per prompt, teacher rankings, score filters.

Everything here is arrow-native: the few columns a selection needs are read as one pyarrow table (the
dataset's table with any indices mapping from ``shuffle``/``select`` applied, so such datasets are handled by
their *logical* rows), the decision is made with pyarrow compute / group-by (and vectorised numpy where arrow
has no kernel), and the result is always ``ds.select(indices)``. That keeps ``ds.info`` (where
`hf_select.metadata` stores every score's definition) and lets `datasets` fingerprint the result. No Python
loop runs over rows (about 50 ms for 200k rows).

Shared rules:

* A score that is NaN or null is *missing*: it never wins a selection, never passes a filter (unless
  ``keep_nan=True``) and is left out of every statistic (`rank_teachers` counts it in ``n_missing``).
  Infinite scores are ordinary values.
* The direction of a score comes from ``higher_is_better`` when given, else from the dataset's own metadata
  (`hf_select.metadata.higher_is_better`), so lower-is-better scores such as ``rsr`` need no flag.
* Results are stable subsequences of the input: selected rows keep their original relative order.
* Incomplete responses (``complete`` false, see `hf_select.completeness`) are never selected unless
  ``incomplete="keep"``: a trace cut off at the token limit often scores well and teaches nothing whole.
* A group column may hold lists or structs (a chat prompt): equal values form one group.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, DatasetDict, IterableDataset, IterableDatasetDict

from hf_select._compat import dataset_from_arrow
from hf_select._compat import logical_table as _table
from hf_select.columns import COMPLETE, PROV_TEACHER_FRACTION
from hf_select.errors import ColumnTypeError, ConfigError, MissingColumnError, WrongTypeError
from hf_select.metadata import aggregate_of, model_of, read_metadata, selection_bound
from hf_select.metadata import higher_is_better as recorded_direction
from hf_select.stats import TeacherTable, uncertainty_columns

logger = logging.getLogger(__name__)

TEACHER_FRACTION = PROV_TEACHER_FRACTION.name

AmongFn = Callable[[pa.Table], Any]

__all__ = [
    "filter_equals",
    "filter_quantile",
    "filter_threshold",
    "rank_teachers",
    "select_best",
    "select_by_divergence",
    "selection_summary",
]


# ----------------------------------------------------------------------------------------------- helpers


def _require(ds: Dataset, columns: Iterable[str | None], where: str) -> None:
    """Fail early with the column's name and what is there: a typo should not read as an arrow error."""
    for column in columns:
        if column is not None and column not in ds.column_names:
            raise MissingColumnError(f"{where}: no column {column!r} in the dataset (available: {ds.column_names})")


def _numeric(column: pa.ChunkedArray | pa.Array, name: str, where: str) -> pa.ChunkedArray | pa.Array:
    if pa.types.is_null(column.type):  # an all-null (or empty) column: every score is missing
        return pc.cast(column, pa.float64())
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise ColumnTypeError(f"{where}: column {name!r} must be numeric to be compared, got {column.type}")
    return column


def _present(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """True where the value is usable: not null and, for floats, not NaN."""
    valid = pc.is_valid(column)
    if pa.types.is_floating(column.type):
        valid = pc.and_(valid, pc.invert(pc.fill_null(pc.is_nan(column), True)))
    return valid


def _as_float(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """float64 numpy view of a numeric column, null -> NaN."""
    return np.asarray(pc.fill_null(pc.cast(column, pa.float64()), math.nan).to_numpy(), dtype=np.float64)


def _as_mask(mask: Any, length: int, where: str) -> pa.Array:
    """A boolean arrow array of ``length`` (nulls -> False) from whatever a mask callable returned."""
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    elif not isinstance(mask, pa.Array):
        mask = pa.array(np.asarray(mask))
    if not pa.types.is_boolean(mask.type):
        raise ColumnTypeError(f"{where}: the mask must be boolean, got {mask.type}")
    if len(mask) != length:
        raise ConfigError(f"{where}: the mask has {len(mask)} values for {length} rows")
    return pc.fill_null(mask, False)


def _boolean(column: pa.ChunkedArray, name: str, where: str) -> pa.ChunkedArray:
    """A boolean view of a flag column (bool as is, integers as != 0); nulls stay null."""
    if pa.types.is_boolean(column.type):
        return column
    if pa.types.is_integer(column.type):
        return pc.not_equal(column, 0)
    raise ColumnTypeError(f"{where}: column {name!r} must be boolean (or 0/1 integers), got {column.type}")


def _direction(ds: Dataset, column: str, given: bool | None) -> bool:
    return recorded_direction(ds, column) if given is None else bool(given)


def _select_rows(ds: Dataset, mask: pa.Array | pa.ChunkedArray) -> Dataset:
    """``ds.select`` of the (logical) rows where ``mask`` is true, in their original order."""
    indices = np.flatnonzero(np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool))
    return ds.select(indices.astype(np.int64))


def per_split(fn: Callable) -> Callable:
    """Apply a selection to every split of a `DatasetDict` (returning a `DatasetDict`); a stream is refused
    (a selection needs the whole split)."""

    @functools.wraps(fn)
    def wrapper(ds: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(ds, DatasetDict):
            return DatasetDict({split: fn(part, *args, **kwargs) for split, part in ds.items()})
        if isinstance(ds, (IterableDataset, IterableDatasetDict)):
            raise WrongTypeError(
                f"{fn.__name__} needs a whole split, not a stream: materialise it first, e.g. "
                "Dataset.from_list(list(stream.take(n))) or load_dataset(..., streaming=False)"
            )
        if not isinstance(ds, Dataset):
            raise WrongTypeError(f"{fn.__name__} takes a Dataset or a DatasetDict, not {type(ds).__name__}")
        return fn(ds, *args, **kwargs)

    return wrapper


# ------------------------------------------------------------------------------------------ select_best


@per_split
def select_best(
    ds: Dataset,
    by: str = "local_naturalness",
    group: str = "prompt",
    among: str | AmongFn | None = None,
    top_k: int = 1,
    higher_is_better: bool | None = None,
    *,
    incomplete: Literal["exclude", "keep"] = "exclude",
    bounded: bool = True,
) -> Dataset:
    """Keep the best row(s) of every group, e.g. the most natural correct response to each prompt.

    Why: distillation wants one (or ``top_k``) response per prompt, and the score that ranks them has a
    direction recorded in the dataset, so this reads it instead of trusting every caller to remember it.

    Args:
        by: numeric score column. Direction: ``higher_is_better`` if given, else the dataset's metadata.
        group: rows with equal values here compete with each other (null is a group of its own).
        among: restricts the candidates first: the name of a boolean column (rows where it is true;
            null counts as false), or ``fn(table) -> boolean mask`` that gets the logical rows as a
            ``pyarrow.Table`` with every column and returns one boolean per row (array, chunked array,
            numpy or list; null -> false).
        top_k: rows kept per group (fewer when a group has fewer candidates).
        incomplete: "exclude" (default): rows whose ``complete`` column is false are not candidates (null:
            unknown, kept); "keep": they compete like the others. Without a ``complete`` column, nothing is
            excluded.
        bounded: True (default): only rows within the score's recorded bound compete (IFD <= 1: Cherry drops the
            responses the prompt makes *less* likely before taking the highest); False: every row.

    Rules:
        * Rows whose score is NaN or null are never selected.
        * Ties: among equal scores the row that comes first in ``ds`` (lowest logical index) wins; with
          ``top_k > 1`` tied rows fill the slots in dataset order.
        * A group left without candidates (all scores NaN/null, or no row passing ``among``) is dropped,
          and a warning on this module's logger says how many groups were dropped and why.
        * The result is sorted by original row index (a stable subsequence of ``ds``), built with
          ``ds.select`` so ``ds.info`` (score metadata) and fingerprinting carry over. Works on datasets
          that already carry an indices mapping (after ``shuffle``/``select``): "first" means first in
          the dataset as you see it.
    """
    where = "select_best"
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ConfigError(f"{where}: top_k must be a positive integer, got {top_k!r}")
    if incomplete not in ("exclude", "keep"):
        raise ConfigError(f"{where}: incomplete must be 'exclude' or 'keep', got {incomplete!r}")
    if among is not None and not isinstance(among, str) and not callable(among):
        raise ColumnTypeError(f"{where}: among must be a column name or a callable, got {type(among).__name__}")
    _require(ds, [by, group, among if isinstance(among, str) else None], where)
    complete = COMPLETE if incomplete == "exclude" and COMPLETE in ds.column_names else None
    table = _table(ds, [by, group] + ([among] if isinstance(among, str) else []) + ([complete] if complete else []))
    if table.num_rows == 0:
        return ds.select([])
    score = _numeric(table.column(by), by, where)
    up = _direction(ds, by, higher_is_better)
    ids, total = _dense_ids(table.column(group))  # null is a group of its own
    allowed = _among_mask(ds, table, among, where)
    candidate = _present(score) if allowed is None else pc.and_(allowed, _present(score))
    bound = selection_bound(ds, by) if bounded else None
    if bound is not None:
        candidate = pc.and_(candidate, pc.fill_null(pc.less_equal(score, bound), False))
    if complete:
        candidate = pc.and_(candidate, pc.fill_null(_boolean(table.column(complete), complete, where), True))
    rows, kept = _top_k_per_group(ids, score, candidate, top_k, up)
    if kept < total:
        no_among = 0 if allowed is None else total - len(np.unique(ids[np.asarray(allowed, dtype=bool)]))
        label = among if isinstance(among, str) else getattr(among, "__name__", repr(among))
        why = f"{no_among} with no row passing among={label}, " if among is not None else ""
        bounded_by = f", only above the bound {bound:g}," if bound is not None else ""
        logger.warning(
            "select_best: dropped %d of %d `%s` groups without a candidate (%s%d with only NaN/null "
            "`%s` scores%s or only incomplete responses)",
            total - kept,
            total,
            group,
            why,
            total - kept - no_among,
            by,
            bounded_by,
        )
    return ds.select(rows.astype(np.int64))


def _among_mask(ds: Dataset, table: pa.Table, among: str | AmongFn | None, where: str) -> pa.Array | None:
    """The rows ``among`` allows (a boolean column, or a callable on the logical rows), None when it is not given."""
    if isinstance(among, str):
        return pc.fill_null(_boolean(table.column(among), among, where), False)
    return None if among is None else _as_mask(among(_table(ds)), table.num_rows, where)


def _top_k_per_group(
    ids: np.ndarray, score: pa.Array, candidate: pa.Array, top_k: int, up: bool
) -> tuple[np.ndarray, int]:
    """(the sorted rows of the ``top_k`` best candidates of each group, the number of groups with a candidate):
    best first within a group, ties to the earlier row."""
    candidates = pa.table(
        {"gid": pa.array(ids), "score": score, "row": pa.array(np.arange(len(ids), dtype=np.int64))}
    ).filter(candidate)
    ranked = candidates.take(
        pc.sort_indices(
            candidates,
            sort_keys=[("gid", "ascending"), ("score", "descending" if up else "ascending"), ("row", "ascending")],
        )
    )
    g = ranked.column("gid").to_numpy()
    position = np.arange(len(g))
    starts = np.r_[True, g[1:] != g[:-1]] if len(g) else np.zeros(0, dtype=bool)
    first_of_group = np.maximum.accumulate(np.where(starts, position, 0)) if len(g) else position
    keep = (position - first_of_group) < top_k
    return np.sort(ranked.column("row").to_numpy()[keep]), int(starts.sum())


# ---------------------------------------------------------------------------------------- rank_teachers


@per_split
def rank_teachers(
    ds: Dataset,
    by: str | Sequence[str] = "local_naturalness",
    teacher: str = "teacher",
    correct: str | None = "is_correct",
    higher_is_better: bool | None = None,
    *,
    bootstrap: int = 0,
    seed: int = 0,
    group: str | None = None,
    confidence: float = 0.95,
) -> Dataset:
    """One row per teacher with the statistics of score ``by``, best teacher first; with several columns in
    ``by`` (one score under several students), a teacher x student table.

    Why: before curating, you want to know which teacher's responses the student finds most natural (and
    how accurate each teacher is), and whether neighbouring teachers are told apart at all.

    Columns: ``rank`` (1 = best ``score``, respecting the score's direction; equal scores ranked by teacher
    name; teachers without any score last), ``teacher`` (always named so, whatever the input column is
    called), ``count`` (non-missing scores), ``n_missing`` (NaN/null scores, excluded from the statistics),
    ``score`` (the teacher-level score: the mean, or for a ratio score such as ``rsr`` the ratio of the means
    of its parts, as the RSR paper aggregates), ``mean``, ``median`` (exact), ``std`` (ddof=1; NaN with fewer
    than two scores), ``min``, ``max`` and, when ``correct`` names a column of ``ds``, ``accuracy``: the mean
    of that column over the teacher's rows (nulls ignored). Undefined statistics are NaN.

    With ``bootstrap=N`` (e.g. 1000), prompts (``group``: default ``prompt_id`` when present, else ``prompt``)
    are resampled with replacement N times, each prompt's responses kept together (`hf_select.stats`), adding:
    ``score_low``/``score_high`` (the ``confidence`` percentile interval), ``rank_low``/``rank_high``,
    ``p_first`` (share of resamples where the teacher ranks first), and a paired comparison with the next
    teacher on the prompts both answered: ``vs_next`` (mean per-prompt difference of ``by``, > 0 when this
    teacher is better), ``vs_next_low``/``vs_next_high`` and ``vs_next_prompts``, and ``prompts`` (how many prompts
    were resampled: below about 20 the percentile intervals are rough). Deterministic for a ``seed``.

    With a list ``by``: one row per (column, teacher), with the column, the ``model`` that scored it (from the
    metadata) and the columns above.
    """
    if not isinstance(by, str):
        return _teacher_student_table(
            ds,
            list(by),
            teacher,
            correct,
            higher_is_better,
            bootstrap=bootstrap,
            seed=seed,
            group=group,
            confidence=confidence,
        )
    where = "rank_teachers"
    _require(ds, [by, teacher], where)
    if bootstrap:
        group = prompt_group(ds.column_names, group)
        _require(ds, [group], f"{where} (bootstrap resamples prompts; pass group= to name their column)")
    aggregate = _ratio_parts(ds, by)
    with_accuracy = correct is not None and correct in ds.column_names
    table = _table(
        ds, [teacher, by, *(aggregate or ()), *([correct] if with_accuracy else []), *([group] if bootstrap else [])]
    )
    names = pc.unique(table.column(teacher))
    teacher_ids = pc.index_in(table.column(teacher), value_set=names).to_numpy(zero_copy_only=False).astype(np.int64)
    values = _as_float(_numeric(table.column(by), by, where))
    up = _direction(ds, by, higher_is_better)
    prompt_ids, n_prompts = _dense_ids(table.column(group)) if bootstrap else (np.zeros(len(values), np.int64), 1)
    parts = [_as_float(_numeric(table.column(c), c, where)) for c in aggregate] if aggregate else None
    point = TeacherTable.build(
        prompt_ids,
        teacher_ids,
        np.where(np.isnan(values), np.nan, parts[0]) if parts else values,
        n_prompts,
        len(names),
        parts[1] if parts else None,
    )
    columns = {"teacher": names, **_teacher_statistics(teacher_ids, values, len(names))}
    if parts:  # a ratio aggregates its parts over the same rows as the score itself
        columns["score"] = point.scores(np.ones((1, n_prompts)))[0]
    if with_accuracy:
        flags = _as_float(pc.cast(_boolean(table.column(correct), correct, where), pa.float64()))
        columns["accuracy"] = _teacher_statistics(teacher_ids, flags, len(names))["mean"]
    order = _ranking_order(columns["score"], names.to_pylist(), up)
    if bootstrap:
        columns.update(
            uncertainty_columns(
                point,
                TeacherTable.build(prompt_ids, teacher_ids, values, n_prompts, len(names)),
                order,
                names.to_pylist(),
                n_resamples=bootstrap,
                seed=seed,
                higher_is_better=up,
                confidence=confidence,
            )
        )
        columns["prompts"] = np.full(len(names), n_prompts, dtype=np.int64)  # what the intervals rest on
    result = pa.table({k: v if isinstance(v, pa.Array) else pa.array(v) for k, v in columns.items()})
    result = result.take(pa.array(order.astype(np.int64)))
    return dataset_from_arrow(result.add_column(0, "rank", pa.array(np.arange(1, len(names) + 1, dtype=np.int64))))


def prompt_group(columns: Sequence[str], group: str | None) -> str:
    """The column a bootstrap resamples as prompts: ``group``, else ``prompt_id`` (wide data made long), else
    ``prompt``."""
    return group or ("prompt_id" if "prompt_id" in columns else "prompt")


def _teacher_student_table(
    ds: Dataset, columns: list[str], teacher: str, correct: str | None, higher_is_better: bool | None, **options: Any
) -> Dataset:
    """One ranking per column, stacked, with the column and the model that scored it (a teacher x student table)."""
    tables = []
    for column in columns:
        table = rank_teachers(ds, column, teacher, correct, higher_is_better, **options).data.table
        model = model_of(read_metadata(ds), column)
        tables.append(
            table.add_column(0, "model", pa.array([model] * table.num_rows, pa.string())).add_column(
                0, "column", pa.array([column] * table.num_rows, pa.string())
            )
        )
    return dataset_from_arrow(pa.concat_tables(tables, promote_options="default"))


def _ratio_parts(ds: Dataset, by: str) -> tuple[str, str] | None:
    """The (numerator, denominator) columns of a score whose teacher-level value is a ratio of means (RSR), which
    must both be there: a mean of per-response ratios is another statistic, never a silent substitute."""
    aggregate = aggregate_of(ds, by)
    missing = [c for c in aggregate or () if c not in ds.column_names]
    if missing:
        raise MissingColumnError(
            f"rank_teachers: a teacher's {by!r} is the mean of {aggregate[0]!r} over the mean "
            f"of {aggregate[1]!r} (a ratio of means), but the data has no {missing[0]!r}; keep "
            "that column (it is added with the score) to rank by it"
        )
    return aggregate


def _teacher_statistics(teacher_ids: np.ndarray, values: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """count, n_missing, score (= mean), mean, median (exact), std (ddof=1), min and max of each teacher's values;
    NaN values are missing and left out; undefined statistics are NaN."""
    valid = ~np.isnan(values)
    table = pa.table({"gid": pa.array(teacher_ids[valid]), "v": pa.array(values[valid])})
    stats = table.group_by("gid").aggregate(
        [
            ("v", "count"),
            ("v", "mean"),
            ("v", "stddev", pc.VarianceOptions(ddof=1)),
            ("v", "min"),
            ("v", "max"),
            ("v", "approximate_median"),
        ]
    )
    at = stats.column("gid").to_numpy()

    def scatter(column: str, fill: float = math.nan) -> np.ndarray:
        out = np.full(n, fill, dtype=np.float64)
        out[at] = _as_float(stats.column(column))
        return out

    count = scatter("v_count", 0).astype(np.int64)
    median = np.full(n, math.nan)  # exact: sort each teacher's values, read the middle one(s)
    order = np.lexsort((values[valid], teacher_ids[valid]))
    ordered, offsets, has = values[valid][order], np.r_[0, np.cumsum(count)[:-1]], count > 0
    median[has] = (ordered[(offsets + (count - 1) // 2)[has]] + ordered[(offsets + count // 2)[has]]) / 2
    return {
        "count": count,
        "n_missing": np.bincount(teacher_ids, minlength=n).astype(np.int64) - count,
        "score": scatter("v_mean"),
        "mean": scatter("v_mean"),
        "median": median,
        "std": scatter("v_stddev"),
        "min": scatter("v_min"),
        "max": scatter("v_max"),
    }


def _ranking_order(scores: np.ndarray, names: list, up: bool) -> np.ndarray:
    """Teacher indices best first: by score (its direction), teachers without a score last, ties by name."""

    def key(i: int) -> tuple:
        missing = math.isnan(scores[i])
        return missing, 0.0 if missing else (-scores[i] if up else scores[i]), names[i] is None, str(names[i])

    return np.array(sorted(range(len(names)), key=key), dtype=np.int64)


def _dense_ids(column: pa.ChunkedArray) -> tuple[np.ndarray, int]:
    """Dense integer ids of a column's values, in order of first appearance (null is a value of its own). Lists
    and structs (a chat prompt) are compared by value, through their canonical JSON."""
    if pa.types.is_nested(column.type):
        column = pa.chunked_array(
            [pa.array([None if v is None else json.dumps(v, sort_keys=True) for v in column.to_pylist()], pa.string())]
        )
    values = pc.unique(column)
    return pc.index_in(column, value_set=values).to_numpy(zero_copy_only=False).astype(np.int64), len(values)


# --------------------------------------------------------------------------------------------- filters


def _check_bound(value: float | None, name: str, where: str) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or math.isnan(value)
    ):
        raise ConfigError(f"{where}: {name} must be a number, got {value!r}")


@per_split
def filter_threshold(
    ds: Dataset, column: str, *, min: float | None = None, max: float | None = None, keep_nan: bool = False
) -> Dataset:
    """Keep rows with ``min <= value <= max`` (bounds inclusive; either may be omitted, not both).

    Why: drop responses whose score is implausible before selecting (e.g. RSR above a ceiling). NaN/null
    values are dropped unless ``keep_nan=True``, since a missing score says nothing about the bound.
    Result: ``ds.select`` of the kept rows in their original order (metadata preserved).
    """
    where = "filter_threshold"
    _require(ds, [column], where)
    if min is None and max is None:
        raise ConfigError(f"{where}: give at least one of min= or max=")
    _check_bound(min, "min", where)
    _check_bound(max, "max", where)
    if min is not None and max is not None and min > max:
        raise ConfigError(f"{where}: min ({min}) is greater than max ({max}); no row could pass")
    values = _numeric(_table(ds, [column]).column(column), column, where)
    present = _present(values)
    keep = present
    if min is not None:
        keep = pc.and_(keep, pc.greater_equal(values, pa.scalar(min)))
    if max is not None:
        keep = pc.and_(keep, pc.less_equal(values, pa.scalar(max)))
    keep = pc.fill_null(keep, False)
    if keep_nan:
        keep = pc.or_(keep, pc.invert(present))
    return _select_rows(ds, keep)


@per_split
def filter_quantile(
    ds: Dataset, column: str, *, lower: float | None = None, upper: float | None = None, keep_nan: bool = False
) -> Dataset:
    """Keep rows whose value lies between the ``lower`` and ``upper`` quantiles of the column (inclusive).

    Why: relative cut-offs ("the top half by naturalness") carry across datasets and models where absolute
    thresholds don't. Quantiles are of the raw values, computed over the non-NaN/non-null ones with linear
    interpolation (numpy's default), whatever the score's direction: ``lower=0.5`` keeps the upper half
    (values >= median); for a lower-is-better score keep the better half with ``upper=0.5``. NaN/null rows
    are dropped unless ``keep_nan=True``. Result: ``ds.select`` of the kept rows in their original order.
    """
    where = "filter_quantile"
    _require(ds, [column], where)
    if lower is None and upper is None:
        raise ConfigError(f"{where}: give at least one of lower= or upper=")
    for name, q in (("lower", lower), ("upper", upper)):
        _check_bound(q, name, where)
        if q is not None and not 0.0 <= q <= 1.0:
            raise ConfigError(f"{where}: {name} must be a quantile in [0, 1], got {q}")
    if lower is not None and upper is not None and lower > upper:
        raise ConfigError(f"{where}: lower ({lower}) is greater than upper ({upper})")
    values = _numeric(_table(ds, [column]).column(column), column, where)
    present = _present(values)
    known = pc.cast(pc.filter(values, present), pa.float64())
    if len(known) == 0:
        logger.warning("filter_quantile: column %r has no non-NaN value; no value passes", column)
        return _select_rows(ds, pc.invert(present)) if keep_nan else ds.select([])
    qs = [q for q in (lower, upper) if q is not None]
    cut = dict(zip(qs, pc.quantile(known, q=qs, interpolation="linear").to_pylist(), strict=True))
    keep = present
    if lower is not None:
        keep = pc.and_(keep, pc.greater_equal(pc.cast(values, pa.float64()), pa.scalar(cut[lower])))
    if upper is not None:
        keep = pc.and_(keep, pc.less_equal(pc.cast(values, pa.float64()), pa.scalar(cut[upper])))
    if keep_nan:
        keep = pc.or_(pc.fill_null(keep, False), pc.invert(present))
    return _select_rows(ds, keep)


@per_split
def filter_equals(ds: Dataset, column: str, value: Any, *, keep_nan: bool = False) -> Dataset:
    """Keep rows whose ``column`` equals ``value`` (e.g. ``is_correct == True``); null (and NaN) rows are kept
    only with ``keep_nan=True``.

    Why: recipes pre-filter on flags before selecting. Result: ``ds.select`` of the kept rows in order.
    """
    where = "filter_equals"
    _require(ds, [column], where)
    values = _table(ds, [column]).column(column)
    try:
        keep = pc.equal(values, pa.scalar(value, type=values.type))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as err:
        raise ColumnTypeError(f"{where}: cannot compare column {column!r} ({values.type}) with {value!r}") from err
    keep = pc.fill_null(keep, False)
    if keep_nan:
        keep = pc.or_(keep, pc.invert(_present(values)))
    return _select_rows(ds, keep)


@per_split
def select_by_divergence(
    ds: Dataset,
    *,
    top_k: int | None = None,
    quantile: float | None = None,
    min_teacher_fraction: float | None = None,
    column: str = "prov_divergence",
    fraction_column: str = TEACHER_FRACTION,
) -> Dataset:
    """Teacher-guided selection by provenance: keep the rows whose content the teacher finds likelier.

    Why: rows with high teacher-student divergence carry what the student has yet to learn (arXiv
    2512.20908). The criteria combine (all must hold), NaN/null never passes:

    * ``quantile``: ``column`` at or above this quantile of its non-NaN values in ``ds`` (linear
      interpolation; computed on the whole input, not after the other criteria);
    * ``min_teacher_fraction``: ``fraction_column`` >= this share;
    * ``top_k``: then at most ``top_k`` rows overall, highest ``column`` first (ties: first row wins).

    Result: ``ds.select`` of the kept rows in their original order (metadata preserved).
    """
    where = "select_by_divergence"
    if top_k is None and quantile is None and min_teacher_fraction is None:
        raise ConfigError(f"{where}: give at least one of top_k, quantile or min_teacher_fraction")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1):
        raise ConfigError(f"{where}: top_k must be a positive integer, got {top_k!r}")
    for name, share in (("quantile", quantile), ("min_teacher_fraction", min_teacher_fraction)):
        if share is not None and (
            isinstance(share, bool) or not isinstance(share, (int, float, np.number)) or not 0.0 <= share <= 1.0
        ):  # NaN fails the comparison too
            raise ConfigError(f"{where}: {name} must be a number in [0, 1], got {share!r}")
    _require(ds, [column, fraction_column if min_teacher_fraction is not None else None], where)
    table = _table(ds, [column] + ([fraction_column] if min_teacher_fraction is not None else []))
    values = _numeric(table.column(column), column, where)
    keep = _present(values)
    if quantile is not None:
        known = pc.filter(values, keep)
        if len(known):
            cut = pc.quantile(pc.cast(known, pa.float64()), q=[quantile], interpolation="linear")[0]
            keep = pc.and_(keep, pc.greater_equal(pc.cast(values, pa.float64()), cut))
    if min_teacher_fraction is not None:
        share = _numeric(table.column(fraction_column), fraction_column, where)
        keep = pc.and_(keep, pc.fill_null(pc.greater_equal(share, pa.scalar(float(min_teacher_fraction))), False))
    keep = pc.fill_null(keep, False)
    if top_k is None:
        return _select_rows(ds, keep)
    kept = pa.table({"score": values, "row": pa.array(np.arange(table.num_rows, dtype=np.int64))}).filter(keep)
    best = pc.sort_indices(kept, sort_keys=[("score", "descending"), ("row", "ascending")])[:top_k]
    return ds.select(np.sort(kept.column("row").take(best).to_numpy()).astype(np.int64))


# ----------------------------------------------------------------------------------------------- summary


def selection_summary(
    before: Dataset, after: Dataset, teacher: str = "teacher", correct: str | None = "is_correct"
) -> dict[str, Any]:
    """What a selection did, for recipes' logs and dataset cards.

    ``{"rows_before", "rows_after", "teacher_mix": {teacher: rows in after} (most rows first, then by name;
    empty when ``after`` has no such column), "accuracy_after": mean of ``correct`` over ``after`` (nulls
    ignored; NaN when nothing is left; None when the column is absent)}``.
    """
    mix: dict[Any, int] = {}
    if teacher in after.column_names and len(after):
        counts = pc.value_counts(_table(after, [teacher]).column(teacher)).to_pylist()
        counts.sort(key=lambda c: (-c["counts"], c["values"] is None, str(c["values"])))
        mix = {c["values"]: int(c["counts"]) for c in counts}
    accuracy: float | None = None
    if correct is not None and correct in after.column_names:
        flags = _boolean(_table(after, [correct]).column(correct), correct, "selection_summary")
        mean = pc.mean(pc.cast(flags, pa.float64())).as_py()
        accuracy = math.nan if mean is None else float(mean)
    return {"rows_before": len(before), "rows_after": len(after), "teacher_mix": mix, "accuracy_after": accuracy}
