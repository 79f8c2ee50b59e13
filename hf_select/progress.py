"""One progress bar per scoring pass that moves as rows finish, not only when a batch of 64 does.

`hf_select.score` turns off the per-map bars of `datasets` and shows this one instead: rows done out of the
pass's rows (a row whose requests are partly done counts in part, so local naturalness, whose steps are
spread over many forward passes, moves too), rows/s and the time left (from tqdm), and the tokens scored so far
with their rate and the expected total (tokens per planned row, times the rows). Rows served from the cache
jump ahead.
"""

from __future__ import annotations

import time

from tqdm.auto import tqdm


def _short(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


class ScoreProgress:
    """``with ScoreProgress(rows, "local_naturalness (student)") as bar: bar.plan(...); bar.advance(...)``."""

    def __init__(self, total_rows: int, desc: str, enabled: bool = True) -> None:
        self.total_rows, self.desc, self.enabled = total_rows, desc, enabled
        self.rows = 0.0
        self.tokens = self.planned_rows = self.planned_tokens = 0
        self.bar: tqdm | None = None
        self.start = time.perf_counter()

    def __enter__(self) -> ScoreProgress:
        self.bar = tqdm(
            total=self.total_rows,
            desc=self.desc,
            unit=" rows",
            unit_scale=True,
            disable=not self.enabled,
            dynamic_ncols=True,
        )
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def plan(self, rows: int, tokens: int) -> None:
        """A batch of ``rows`` rows is about to be scored, ``tokens`` scored tokens in all."""
        self.planned_rows += rows
        self.planned_tokens += tokens

    def advance(self, rows: float, tokens: int = 0) -> None:
        """``rows`` more rows (possibly a fraction) are finished, after ``tokens`` scored tokens."""
        rows = max(0.0, min(rows, self.total_rows - self.rows))  # fractions may add up past the total by rounding
        self.rows += rows
        self.tokens += tokens
        if self.bar is None:
            return
        self.bar.update(rows)
        if self.planned_rows:
            expected = self.planned_tokens / self.planned_rows * self.total_rows
            rate = self.tokens / max(time.perf_counter() - self.start, 1e-9)
            self.bar.set_postfix_str(
                f"{_short(self.tokens)}/~{_short(expected)} tokens, {_short(rate)} tok/s", refresh=False
            )

    def finish_chunk(self, end_row: int) -> None:
        """Rows up to ``end_row`` are done (a cached chunk counts at once)."""
        if end_row > self.rows:
            gap = end_row - self.rows
            self.rows = float(end_row)
            if self.bar is not None:
                self.bar.update(gap)
