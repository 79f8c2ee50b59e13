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
    has_accuracy = "accuracy" in table.column_names
    head = f"  {'rank':>4}  {'teacher':<16}{'n':>5}{'mean':>10}{'median':>10}{'std':>9}" + (
        f"{'accuracy':>10}" if has_accuracy else "")
    rows = [head]
    for r in table:
        acc = _number(r["accuracy"], 9, ".1%") if has_accuracy else ""
        rows.append(f"  {r['rank']:>4}  {str(r['teacher']):<16}{r['count']:>5}{_number(r['mean'], 10, '.4f')}"
                    f"{_number(r['median'], 10, '.4f')}{_number(r['std'], 9, '.4f')}{' ' + acc if acc else ''}")
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
