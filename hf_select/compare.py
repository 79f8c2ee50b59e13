"""Which score to trust on this data: `compare_scores` validates several student-fit scores against each other,
against response length, and against correctness labels where there are any.

Proxies of how well a student fits a teacher's data (global and local naturalness, RSR, IFD, ASLEC) disagree, and
published comparisons do not say which one tracks quality for *your* student on *your* prompts. With a labelled
slice, this report does: for every score, how often the response it picks per prompt is correct and how well its
teacher ranking follows the teachers' accuracy (each with a prompt-bootstrap interval, beside the best single
teacher and a random pick); without labels, how much the scores agree and how much each one favours long
responses, a known confound of averaged log-probabilities.

Statistics (all prompts resampled together, `hf_select.stats`: a prompt's responses stay together):

* *agreement*: Kendall's tau-b between two scores' teacher rankings (teacher-level scores as `rank_teachers`
  computes them), and the share of prompts where both pick the same response;
* *length*: the within-prompt rank correlation of each score with the response's length in tokens and in steps
  (each prompt's ranks centred, then pooled): > 0 means the score prefers longer responses;
* *accuracy*: the share of prompts whose picked response is correct, and Spearman's rho between the teacher
  ranking and the teachers' accuracy (> 0: the score ranks accurate teachers first).

Picks follow `select_best`: NaN scores never win, ties go to the earlier row, incomplete responses are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset

from hf_select._compat import dataset_from_arrow
from hf_select._compat import logical_table as _table
from hf_select.columns import COMPLETE
from hf_select.errors import ConfigError, WrongTypeError
from hf_select.metadata import correctness_column
from hf_select.select import (
    _as_float,
    _boolean,
    _dense_ids,
    _direction,
    _numeric,
    _ratio_parts,
    _require,
    prompt_group,
)
from hf_select.stats import TeacherTable, resampled

TOKEN_COLUMNS = ("global_num_tokens", "aslec_num_tokens")  # response length in tokens, as the scores count it
STEP_COLUMNS = ("local_num_steps", "aslec_num_steps")  # response length in reasoning steps
WHERE = "compare_scores"


@dataclass
class Comparison:
    """The report: tables as `Dataset` (one row per score, one per pair of scores) and what they rest on."""

    scores: Dataset  # one row per score
    agreement: Dataset  # one row per pair of scores
    teachers: list[str]
    teacher_ranks: dict[str, list[int]]  # score -> rank of each of `teachers` (1 = best)
    prompts: int
    responses: int
    resamples: int
    confidence: float
    baselines: dict[str, Any] = field(default_factory=dict)  # best single teacher, a random pick
    length_columns: dict[str, str | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what could not be computed, and why

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, for the card and the run log."""
        return {"scores": self.scores.to_list(), "agreement": self.agreement.to_list(), "teachers": self.teachers,
                "teacher_ranks": self.teacher_ranks, "prompts": self.prompts, "responses": self.responses,
                "resamples": self.resamples, "confidence": self.confidence, "baselines": self.baselines,
                "length_columns": self.length_columns, "notes": self.notes}

    def format(self) -> str:
        """The report as a plain-text table (what a run prints)."""
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

    prompt: np.ndarray  # dense prompt ids
    teacher: np.ndarray  # dense teacher ids, in the order of `names`
    names: list[str]
    n_prompts: int
    table: pa.Table


