"""Which score to trust on this data: `compare_scores` validates several student-fit scores against each other,
against response length, and against ground truth where there is some.

Proxies of how well a student fits a teacher's data (global and local naturalness, RSR, IFD, ASLEC) disagree, and
published comparisons do not say which one tracks quality for *your* student on *your* prompts. With a labelled
slice, this report does, the way a reviewer reads a table: each number with a prompt-bootstrap interval, scores
compared with each other on the same resamples (paired), and a verdict in plain words that says when the slice
cannot tell them apart.

What it reads (all prompts resampled together, `hf_select.stats`: a prompt's responses stay together):

* *picks*: the share of prompts whose response picked by the score is correct (``labelled`` prompts: a pick
  without a label is counted as missing, never as right or wrong), beside a response drawn at random and the
  *best single teacher chosen on held-out prompts* (`hf_select.stats.held_out_best`: choosing the best of several
  teachers on the prompts its accuracy is reported on is optimistic; the in-sample best is kept, labelled as an
  oracle);
* *rankings*: how each score's teacher ranking follows the truth (the teachers' answer accuracy, or
  ``ground_truth``: e.g. the accuracy of a student fine-tuned on each teacher's data) as Kendall's tau-b, pairwise
  accuracy, P(top) and Spearman's rho (`hf_select.rank_agreement`), as the public teacher-ranking harness does;
* *paired differences*: score minus score (pick accuracy, ranking tau-b) on the same resamples;
* *length*: the within-prompt rank correlation of each score with the response's length in tokens and in steps
  (each prompt's ranks centred, then pooled; > 0: prefers longer), with the number of prompts it rests on;
* *agreement*: tau-b between two scores' teacher rankings, and the share of prompts where both pick alike.

Prompts are *matched* by default: only prompts every teacher answered are compared (a teacher that answered only
the easy half would otherwise look best). Picks follow `select_best`: NaN scores never win, ties go to the earlier
row, incomplete responses are left out, and a score with a recorded bound (IFD <= 1) picks within it.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset

from hf_select._compat import dataset_from_arrow
from hf_select._compat import logical_table as _table
from hf_select.columns import COMPLETE
from hf_select.errors import ConfigError, WrongTypeError
from hf_select.metadata import correctness_column, selection_bound
from hf_select.rank_agreement import kendall_tau_b, pairwise_accuracy, spearman, top_is_best
from hf_select.select import _as_float, _boolean, _direction, _numeric, _ratio_parts, _require, prompt_group
from hf_select.stats import TeacherTable, crossfit_folds, held_out_best, resampled
from hf_select.verdict import verdict

RECHOSEN = "best teacher"  # the held-out best teacher's samples (and "best teacher vs <score>": a pick minus it)
TOKEN_COLUMNS = ("global_num_tokens", "aslec_num_tokens")  # response length in tokens, as the scores count it
STEP_COLUMNS = ("local_num_steps", "aslec_num_steps")  # response length in reasoning steps
WHERE = "compare_scores"


@dataclass
class Comparison:
    """The report: tables as `Dataset` (one row per score, one per pair of scores), the verdict in words, and what
    they rest on."""

    scores: Dataset  # one row per score
    agreement: Dataset  # one row per pair of scores: agreement and paired differences
    teachers: list[str]
    teacher_ranks: dict[str, list[int | None]]  # score -> rank of each of `teachers` (1 = best)
    prompts: int  # prompts compared
    responses: int
    resamples: int
    confidence: float
    truth: str | None = None  # what the rankings are validated against (None: nothing)
    prompts_left_out: int = 0  # prompts not every teacher answered (left out when prompts="matched")
    baselines: dict[str, Any] = field(default_factory=dict)  # best single teacher, a random pick
    length_columns: dict[str, str | None] = field(default_factory=dict)
    verdict: list[str] = field(default_factory=list)  # what the tables say, in plain words
    notes: list[str] = field(default_factory=list)  # what could not be computed, and why

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, for the card and the run log."""
        return {
            "scores": self.scores.to_list(),
            "agreement": self.agreement.to_list(),
            "teachers": self.teachers,
            "teacher_ranks": self.teacher_ranks,
            "prompts": self.prompts,
            "responses": self.responses,
            "resamples": self.resamples,
            "confidence": self.confidence,
            "truth": self.truth,
            "prompts_left_out": self.prompts_left_out,
            "baselines": self.baselines,
            "length_columns": self.length_columns,
            "verdict": self.verdict,
            "notes": self.notes,
        }

    def format(self) -> str:
        """The report as plain text (what a run prints): the verdict first, then the tables."""
        from hf_select.report import format_comparison

        return format_comparison(self.to_dict())

    def plot(self) -> bytes:
        """PNG: each score's teacher ranks as a heatmap, and the accuracy of its picks with intervals."""
        from hf_select.cards import comparison_plot

        return comparison_plot(self.to_dict())

    def save_plot(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_bytes(self.plot())
        return path


@dataclass
class _Rows:
    """The columns the report reads, as arrays over the responses it compares."""

    prompt: np.ndarray  # dense prompt ids, in the order of the prompts' values (not of the rows)
    teacher: np.ndarray  # dense teacher ids, in the order of `names`
    names: list[str]
    n_prompts: int
    table: pa.Table
    left_out: int = 0  # prompts left out because not every teacher answered them


def compare_scores(
    ds: Dataset,
    by: list[str],
    teacher: str = "teacher",
    group: str | None = None,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    correct: str | None = None,
    ground_truth: dict[str, float] | str | None = None,
    prompts: Literal["matched", "all"] = "matched",
    bounded: bool = True,
    families: dict[str, str] | None = None,
    student_family: str | None = None,
    higher_is_better: dict[str, bool] | None = None,
    tokens: str | None = None,
    steps: str | None = None,
    incomplete: Literal["exclude", "keep"] = "exclude",
    confidence: float = 0.95,
) -> Comparison:
    """Compare the scores ``by`` on ``ds`` (see the module docstring for each statistic).

    Args:
        by: score columns, each with its recorded direction (or one in ``higher_is_better``).
        teacher: the column naming each response's teacher.
        group: the prompt column (default ``prompt_id``, else ``prompt``): picks are per prompt, and the
            bootstrap resamples prompts.
        bootstrap: resamples for the ``confidence`` intervals (at least 100).
        correct: the correctness column (default: the one answer checks wrote, else ``is_correct``); without
            one, the pick columns are empty and a note says why.
        ground_truth: what the teacher rankings are validated against instead of the teachers' answer accuracy:
            ``{teacher: value}`` (higher is better; e.g. the benchmark accuracy of a student fine-tuned on each
            teacher's data), or the name of a column holding that value on each row of the teacher.
        prompts: "matched" (default): only prompts every teacher answered; "all": every prompt, with a warning
            when teachers answered different prompts (their means are then over different questions).
        bounded: picks stay within a score's recorded bound (IFD <= 1, as Cherry selects); False: any row.
        families: ``{teacher: family}`` with ``student_family``: flags each score whose top teacher shares the
            student's family (proxies can favour the student's own family).
        tokens, steps: response length columns (default: the first of `TOKEN_COLUMNS` / `STEP_COLUMNS` present).
        incomplete: "exclude" (default) leaves out responses whose ``complete`` is false, as selection does.
    """
    if not isinstance(ds, Dataset):
        raise WrongTypeError(
            f"{WHERE} compares the scores of one split (a Dataset), not a {type(ds).__name__}: "
            "pass ds['train'], or materialise a stream first"
        )
    by = _check(ds, by, families, student_family, bootstrap, prompts, confidence)
    group = prompt_group(ds.column_names, group)
    correct = correct if correct is not None else correctness_column(ds)
    lengths = {
        "tokens": tokens or next((c for c in TOKEN_COLUMNS if c in ds.column_names), None),
        "steps": steps or next((c for c in STEP_COLUMNS if c in ds.column_names), None),
    }
    truth_column = ground_truth if isinstance(ground_truth, str) else None
    _require(
        ds,
        [teacher, group, correct, truth_column, *lengths.values(), *(p for c in by for p in _ratio_parts(ds, c) or ())],
        WHERE,
    )
    notes: list[str] = []
    rows = _read(ds, by, teacher, group, [correct, truth_column, *lengths.values()], incomplete, prompts, notes)
    problem = teacher_mapping_problem("`families`", families, rows.names, "family") if families is not None else None
    if problem:
        raise ConfigError(f"{WHERE}: {problem}")
    truth_values = _ground_truth(rows, ground_truth) if ground_truth is not None else None
    ups = {c: _direction(ds, c, (higher_is_better or {}).get(c)) for c in by}
    bounds = {c: selection_bound(ds, c) if bounded else None for c in by}
    flags = _correct_flags(rows, correct, notes)
    inputs = _inputs(ds, rows, by, ups, bounds, lengths, flags, truth_values, seed)
    samples = resampled(inputs.statistics, rows.n_prompts, bootstrap, seed)
    tail = (1 - confidence) / 2 * 100
    per_score = [_score_row(c, ups[c], samples, inputs, rows, lengths, tail, families, student_family) for c in by]
    pairs = [_pair_row(a, b, samples, inputs, tail) for a, b in combinations(by, 2)]
    for family, keys in (
        ("picked_difference", [f"picked {a} - {b}" for a, b in combinations(by, 2)]),
        ("tau_difference", [f"tau {a} - {b}" for a, b in combinations(by, 2)]),
    ):
        for row, side in zip(pairs, _told_apart(samples, keys, tail), strict=True):
            row[f"{family}_told_apart"] = side
    for row in pairs:
        differences = inputs.picked[row["score_a"]] - inputs.picked[row["score_b"]]
        row["prompts_to_tell_apart"] = (
            None
            if row["picked_difference_told_apart"]
            else _prompts_needed(differences[~np.isnan(differences)], confidence, len(pairs))
        )
    for family, key in (
        ("vs_random", "vs random"),
        ("vs_best_teacher", f"{RECHOSEN} vs"),
        ("length_tokens_rho", "length tokens"),
    ):
        for row, side in zip(per_score, _told_apart(samples, [f"{key} {c}" for c in by], tail), strict=True):
            row[f"{family}_told_apart"] = side
    for row in per_score:
        missing = rows.n_prompts - row["labelled"]
        if flags is not None and missing:
            notes.append(
                f"`{row['score']}` has no labelled pick on {missing} of {rows.n_prompts} prompts (its pick "
                "has no label, or it scored no response there): its pick accuracy is over the other "
                f"{row['labelled']}"
            )
        if bounds[row["score"]] is not None:
            notes.append(
                f"`{row['score']}` picks only among responses with `{row['score']}` <= "
                f"{bounds[row['score']]:g} (the score's recorded bound; bounded=False to take any)"
            )
    for kind, column in lengths.items():
        if column is None:
            notes.append(
                f"no response length in {kind} (none of {TOKEN_COLUMNS if kind == 'tokens' else STEP_COLUMNS} "
                f"is in the data; pass {kind}= to name one)"
            )
    truth = (
        None
        if inputs.truth is None
        else (
            f"ground truth `{truth_column}`"
            if truth_column
            else "the given ground truth"
            if truth_values is not None
            else f"teacher accuracy (`{correct}`)"
        )
    )
    report = Comparison(
        scores=dataset_from_arrow(pa.Table.from_pylist(per_score)),
        agreement=dataset_from_arrow(pa.Table.from_pylist(pairs, schema=_PAIR_SCHEMA)),
        teachers=rows.names,
        teacher_ranks={c: _ranks(samples[f"teachers {c}"][0]) for c in by},
        prompts=rows.n_prompts,
        responses=rows.table.num_rows,
        resamples=bootstrap,
        confidence=confidence,
        truth=truth,
        prompts_left_out=rows.left_out,
        baselines=_baselines(rows, samples, tail),
        length_columns=lengths,
        notes=notes,
    )
    report.verdict = verdict(report.to_dict())
    return report


def _interval_fields(*names: str) -> list[tuple[str, pa.DataType]]:
    return [(f"{n}{end}", pa.float64()) for n in names for end in ("", "_low", "_high")]


_PAIR_SCHEMA = pa.schema(
    [
        ("score_a", pa.string()),
        ("score_b", pa.string()),
        *_interval_fields("kendall_tau", "same_pick", "picked_difference"),
        ("picked_difference_prompts", pa.int64()),
        ("prompts_to_tell_apart", pa.int64()),
        *_interval_fields("tau_difference"),
        ("picked_difference_told_apart", pa.int64()),
        ("tau_difference_told_apart", pa.int64()),
    ]
)


def option_problem(
    by: list[str],
    bootstrap: int,
    families: dict[str, str] | None,
    student_family: str | None,
    prompts: str = "matched",
    confidence: float = 0.95,
) -> tuple[str, str] | None:
    """(the option, what is wrong with it) for options that cannot work whatever the data, else None: the one
    place both `compare_scores` and a recipe's ``compare:`` check them."""
    if not by or len(set(by)) != len(by):
        return "by", f"needs one or more distinct score columns, got {by!r}"
    if bootstrap < 100:
        return "bootstrap", f"must be at least 100 resamples (1000 is plenty), got {bootstrap}"
    if (families is None) != (student_family is None):
        return (
            "families" if families is None else "student_family",
            "`families` ({teacher: family}) and `student_family` go together",
        )
    if prompts not in ("matched", "all"):
        return "prompts", f"must be 'matched' (prompts every teacher answered) or 'all', got {prompts!r}"
    if not 0.5 <= confidence < 1:
        return "confidence", f"must be at least 0.5 and below 1, got {confidence!r}"
    return None


def _check(
    ds: Dataset,
    by: list[str] | str,
    families: dict[str, str] | None,
    student_family: str | None,
    bootstrap: int,
    prompts: str,
    confidence: float,
) -> list[str]:
    by = [by] if isinstance(by, str) else list(by)
    problem = option_problem(by, bootstrap, families, student_family, prompts, confidence)
    if problem:
        raise ConfigError(f"{WHERE}: {problem[0]} {problem[1]}")
    _require(ds, by, WHERE)
    return by


def _sorted_ids(column: pa.ChunkedArray) -> tuple[np.ndarray, list[Any]]:
    """Dense ids of a column's values in the order of the values themselves (nested ones by their canonical JSON;
    null last), and those values: the bootstrap then draws the same prompts for a seed whatever the row order."""
    if pa.types.is_nested(column.type):
        column = pa.chunked_array(
            [pa.array([None if v is None else json.dumps(v, sort_keys=True) for v in column.to_pylist()], pa.string())]
        )
    values = pc.unique(column)
    values = values.take(pc.array_sort_indices(values, null_placement="at_end"))
    return pc.index_in(column, value_set=values).to_numpy(zero_copy_only=False).astype(np.int64), values.to_pylist()


def _read(
    ds: Dataset,
    by: list[str],
    teacher: str,
    group: str,
    extra: list[str | None],
    incomplete: str,
    prompts: str,
    notes: list[str],
) -> _Rows:
    """The columns the report reads, over the responses it compares (incomplete ones left out, as selection
    does; with ``prompts="matched"``, only prompts every teacher answered), with dense prompt and teacher ids."""
    parts = [p for c in by for p in _ratio_parts(ds, c) or ()]
    complete = COMPLETE if incomplete == "exclude" and COMPLETE in ds.column_names else None
    names = list(dict.fromkeys([teacher, group, *by, *parts, *filter(None, [*extra, complete])]))
    table = _table(ds, names)
    for column in [*by, *parts]:
        _numeric(table.column(column), column, WHERE)
    if table.num_rows == 0:
        raise ConfigError(f"{WHERE}: the data is empty: no responses to compare")
    prompt, prompt_keys = _sorted_ids(table.column(group))
    teacher_ids, teachers = _sorted_ids(table.column(teacher))
    answered = np.zeros((len(prompt_keys), len(teachers)), dtype=bool)
    answered[prompt, teacher_ids] = True  # a teacher answered a prompt when it has a response there, complete or not
    every = answered.all(axis=1)
    left_out = int((~every).sum())
    keep = np.ones(table.num_rows, dtype=bool)
    if left_out and prompts == "matched":
        if not every.any():
            raise ConfigError(
                f"{WHERE}: no prompt was answered by every teacher ({teachers}), so no two teachers can "
                "be compared on the same prompts; compare fewer teachers, or pass prompts='all' "
                "(`compare.prompts: all`) to compare them on different prompts"
            )
        notes.append(
            f"{left_out} of {len(prompt_keys)} prompts were left out because not every teacher answered "
            "them (prompts='all' keeps them)"
        )
        keep &= every[prompt]
    elif left_out:
        message = (
            f"{left_out} of {len(prompt_keys)} prompts were not answered by every teacher: teacher means are "
            "over different prompts, so an easier share of prompts can make a teacher look better"
        )
        warnings.warn(f"{WHERE}: {message}", stacklevel=3)
        notes.append(message)
    if complete:
        keep &= np.asarray(pc.fill_null(_boolean(table.column(complete), complete, WHERE), True), dtype=bool)
    if not keep.any():
        raise ConfigError(f"{WHERE}: no responses to compare (every response is incomplete)")
    table, teacher_ids = table.filter(pa.array(keep)), teacher_ids[keep]
    prompt, prompt_keys = _sorted_ids(table.column(group))
    return _Rows(prompt, teacher_ids, teachers, len(prompt_keys), table, left_out if prompts == "matched" else 0)


def teacher_mapping_problem(key: str, mapping: dict, teachers: list, what: str) -> str | None:
    """What is wrong with a ``{teacher: ...}`` option (``families``, ``ground_truth``) given the data's teachers, else
    None: a name the data does not have (a typo would pass unseen) or a teacher without an entry. The one check
    `compare_scores` and a recipe's ``compare:`` (before scoring) make."""
    names = sorted(map(str, teachers))
    stray = [t for t in mapping if t not in teachers]
    if stray:
        return f"{key} names teacher {stray[0]!r}, which the data does not have (teachers: {names})"
    missing = [t for t in teachers if t not in mapping]
    return f"{key} has no {what} for teacher {missing[0]!r} (teachers: {names})" if missing else None


def _ground_truth(rows: _Rows, ground_truth: dict[str, float] | str) -> np.ndarray:
    """The truth's value of each teacher (in the order of ``rows.names``), checked: every teacher has one number,
    and a mapping names no teacher the data does not have (a typo would otherwise pass unseen)."""
    if isinstance(ground_truth, str):
        values = _as_float(rows.table.column(ground_truth))
        mapping = {}
        for t, name in enumerate(rows.names):
            seen = np.unique(values[(rows.teacher == t) & ~np.isnan(values)])
            if len(seen) > 1:
                raise ConfigError(
                    f"{WHERE}: ground_truth column {ground_truth!r} holds {len(seen)} different values "
                    f"for teacher {name!r}: it must hold the teacher's one value on each of its rows"
                )
            if len(seen):
                mapping[name] = float(seen[0])
        key = f"ground_truth column {ground_truth!r}"
    elif isinstance(ground_truth, dict):
        mapping, key = ground_truth, "ground_truth"
    else:
        raise ConfigError(
            f"{WHERE}: ground_truth must be {{teacher: value}} or a column name, got {type(ground_truth).__name__}"
        )
    problem = teacher_mapping_problem(key, mapping, rows.names, "value")
    if problem:
        raise ConfigError(f"{WHERE}: {problem}")
    out = np.array([mapping[t] for t in rows.names], dtype=object)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in out):
        raise ConfigError(f"{WHERE}: every ground_truth value must be a finite number, got {mapping}")
    return out.astype(np.float64)


