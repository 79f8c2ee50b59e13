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
import warnings
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
from hf_select.stats import TeacherTable, resample_weights

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
    weights = np.vstack([np.ones(rows.n_prompts), resample_weights(rows.n_prompts, bootstrap,
                                                                   np.random.default_rng(seed))])
    ups = {c: _direction(ds, c, (higher_is_better or {}).get(c)) for c in by}
    oriented = {c: _as_float(rows.table.column(c)) * (1 if ups[c] else -1) for c in by}
    teacher_scores = {c: _teacher_scores(ds, rows, c, weights) * (1 if ups[c] else -1) for c in by}
    picks = {c: _picks(rows, oriented[c]) for c in by}
    notes: list[str] = []
    flags = _correct_flags(rows, correct, notes)
    teacher_accuracy = None if flags is None else TeacherTable.build(
        rows.prompt, rows.teacher, flags, rows.n_prompts, len(rows.names)).scores(weights)
    tail = (1 - confidence) / 2 * 100
    per_score = [_score_row(c, ups[c], teacher_scores[c], picks[c], flags, teacher_accuracy, rows, oriented[c],
                            lengths, weights, tail, families, student_family) for c in by]
    pairs = [_pair_row(a, b, teacher_scores[a], teacher_scores[b], picks[a], picks[b], weights, tail)
             for a, b in combinations(by, 2)]
    for kind, column in lengths.items():
        if column is None:
            notes.append(f"no response length in {kind} (none of {TOKEN_COLUMNS if kind == 'tokens' else STEP_COLUMNS} "
                         f"is in the data; pass {kind}= to name one)")
    return Comparison(
        scores=dataset_from_arrow(pa.Table.from_pylist(per_score)),
        agreement=dataset_from_arrow(pa.Table.from_pylist(pairs, schema=_PAIR_SCHEMA)),
        teachers=rows.names, teacher_ranks={c: _ranks(teacher_scores[c][0]).tolist() for c in by},
        prompts=rows.n_prompts, responses=rows.table.num_rows, resamples=bootstrap, confidence=confidence,
        baselines=_baselines(rows, flags, teacher_accuracy, weights, tail), length_columns=lengths, notes=notes)


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


def _teacher_scores(ds: Dataset, rows: _Rows, column: str, weights: np.ndarray) -> np.ndarray:
    """Each teacher's score (as `rank_teachers` computes it: a mean, or a ratio of means) under each row of
    ``weights``: [resamples + 1, teachers], the first row the whole data."""
    values = _as_float(rows.table.column(column))
    parts = _ratio_parts(ds, column)
    if parts:
        numerator, denominator = (_as_float(rows.table.column(p)) for p in parts)
        table = TeacherTable.build(rows.prompt, rows.teacher, np.where(np.isnan(values), np.nan, numerator),
                                   rows.n_prompts, len(rows.names), denominator)
    else:
        table = TeacherTable.build(rows.prompt, rows.teacher, values, rows.n_prompts, len(rows.names))
    return table.scores(weights)


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


def _score_row(column: str, up: bool, teacher_scores: np.ndarray, picks: np.ndarray, flags: np.ndarray | None,
               teacher_accuracy: np.ndarray | None, rows: _Rows, oriented: np.ndarray,
               lengths: dict[str, str | None], weights: np.ndarray, tail: float,
               families: dict[str, str] | None, student_family: str | None) -> dict[str, Any]:
    top = rows.names[int(np.argmin(_ranks(teacher_scores[0])))]
    out: dict[str, Any] = {"score": column, "higher_is_better": up, "top_teacher": top,
                           "top_teacher_is_student_family": None if families is None
                           else families.get(top) == student_family}
    picked = np.full(rows.n_prompts, np.nan)
    if flags is not None:
        picked[picks >= 0] = flags[picks[picks >= 0]]
    accuracy = _interval(_mean_over_prompts(picked, weights), tail) if flags is not None else (math.nan,) * 3
    follows = _interval(_spearman(teacher_scores, teacher_accuracy), tail) if teacher_accuracy is not None \
        else (math.nan,) * 3
    out.update(zip(("picked_accuracy", "picked_accuracy_low", "picked_accuracy_high"), accuracy, strict=True))
    out.update(zip(("ranking_vs_accuracy", "ranking_vs_accuracy_low", "ranking_vs_accuracy_high"), follows,
                   strict=True))
    for kind, length in lengths.items():
        rho = _within_prompt_rho(rows, oriented, _as_float(rows.table.column(length)), weights) if length \
            else np.full(len(weights), np.nan)
        out.update(zip((f"length_{kind}_rho", f"length_{kind}_rho_low", f"length_{kind}_rho_high"),
                       _interval(rho, tail), strict=True))
    return out