def compare_scores(ds: Dataset, by: list[str], teacher: str = "teacher", group: str | None = None, *,
                   bootstrap: int = 1000, seed: int = 0, correct: str | None = None,
                   families: dict[str, str] | None = None, student_family: str | None = None,
                   higher_is_better: dict[str, bool] | None = None, tokens: str | None = None,
                   steps: str | None = None, incomplete: Literal["exclude", "keep"] = "exclude",
                   confidence: float = 0.95) -> Comparison:
    """Compare the scores ``by`` on ``ds`` (see the module docstring for each statistic).

    Args:
        by: score columns, each with its recorded direction (or one in ``higher_is_better``).
        teacher: the column naming each response's teacher.
        group: the prompt column (default ``prompt_id``, else ``prompt``): picks are per prompt, and the
            bootstrap resamples prompts.
        bootstrap: resamples for the ``confidence`` intervals (at least 100).
        correct: the correctness column (default: the one answer checks wrote, else ``is_correct``); without
            one, the accuracy columns are NaN and a note says why.
        families: ``{teacher: family}`` with ``student_family``: flags each score whose top teacher shares the
            student's family (proxies can favour the student's own family).
        tokens, steps: response length columns (default: the first of `TOKEN_COLUMNS` / `STEP_COLUMNS` present).
        incomplete: "exclude" (default) leaves out responses whose ``complete`` is false, as selection does.
    """
    if not isinstance(ds, Dataset):
        raise WrongTypeError(f"{WHERE} compares the scores of one split (a Dataset), not a {type(ds).__name__}: "
                             "pass ds['train'], or materialise a stream first")
    by = _check(ds, by, families, student_family, bootstrap)
    group = prompt_group(ds.column_names, group)
    correct = correct if correct is not None else correctness_column(ds)
    lengths = {"tokens": tokens or next((c for c in TOKEN_COLUMNS if c in ds.column_names), None),
               "steps": steps or next((c for c in STEP_COLUMNS if c in ds.column_names), None)}
    _require(ds, [teacher, group, correct, *lengths.values(), *(p for c in by for p in _ratio_parts(ds, c) or ())],
             WHERE)
    rows = _read(ds, by, teacher, group, correct, lengths, incomplete)
    unknown = [t for t in rows.names if families is not None and t not in families]
    if unknown:
        raise ConfigError(f"{WHERE}: `families` has no family for teacher {unknown[0]!r} (teachers: {rows.names})")
    ups = {c: _direction(ds, c, (higher_is_better or {}).get(c)) for c in by}
    notes: list[str] = []
    inputs = _inputs(ds, rows, by, ups, lengths, _correct_flags(rows, correct, notes))
    samples = resampled(inputs.statistics, rows.n_prompts, bootstrap, seed)
    tail = (1 - confidence) / 2 * 100
    per_score = [_score_row(c, ups[c], samples, rows, lengths, tail, families, student_family) for c in by]
    pairs = [_pair_row(a, b, samples, tail) for a, b in combinations(by, 2)]
    for kind, column in lengths.items():
        if column is None:
            notes.append(f"no response length in {kind} (none of {TOKEN_COLUMNS if kind == 'tokens' else STEP_COLUMNS} "
                         f"is in the data; pass {kind}= to name one)")
    return Comparison(
        scores=dataset_from_arrow(pa.Table.from_pylist(per_score)),
        agreement=dataset_from_arrow(pa.Table.from_pylist(pairs, schema=_PAIR_SCHEMA)),
        teachers=rows.names, teacher_ranks={c: _ranks(samples[f"teachers {c}"][0]).tolist() for c in by},
        prompts=rows.n_prompts, responses=rows.table.num_rows, resamples=bootstrap, confidence=confidence,
        baselines=_baselines(rows, samples, tail), length_columns=lengths, notes=notes)


_PAIR_SCHEMA = pa.schema([("score_a", pa.string()), ("score_b", pa.string()), ("kendall_tau", pa.float64()),
                          ("kendall_tau_low", pa.float64()), ("kendall_tau_high", pa.float64()),
                          ("same_pick", pa.float64()), ("same_pick_low", pa.float64()),
                          ("same_pick_high", pa.float64())])


def option_problem(by: list[str], bootstrap: int, families: dict[str, str] | None,
                   student_family: str | None) -> tuple[str, str] | None:
    """(the option, what is wrong with it) for options that cannot work whatever the data, else None: the one
    place both `compare_scores` and a recipe's ``compare:`` check them."""
    if not by or len(set(by)) != len(by):
        return "by", f"needs one or more distinct score columns, got {by!r}"
    if bootstrap < 100:
        return "bootstrap", f"must be at least 100 resamples (1000 is plenty), got {bootstrap}"
    if (families is None) != (student_family is None):
        return ("families" if families is None else "student_family",
                "`families` ({teacher: family}) and `student_family` go together")
    return None


def _check(ds: Dataset, by: list[str] | str, families: dict[str, str] | None, student_family: str | None,
           bootstrap: int) -> list[str]:
    by = [by] if isinstance(by, str) else list(by)
    problem = option_problem(by, bootstrap, families, student_family)
    if problem:
        raise ConfigError(f"{WHERE}: {problem[0]} {problem[1]}")
    _require(ds, by, WHERE)
    return by


