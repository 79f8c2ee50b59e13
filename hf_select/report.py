"""What a run prints: the rows left after each stage, and teacher rankings as plain-text tables."""

from __future__ import annotations

import math
from typing import Any

from datasets import Dataset


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
            interval = "-" if r["score_low"] is None or math.isnan(r["score_low"]) else \
                f"{r['score_low']:.4f}..{r['score_high']:.4f}"
            ranks = f"{r['rank_low']}" + (f"-{r['rank_high']}" if r["rank_high"] != r["rank_low"] else "")
            line += f"{interval:>20}{ranks:>7}{r['p_first']:>8.0%}"
        line += f"{_number(r['median'], 10, '.4f')}{_number(r['std'], 9, '.4f')}"
        if has_accuracy:
            line += " " + _number(r["accuracy"], 9, ".1%")
        rows.append(line)
    return "\n".join(rows)


def format_summary(stages: list[tuple[str, int]], rankings: dict[str, Dataset], *, rows_out: int,
                   output_dir: str | None, pushed: str | None, seconds: float) -> str:
    width = max(len(name) for name, _ in stages) + 2
    lines = ["", f"{'stage':<{width}}{'rows':>6}"]
    lines += [f"{name:<{width}}{rows:>6}" for name, rows in stages]
    for column, table in rankings.items():
        lines += ["", f"teacher ranking by {column}:", format_ranking(table)]
    if output_dir:
        lines.append(f"\nwrote {rows_out} rows + card to {output_dir}")
    if pushed:
        lines.append(f"published: {pushed}")
    lines.append(f"done in {seconds:.1f} s")
    return "\n".join(lines)