def _pair_row(a: str, b: str, scores_a: np.ndarray, scores_b: np.ndarray, picks_a: np.ndarray,
              picks_b: np.ndarray, weights: np.ndarray, tail: float) -> dict[str, Any]:
    both = (picks_a >= 0) & (picks_b >= 0)
    same = np.where(both, (picks_a == picks_b).astype(np.float64), np.nan)
    tau, tau_low, tau_high = _interval(_kendall(scores_a, scores_b), tail)
    share, low, high = _interval(_mean_over_prompts(same, weights), tail)
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
    return _pearson_rows(_average_ranks(a, valid), _average_ranks(b, valid), valid)


def _pearson_rows(x: np.ndarray, y: np.ndarray, valid: np.ndarray) -> np.ndarray:
    n = valid.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        xc = np.where(valid, x - (x * valid).sum(1, keepdims=True) / n[:, None], 0.0)
        yc = np.where(valid, y - (y * valid).sum(1, keepdims=True) / n[:, None], 0.0)
        return (xc * yc).sum(1) / np.sqrt((xc * xc).sum(1) * (yc * yc).sum(1))


def _within_prompt_rho(rows: _Rows, x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Pooled within-prompt rank correlation of ``x`` and ``y`` under each row of ``weights``: both ranked within
    each prompt (rows where both are known), ranks centred on the prompt's mean, then one correlation over all."""
    import pandas as pd

    keep = ~np.isnan(x) & ~np.isnan(y)
    frame = pd.DataFrame({"p": rows.prompt[keep], "x": x[keep], "y": y[keep]})
    ranked = frame.groupby("p")[["x", "y"]].rank(method="average")
    centred = ranked - ranked.groupby(frame["p"]).transform("mean")
    per_prompt = pd.DataFrame({"xy": centred["x"] * centred["y"], "xx": centred["x"] ** 2, "yy": centred["y"] ** 2,
                               "p": frame["p"]}).groupby("p").sum().reindex(range(rows.n_prompts), fill_value=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights @ per_prompt["xy"].to_numpy()) / np.sqrt((weights @ per_prompt["xx"].to_numpy())
                                                                 * (weights @ per_prompt["yy"].to_numpy()))


def _baselines(rows: _Rows, flags: np.ndarray | None, teacher_accuracy: np.ndarray | None, weights: np.ndarray,
               tail: float) -> dict[str, Any]:
    """What a score's picks should beat: always the best single teacher, and a response drawn at random."""
    if flags is None or teacher_accuracy is None:
        return {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Mean of empty slice")
        best = int(np.nanargmax(teacher_accuracy[0]))
    per_prompt = TeacherTable.build(rows.prompt, np.zeros_like(rows.teacher), flags, rows.n_prompts, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        random_pick = (per_prompt.sums / per_prompt.counts)[:, 0]
    accuracy, low, high = _interval(teacher_accuracy[:, best], tail)
    rand, rand_low, rand_high = _interval(_mean_over_prompts(random_pick, weights), tail)
    return {"best_teacher": rows.names[best], "best_teacher_accuracy": accuracy, "best_teacher_accuracy_low": low,
            "best_teacher_accuracy_high": high, "random_pick_accuracy": rand, "random_pick_accuracy_low": rand_low,
            "random_pick_accuracy_high": rand_high}
