"""What a run prints: the rows left after each stage, and teacher rankings as plain-text tables."""

from __future__ import annotations

import math
from typing import Any

from datasets import Dataset

from hf_select.verdict import points


def _number(value: Any, width: int, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{'-':>{width}}"
    return f"{value:>{width}{fmt}}"


def format_ranking(table: Dataset) -> str:
    """A `rank_teachers` table: score (the mean, or a ratio of means), its 95% interval, rank range and P(first)
    when bootstrapped, median, std and accuracy."""
    has_accuracy = "accuracy" in table.column_names
    has_intervals = "score_low" in table.column_names
    width = max([16, *(len(str(t)) + 2 for t in table["teacher"])])
    head = f"  {'rank':>4}  {'teacher':<{width}}{'n':>5}{'score':>10}"
    head += f"{'95% CI':>20}{'ranks':>7}{'P(1st)':>8}" if has_intervals else ""
    head += f"{'median':>10}{'std':>9}" + (f"{'accuracy':>10}" if has_accuracy else "")
    rows = [head]
    for r in table:
        line = f"  {r['rank']:>4}  {str(r['teacher']):<{width}}{r['count']:>5}{_number(r['score'], 10, '.4f')}"
        if has_intervals:
            interval = (
                "-"
                if r["score_low"] is None or math.isnan(r["score_low"])
                else f"{r['score_low']:.4f}..{r['score_high']:.4f}"
            )
            ranks = f"{r['rank_low']}" + (f"-{r['rank_high']}" if r["rank_high"] != r["rank_low"] else "")
            line += f"{interval:>20}{ranks:>7}{r['p_first']:>8.0%}"
        line += f"{_number(r['median'], 10, '.4f')}{_number(r['std'], 9, '.4f')}"
        if has_accuracy:
            line += " " + _number(r["accuracy"], 9, ".1%")
        rows.append(line)
    return "\n".join(rows)


def format_summary(
    stages: list[tuple[str, int]],
    rankings: dict[str, Dataset],
    *,
    rows_out: int,
    output_dir: str | None,
    pushed: str | None,
    seconds: float,
    comparison: Any = None,
    viewer: str | None = None,
) -> str:
    width = max(len(name) for name, _ in stages) + 2
    lines = ["", f"{'stage':<{width}}{'rows':>6}"]
    lines += [f"{name:<{width}}{rows:>6}" for name, rows in stages]
    for column, table in rankings.items():
        lines += ["", f"teacher ranking by {column}:", format_ranking(table)]
    if comparison is not None:
        lines += ["", comparison.format()]
    if output_dir:
        lines.append(f"\nwrote {rows_out} rows + card to {output_dir}")
        if viewer:
            lines.append(f"viewer: open {output_dir}/{viewer}/index.html in a browser")
    if pushed:
        lines.append(f"published: {pushed}")
    lines.append(f"done in {seconds:.1f} s")
    return "\n".join(lines)


def percent_interval(value: float | None, low: float | None = None, high: float | None = None) -> str:
    """``72% [60%, 85%]``; ``-`` for a missing value (the card's and the summary's way to write a share)."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.0%}" + ("" if low is None or math.isnan(low) else f" [{low:.0%}, {high:.0%}]")


def signed_interval(value: float | None, low: float | None = None, high: float | None = None) -> str:
    """``+0.42 [+0.10, +0.70]``; ``-`` for a missing value (a correlation, with its interval)."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value:+.2f}" + ("" if low is None or math.isnan(low) else f" [{low:+.2f}, {high:+.2f}]")


def _ci(row: dict[str, Any], name: str, show) -> str:
    """``row[name]`` with its interval (``name_low``, ``name_high``), written by ``show``."""
    return show(row[name], row.get(f"{name}_low"), row.get(f"{name}_high"))


def format_comparison(report: dict[str, Any]) -> str:
    """A `Comparison` (as `Comparison.to_dict`): the verdict, then one line per score (picks, then rankings),
    the paired differences, the length confound, the baselines and the agreement between scores."""
    pct, sig = percent_interval, signed_interval
    matched = (
        f"; {report['prompts_left_out']} left out (not every teacher answered them)"
        if report["prompts_left_out"]
        else ""
    )
    lines = [
        f"Which score to trust on this data: {report['responses']} responses to {report['prompts']} prompts "
        f"from {len(report['teachers'])} teachers{matched}; {report['confidence']:.0%} intervals from "
        f"{report['resamples']} prompt resamples",
        "",
        "Verdict:",
        *(f"- {line}" for line in report["verdict"]),
    ]
    base, rows = report["baselines"], report["scores"]
    if base:
        lines += ["", f"{'picks':<24}{'n':>5}  {'correct':<20}{'vs random pick':<24}vs best single teacher"]
        lines += [
            f"{r['score']:<24}{r['labelled']:>5}  {_ci(r, 'picked_accuracy', pct):<20}"
            f"{_points(r, 'vs_random'):<24}{_points(r, 'vs_best_teacher')}"
            for r in rows
        ]
        lines += [
            f"best single teacher, chosen on held-out prompts: {_ci(base, 'best_teacher_accuracy', pct)} "
            f"({base['best_teacher']} in-sample; its accuracy on the prompts it was chosen on, an oracle: "
            f"{_ci(base, 'oracle_accuracy', pct)}); a response drawn at random: "
            f"{_ci(base, 'random_pick_accuracy', pct)}"
        ]
    if report["truth"]:
        lines += [
            "",
            f"ranking vs {report['truth']} ({len(report['teachers'])} teachers)",
            f"{'':<24}{'tau-b':<22}{'pairwise':<22}{'P(top)':<8}{'rho':<22}top teacher",
        ]
        for r in rows:
            family = " (the student's family)" if r["top_teacher_is_student_family"] else ""
            lines.append(
                f"{r['score']:<24}{_ci(r, 'ranking_tau', sig):<22}{_ci(r, 'ranking_pairwise', pct):<22}"
                f"{pct(r['ranking_p_top']):<8}{_ci(r, 'ranking_rho', sig):<22}{r['top_teacher'] or '-'}"
                f"{family}"
            )
    else:
        lines += ["", f"{'top teacher':<24}"] + [f"{r['score']:<24}{r['top_teacher'] or '-'}" for r in rows]
    pairs = report["agreement"]
    if pairs and (base or report["truth"]):
        lines += ["", f"{'paired differences (a - b)':<48}{'picks correct':<24}ranking tau-b"]
        lines += [
            f"{p['score_a'] + ' - ' + p['score_b']:<48}"
            f"{_points(p, 'picked_difference') if base else '-':<24}{_ci(p, 'tau_difference', sig)}"
            for p in pairs
        ]
    lines += [
        "",
        f"{'length confound':<24}{'rho with tokens':<30}rho with steps   (within prompts; > 0: prefers "
        "longer; n: prompts whose lengths differ)",
    ]
    lines += [f"{r['score']:<24}{_length(r, 'tokens'):<30}{_length(r, 'steps')}" for r in rows]
    if pairs:
        lines += ["", f"{'agreement':<48}{'teacher rankings (tau-b)':<26}same pick"]
        lines += [
            f"{p['score_a'] + ' ~ ' + p['score_b']:<48}{_ci(p, 'kendall_tau', sig):<26}{_ci(p, 'same_pick', pct)}"
            for p in pairs
        ]
    lines += [f"note: {note}" for note in report["notes"]]
    return "\n".join(lines)


def points_interval(value: float | None, low: float | None = None, high: float | None = None) -> str:
    """``+5 pts [+1, +9]``: a difference of two shares in percentage points; ``-`` for a missing value."""
    if value is None or math.isnan(value):
        return "-"
    if low is None or math.isnan(low):
        return f"{int(round(100 * value)):+d} pts"
    return points(value, low, high)


def _points(row: dict[str, Any], name: str) -> str:
    return _ci(row, name, points_interval)


def _length(row: dict[str, Any], kind: str) -> str:
    """A length correlation with its interval and the number of prompts it rests on."""
    value = _ci(row, f"length_{kind}_rho", signed_interval)
    return value if value == "-" else f"{value} n={row.get(f'length_{kind}_prompts', 0)}"
