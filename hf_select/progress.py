"""One progress bar per scoring pass that moves as rows finish, not only when a batch of 64 does.

`hf_select.score` turns off the per-map bars of `datasets` and shows this one instead: rows done out of the
pass's rows, rows/s and the time left (from tqdm), and the tokens scored so far with the rate and an
estimate of the total (tokens per finished row times the rows). Rows served from the cache jump ahead.
"""

from __future__ import annotations

from tqdm.auto import tqdm


def _short(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


class ScoreProgress:
    """``with ScoreProgress(rows, "local_naturalness (student)") as bar: bar.advance(rows, tokens)``."""

    def __init__(self, total_rows: int, desc: str, enabled: bool = True) -> None:
        self.total_rows, self.desc, self.enabled = total_rows, desc, enabled
        self.rows = self.tokens = self.scored_rows = 0
        self.bar: tqdm | None = None

    def __enter__(self) -> ScoreProgress:
        self.bar = tqdm(total=self.total_rows, desc=self.desc, unit=" rows", disable=not self.enabled,
                        dynamic_ncols=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def advance(self, rows: int, tokens: int = 0) -> None:
        """``rows`` more rows are finished, after ``tokens`` scored tokens."""
        self.rows += rows
        self.scored_rows += rows
        self.tokens += tokens
        if self.bar is None:
            return
        self.bar.update(rows)
        if self.tokens:
            rate = self.bar.format_dict.get("rate") or 0
            per_row = self.tokens / max(self.scored_rows, 1)
            self.bar.set_postfix_str(f"{_short(self.tokens)}/~{_short(per_row * self.total_rows)} tokens, "
                                     f"{_short(rate * per_row)} tok/s", refresh=False)

    def finish_chunk(self, end_row: int) -> None:
        """Rows up to ``end_row`` are done (a cached chunk counts at once)."""
        if end_row > self.rows:
            gap = end_row - self.rows
            self.rows = end_row
            if self.bar is not None:
                self.bar.update(gap)