def _read(ds: Dataset, by: list[str], teacher: str, group: str, correct: str | None,
          lengths: dict[str, str | None], incomplete: str) -> _Rows:
    """The columns the report reads, over the responses it compares (incomplete ones left out, as selection
    does), with dense prompt and teacher ids."""
    parts = [p for c in by for p in _ratio_parts(ds, c) or ()]
    complete = COMPLETE if incomplete == "exclude" and COMPLETE in ds.column_names else None
    names = [teacher, group, *by, *parts, *filter(None, [correct, *lengths.values(), complete])]
    table = _table(ds, names)
    if complete:
        table = table.filter(pc.fill_null(_boolean(table.column(complete), complete, WHERE), True))
    for column in [*by, *parts, *filter(None, lengths.values())]:
        _numeric(table.column(column), column, WHERE)
    if table.num_rows == 0:
        raise ConfigError(f"{WHERE}: no responses to compare (every row is incomplete, or the data is empty)")
    prompt, n_prompts = _dense_ids(table.column(group))
    teachers = sorted(pc.unique(table.column(teacher)).to_pylist(), key=lambda t: (t is None, str(t)))
    teacher_ids = pc.index_in(table.column(teacher), value_set=pa.array(teachers, table.column(teacher).type))
    return _Rows(prompt, teacher_ids.to_numpy(zero_copy_only=False).astype(np.int64), teachers, n_prompts, table)


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
    random_pick: np.ndarray | None  # per prompt: the share of correct responses

    def statistics(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        teachers = {c: table.scores(weights) * self.signs[c] for c, table in self.tables.items()}
        out = {f"teachers {c}": scores for c, scores in teachers.items()}
        accuracy = self.accuracy.scores(weights) if self.accuracy is not None else None
        for c, scores in teachers.items():
            out[f"picked {c}"] = _mean_over_prompts(self.picked[c], weights)
            out[f"follows {c}"] = _spearman(scores, accuracy) if accuracy is not None else np.full(len(weights),
                                                                                                     np.nan)
        for (c, kind), sums in self.lengths.items():
            with np.errstate(invalid="ignore", divide="ignore"):
                xy, xx, yy = (weights @ sums).T
                out[f"length {kind} {c}"] = xy / np.sqrt(xx * yy)
        for (a, b), same in self.same.items():
            out[f"tau {a} {b}"] = _kendall(teachers[a], teachers[b])
            out[f"same {a} {b}"] = _mean_over_prompts(same, weights)
        if accuracy is not None:
            out["teacher accuracy"] = accuracy
            out["random pick"] = _mean_over_prompts(self.random_pick, weights)
        return out


def _inputs(ds: Dataset, rows: _Rows, by: list[str], ups: dict[str, bool], lengths: dict[str, str | None],
            flags: np.ndarray | None) -> _Inputs:
    signs = {c: 1 if ups[c] else -1 for c in by}
    oriented = {c: _as_float(rows.table.column(c)) * signs[c] for c in by}
    picks = {c: _picks(rows, oriented[c]) for c in by}
    picked = {}
    for c, rows_picked in picks.items():
        picked[c] = np.full(rows.n_prompts, np.nan)
        if flags is not None:
            picked[c][rows_picked >= 0] = flags[rows_picked[rows_picked >= 0]]
    same = {(a, b): np.where((picks[a] >= 0) & (picks[b] >= 0), (picks[a] == picks[b]).astype(np.float64), np.nan)
            for a, b in combinations(by, 2)}
    length_sums = {(c, kind): _centred_rank_sums(rows, oriented[c], _as_float(rows.table.column(column)))
                   for c in by for kind, column in lengths.items() if column}
    accuracy = random_pick = None
    if flags is not None:
        accuracy = TeacherTable.build(rows.prompt, rows.teacher, flags, rows.n_prompts, len(rows.names))
        per_prompt = TeacherTable.build(rows.prompt, np.zeros_like(rows.teacher), flags, rows.n_prompts, 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            random_pick = (per_prompt.sums / per_prompt.counts)[:, 0]
    tables = {c: _teacher_table(ds, rows, c) for c in by}
    return _Inputs(tables, signs, picked, same, length_sums, accuracy, random_pick)


def _teacher_table(ds: Dataset, rows: _Rows, column: str) -> TeacherTable:
    """The per-prompt sums of each teacher's ``column`` (as `rank_teachers` aggregates it: a mean, or a ratio of
    means)."""
    values = _as_float(rows.table.column(column))
    parts = _ratio_parts(ds, column)
    if parts:
        numerator, denominator = (_as_float(rows.table.column(p)) for p in parts)
        return TeacherTable.build(rows.prompt, rows.teacher, np.where(np.isnan(values), np.nan, numerator),
                                  rows.n_prompts, len(rows.names), denominator)
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
        notes.append("no correctness labels (run answer checks, or name a boolean column with correct=): the "
                     "accuracy columns are empty")
        return None
    flags = _as_float(pc.cast(_boolean(rows.table.column(correct), correct, WHERE), pa.float64()))
    if np.isnan(flags).all():
        notes.append(f"every `{correct}` label is null: the accuracy columns are empty")
        return None
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


def _score_row(column: str, up: bool, samples: dict[str, np.ndarray], rows: _Rows, lengths: dict[str, str | None],
               tail: float, families: dict[str, str] | None, student_family: str | None) -> dict[str, Any]:
    top = rows.names[int(np.argmin(_ranks(samples[f"teachers {column}"][0])))]
    out: dict[str, Any] = {"score": column, "higher_is_better": up, "top_teacher": top,
                           "top_teacher_is_student_family": None if families is None
                           else families.get(top) == student_family}
    for name, key in (("picked_accuracy", f"picked {column}"), ("ranking_vs_accuracy", f"follows {column}"),
                      *((f"length_{kind}_rho", f"length {kind} {column}") for kind in lengths)):
        value = _interval(samples[key], tail) if key in samples else (math.nan,) * 3
        out.update(zip((name, f"{name}_low", f"{name}_high"), value, strict=True))
    return out


def _pair_row(a: str, b: str, samples: dict[str, np.ndarray], tail: float) -> dict[str, Any]:
    tau, tau_low, tau_high = _interval(samples[f"tau {a} {b}"], tail)
    share, low, high = _interval(samples[f"same {a} {b}"], tail)
    return {"score_a": a, "score_b": b, "kendall_tau": tau, "kendall_tau_low": tau_low,
            "kendall_tau_high": tau_high, "same_pick": share, "same_pick_low": low, "same_pick_high": high}


def _ranks(scores: np.ndarray) -> np.ndarray:
    """Rank of each teacher (1 = best oriented score; NaN last; ties by name, as teachers are sorted)."""
    order = np.lexsort((np.arange(len(scores)), np.where(np.isnan(scores), np.inf, -scores)))
    ranks = np.empty(len(scores), dtype=np.int64)
    ranks[order] = np.arange(1, len(scores) + 1)
    return ranks


def _kendall(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Kendall's tau-b between the rows of ``a`` and ``b`` ([samples, teachers]); a teacher pair with a NaN is
    left out; NaN where a row has no untied pair."""
    i, j = np.triu_indices(a.shape[1], k=1)
    sa, sb = np.nan_to_num(np.sign(a[:, i] - a[:, j])), np.nan_to_num(np.sign(b[:, i] - b[:, j]))
    both = (~np.isnan(a[:, i] - a[:, j]) & ~np.isnan(b[:, i] - b[:, j])).astype(np.float64)
    sa, sb = sa * both, sb * both
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sa * sb).sum(1) / np.sqrt((sa * sa).sum(1) * (sb * sb).sum(1))


def _average_ranks(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean rank) of each row's valid entries ([samples, items])."""
    v = np.where(valid, values, 0.0)
    below = ((v[:, None, :] < v[:, :, None]) & valid[:, None, :]).sum(-1)
    equal = ((v[:, None, :] == v[:, :, None]) & valid[:, None, :]).sum(-1)
    return below + (equal + 1) / 2


def _spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman's rho between the rows of ``a`` and ``b`` ([samples, teachers]) over teachers valid in both."""
    valid = ~np.isnan(a) & ~np.isnan(b)
    x, y, n = _average_ranks(a, valid), _average_ranks(b, valid), valid.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        xc = np.where(valid, x - (x * valid).sum(1, keepdims=True) / n[:, None], 0.0)
        yc = np.where(valid, y - (y * valid).sum(1, keepdims=True) / n[:, None], 0.0)
        return (xc * yc).sum(1) / np.sqrt((xc * xc).sum(1) * (yc * yc).sum(1))


def _centred_rank_sums(rows: _Rows, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per prompt, the sums of products of ``x``'s and ``y``'s within-prompt ranks, each centred on the prompt's
    mean rank ([prompts, 3]: xy, xx, yy; rows where either is unknown left out): their weighted sums give the
    pooled within-prompt rank correlation under any resample of the prompts."""
    import pandas as pd

    keep = ~np.isnan(x) & ~np.isnan(y)
    frame = pd.DataFrame({"p": rows.prompt[keep], "x": x[keep], "y": y[keep]})
    ranked = frame.groupby("p")[["x", "y"]].rank(method="average")
    centred = ranked - ranked.groupby(frame["p"]).transform("mean")
    sums = pd.DataFrame({"xy": centred["x"] * centred["y"], "xx": centred["x"] ** 2, "yy": centred["y"] ** 2,
                         "p": frame["p"]}).groupby("p").sum().reindex(range(rows.n_prompts), fill_value=0.0)
    return sums[["xy", "xx", "yy"]].to_numpy()


def _baselines(rows: _Rows, samples: dict[str, np.ndarray], tail: float) -> dict[str, Any]:
    """What a score's picks should beat: always the best single teacher, and a response drawn at random."""
    if "teacher accuracy" not in samples:
        return {}
    accuracy = samples["teacher accuracy"]
    best = int(np.nanargmax(accuracy[0]))
    value, low, high = _interval(accuracy[:, best], tail)
    rand, rand_low, rand_high = _interval(samples["random pick"], tail)
    return {"best_teacher": rows.names[best], "best_teacher_accuracy": value, "best_teacher_accuracy_low": low,
            "best_teacher_accuracy_high": high, "random_pick_accuracy": rand, "random_pick_accuracy_low": rand_low,
            "random_pick_accuracy_high": rand_high}