@dataclass
class _Inputs:
    """What each statistic needs, per prompt or per teacher, computed once; `statistics` turns it into every
    statistic under a matrix of prompt weights (the whole data, or a block of resamples)."""

    tables: dict[str, TeacherTable]  # each score's teacher table (oriented: higher is better)
    signs: dict[str, int]
    picked: dict[str, np.ndarray]  # per prompt: whether the score's pick is correct (NaN: no pick, or no label)
    same: dict[tuple[str, str], np.ndarray]  # per prompt: whether two scores pick the same response
    lengths: dict[tuple[str, str], np.ndarray]  # (score, kind) -> per prompt: centred-rank sums xy, xx, yy
    accuracy: TeacherTable | None  # the teachers' correctness
    truth: TeacherTable | np.ndarray | None  # what rankings are validated against: accuracy, or fixed values
    random_pick: np.ndarray | None  # per prompt: the share of correct responses
    folds: np.ndarray  # the held-out splits of the best-teacher baseline

    def statistics(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        teachers = {c: table.scores(weights) * self.signs[c] for c, table in self.tables.items()}
        out = {f"teachers {c}": scores for c, scores in teachers.items()}
        truth = (
            self.truth.scores(weights)
            if isinstance(self.truth, TeacherTable)
            else (None if self.truth is None else np.broadcast_to(self.truth, (len(weights), len(self.truth))))
        )
        if self.accuracy is not None:
            out["teacher accuracy"] = self.accuracy.scores(weights)
            out["random pick"] = _mean_over_prompts(self.random_pick, weights)
            out[RECHOSEN] = held_out_best(self.accuracy, self.folds, weights)
        for c, scores in teachers.items():
            if self.accuracy is not None:
                out[f"picked {c}"] = _mean_over_prompts(self.picked[c], weights)
                out[f"vs random {c}"] = _mean_over_prompts(self.picked[c] - self.random_pick, weights)
                out[f"{RECHOSEN} vs {c}"] = out[f"picked {c}"] - out[RECHOSEN]
            if truth is not None:
                out[f"tau {c}"] = kendall_tau_b(scores, truth)
                out[f"pairwise {c}"] = pairwise_accuracy(scores, truth)
                out[f"top {c}"] = top_is_best(scores, truth)
                out[f"rho {c}"] = spearman(scores, truth)
        for (c, kind), sums in self.lengths.items():
            with np.errstate(invalid="ignore", divide="ignore"):
                xy, xx, yy = (weights @ sums).T
                out[f"length {kind} {c}"] = xy / np.sqrt(xx * yy)
        for (a, b), same in self.same.items():
            out[f"agree {a} {b}"] = kendall_tau_b(teachers[a], teachers[b])
            out[f"same {a} {b}"] = _mean_over_prompts(same, weights)
            if self.accuracy is not None:
                out[f"picked {a} - {b}"] = _mean_over_prompts(self.picked[a] - self.picked[b], weights)
            if truth is not None:
                out[f"tau {a} - {b}"] = out[f"tau {a}"] - out[f"tau {b}"]
        return out


def _inputs(
    ds: Dataset,
    rows: _Rows,
    by: list[str],
    ups: dict[str, bool],
    bounds: dict[str, float | None],
    lengths: dict[str, str | None],
    flags: np.ndarray | None,
    truth: np.ndarray | None,
    seed: int,
) -> _Inputs:
    signs = {c: 1 if ups[c] else -1 for c in by}
    raw = {c: _as_float(rows.table.column(c)) for c in by}
    oriented = {c: raw[c] * signs[c] for c in by}
    candidates = {
        c: oriented[c] if bounds[c] is None else np.where(raw[c] <= bounds[c], oriented[c], np.nan) for c in by
    }
    picks = {c: _picks(rows, candidates[c]) for c in by}
    picked = {}
    for c, rows_picked in picks.items():
        picked[c] = np.full(rows.n_prompts, np.nan)
        if flags is not None:
            picked[c][rows_picked >= 0] = flags[rows_picked[rows_picked >= 0]]
    same = {
        (a, b): np.where((picks[a] >= 0) & (picks[b] >= 0), (picks[a] == picks[b]).astype(np.float64), np.nan)
        for a, b in combinations(by, 2)
    }
    length_sums = {
        (c, kind): _centred_rank_sums(rows, oriented[c], _as_float(rows.table.column(column)))
        for c in by
        for kind, column in lengths.items()
        if column
    }
    accuracy = random_pick = None
    if flags is not None:
        accuracy = TeacherTable.build(rows.prompt, rows.teacher, flags, rows.n_prompts, len(rows.names))
        per_prompt = TeacherTable.build(rows.prompt, np.zeros_like(rows.teacher), flags, rows.n_prompts, 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            random_pick = (per_prompt.sums / per_prompt.counts)[:, 0]
    tables = {c: _teacher_table(ds, rows, c) for c in by}
    return _Inputs(
        tables,
        signs,
        picked,
        same,
        length_sums,
        accuracy,
        truth if truth is not None else accuracy,
        random_pick,
        crossfit_folds(rows.n_prompts, seed),
    )


def _teacher_table(ds: Dataset, rows: _Rows, column: str) -> TeacherTable:
    """The per-prompt sums of each teacher's ``column`` (as `rank_teachers` aggregates it: a mean, or a ratio of
    means)."""
    values = _as_float(rows.table.column(column))
    parts = _ratio_parts(ds, column)
    if parts:
        numerator, denominator = (_as_float(rows.table.column(p)) for p in parts)
        return TeacherTable.build(
            rows.prompt,
            rows.teacher,
            np.where(np.isnan(values), np.nan, numerator),
            rows.n_prompts,
            len(rows.names),
            denominator,
        )
    return TeacherTable.build(rows.prompt, rows.teacher, values, rows.n_prompts, len(rows.names))


def _picks(rows: _Rows, oriented: np.ndarray) -> np.ndarray:
    """The row each prompt picks (highest oriented score, ties to the earlier row; -1: no row has a score)."""
    valid = np.flatnonzero(~np.isnan(oriented))
    order = valid[np.lexsort((valid, -oriented[valid], rows.prompt[valid]))]
    first = order[np.r_[True, rows.prompt[order][1:] != rows.prompt[order][:-1]]] if len(order) else order
    picks = np.full(rows.n_prompts, -1, dtype=np.int64)
    picks[rows.prompt[first]] = first
    return picks


def _correct_flags(rows: _Rows, correct: str | None, notes: list[str]) -> np.ndarray | None:
    if correct is None:
        notes.append(
            "no correctness labels (run answer checks, or name a boolean column with correct=): the "
            "pick columns are empty"
        )
        return None
    flags = _as_float(pc.cast(_boolean(rows.table.column(correct), correct, WHERE), pa.float64()))
    if np.isnan(flags).all():
        notes.append(f"every `{correct}` label is null: the pick columns are empty")
        return None
    unlabelled = int(np.isnan(flags).sum())
    if unlabelled:
        notes.append(f"{unlabelled} of {len(flags)} responses have no `{correct}` label")
    return flags


def _mean_over_prompts(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The mean of per-prompt ``values`` (NaN: no value) under each row of ``weights``."""
    has = ~np.isnan(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights @ np.where(has, values, 0.0)) / (weights @ has)


def _interval(samples: np.ndarray, tail: float) -> tuple[float, float, float]:
    """(the whole-data value, the low and high percentiles of the resamples)."""
    rest = samples[1:][~np.isnan(samples[1:])]
    if math.isnan(samples[0]) or not len(rest):
        return float(samples[0]), math.nan, math.nan
    low, high = np.percentile(rest, [tail, 100 - tail])
    return float(samples[0]), float(low), float(high)


def _normal_interval(samples: np.ndarray, tail: float, bounds: tuple[float, float]) -> tuple[float, float, float]:
    """(the whole-data value, value -/+ z x the resamples' standard deviation, within ``bounds``): for a statistic
    that re-chooses inside every resample (the held-out best teacher), whose resamples are not centred on the
    whole-data value as percentiles need. In 200 simulated runs (tests/test_compare.py), percentiles covered the
    truth in 99.0% (four tied teachers) and 100% (four close ones) of runs; this, in 97.0% and 97.5% (one teacher
    clearly best: 96.0% either way)."""
    rest = samples[1:][~np.isnan(samples[1:])]
    if math.isnan(samples[0]) or len(rest) < 2:
        return float(samples[0]), math.nan, math.nan
    half = NormalDist().inv_cdf(1 - tail / 100) * float(np.std(rest, ddof=1))
    return float(samples[0]), max(bounds[0], samples[0] - half), min(bounds[1], samples[0] + half)


def _interval_of(samples: dict[str, np.ndarray], key: str, tail: float) -> tuple[float, float, float]:
    """A statistic's value and interval: normal for the held-out best teacher and the picks' differences from it
    (`_normal_interval`), percentiles for every other."""
    if key not in samples:
        return (math.nan,) * 3
    if key.startswith(RECHOSEN):
        return _normal_interval(samples[key], tail, (0.0, 1.0) if key == RECHOSEN else (-1.0, 1.0))
    return _interval(samples[key], tail)


def _with_interval(out: dict[str, Any], name: str, samples: dict[str, np.ndarray], key: str, tail: float) -> None:
    out.update(zip((name, f"{name}_low", f"{name}_high"), _interval_of(samples, key, tail), strict=True))


def _score_row(
    column: str,
    up: bool,
    samples: dict[str, np.ndarray],
    inputs: _Inputs,
    rows: _Rows,
    lengths: dict[str, str | None],
    tail: float,
    families: dict[str, str] | None,
    student_family: str | None,
) -> dict[str, Any]:
    teacher_scores = samples[f"teachers {column}"][0]
    top = None if np.isnan(teacher_scores).all() else rows.names[int(np.nanargmax(teacher_scores))]
    out: dict[str, Any] = {
        "score": column,
        "higher_is_better": up,
        "top_teacher": top,
        "top_teacher_is_student_family": None
        if families is None or top is None
        else families.get(top) == student_family,
        "labelled": int((~np.isnan(inputs.picked[column])).sum()),
    }
    for name, key in (
        ("picked_accuracy", "picked"),
        ("vs_random", "vs random"),
        ("vs_best_teacher", f"{RECHOSEN} vs"),
        ("ranking_tau", "tau"),
        ("ranking_pairwise", "pairwise"),
        ("ranking_rho", "rho"),
    ):
        _with_interval(out, name, samples, f"{key} {column}", tail)
    tops = samples.get(f"top {column}")
    out["ranking_p_top"] = float(np.nanmean(tops[1:])) if tops is not None and (~np.isnan(tops[1:])).any() else math.nan
    for kind in lengths:
        _with_interval(out, f"length_{kind}_rho", samples, f"length {kind} {column}", tail)
        sums = inputs.lengths.get((column, kind))
        out[f"length_{kind}_prompts"] = int(((sums[:, 1] > 0) & (sums[:, 2] > 0)).sum()) if sums is not None else 0
    return out


def _pair_row(a: str, b: str, samples: dict[str, np.ndarray], inputs: _Inputs, tail: float) -> dict[str, Any]:
    out: dict[str, Any] = {"score_a": a, "score_b": b}
    for name, key in (
        ("kendall_tau", f"agree {a} {b}"),
        ("same_pick", f"same {a} {b}"),
        ("picked_difference", f"picked {a} - {b}"),
        ("tau_difference", f"tau {a} - {b}"),
    ):
        _with_interval(out, name, samples, key, tail)
    out["picked_difference_prompts"] = int((~np.isnan(inputs.picked[a] - inputs.picked[b])).sum())
    return out


def _told_apart(samples: dict[str, np.ndarray], keys: list[str], tail: float) -> list[int]:
    """For a family of comparisons, whether each is told apart from 0 (+1 above, -1 below, 0 not) by an interval
    Bonferroni-adjusted for the family's size: fifteen pairs at 95% each would show one difference by chance
    in most slices; the verdict states only what holds for the family as a whole."""
    adjusted = tail / max(1, len(keys))
    sides = []
    for key in keys:
        _, low, high = _interval_of(samples, key, adjusted)
        sides.append(0 if math.isnan(low) else 1 if low > 0 else -1 if high < 0 else 0)
    return sides


def _prompts_needed(differences: np.ndarray, confidence: float, comparisons: int) -> int | None:
    """Roughly how many labelled prompts an interval needs to exclude 0 for the observed mean of per-prompt
    ``differences``, adjusted as the verdict adjusts it for ``comparisons`` pairs (normal approximation:
    n = (z * sd / mean)^2); None when there is no difference to tell apart."""
    if len(differences) < 2:
        return None
    mean, sd = float(differences.mean()), float(differences.std(ddof=1))
    if mean == 0 or sd == 0:
        return None
    z = NormalDist().inv_cdf(1 - (1 - confidence) / (2 * comparisons))
    return math.ceil((z * sd / abs(mean)) ** 2)


def _ranks(scores: np.ndarray) -> list[int | None]:
    """Rank of each teacher (1 = best oriented score; ties by name, as teachers are sorted; None: no value)."""
    order = np.lexsort((np.arange(len(scores)), np.where(np.isnan(scores), np.inf, -scores)))
    ranks = np.empty(len(scores), dtype=np.int64)
    ranks[order] = np.arange(1, len(scores) + 1)
    return [None if np.isnan(s) else int(r) for s, r in zip(scores, ranks, strict=True)]


def _centred_rank_sums(rows: _Rows, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per prompt, the sums of products of ``x``'s and ``y``'s within-prompt ranks, each centred on the prompt's
    mean rank ([prompts, 3]: xy, xx, yy; rows where either is unknown left out): their weighted sums give the
    pooled within-prompt rank correlation under any resample of the prompts. A prompt whose responses all have
    the same length (or score) has xx or yy = 0: it says nothing of the correlation."""
    import pandas as pd

    keep = ~np.isnan(x) & ~np.isnan(y)
    frame = pd.DataFrame({"p": rows.prompt[keep], "x": x[keep], "y": y[keep]})
    ranked = frame.groupby("p")[["x", "y"]].rank(method="average")
    centred = ranked - ranked.groupby(frame["p"]).transform("mean")
    sums = (
        pd.DataFrame(
            {"xy": centred["x"] * centred["y"], "xx": centred["x"] ** 2, "yy": centred["y"] ** 2, "p": frame["p"]}
        )
        .groupby("p")
        .sum()
        .reindex(range(rows.n_prompts), fill_value=0.0)
    )
    return sums[["xy", "xx", "yy"]].to_numpy()


def _baselines(rows: _Rows, samples: dict[str, np.ndarray], tail: float) -> dict[str, Any]:
    """What a score's picks should beat: the best single teacher chosen on held-out prompts (and, labelled as an
    oracle, the teacher that is best on these very prompts), and a response drawn at random."""
    if "teacher accuracy" not in samples:
        return {}
    accuracy = samples["teacher accuracy"]
    best = int(np.nanargmax(accuracy[0]))
    out: dict[str, Any] = {"best_teacher": rows.names[best]}
    _with_interval(out, "best_teacher_accuracy", samples, RECHOSEN, tail)
    oracle = _interval(accuracy[:, best], tail)
    out.update(zip(("oracle_accuracy", "oracle_accuracy_low", "oracle_accuracy_high"), oracle, strict=True))
    _with_interval(out, "random_pick_accuracy", samples, "random pick", tail)
    return out
