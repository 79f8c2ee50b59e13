"""What a run's stages found, as typed results, and the run's record of them.

Each stage of a recipe (`hf_select.stages`) takes the data and returns one `StageResult`: the data it passes on,
the line it adds to the card's "how it was made" table when it narrowed the rows, and what it found (a ranking, a
comparison, the picks). The card (`hf_select.cards`), the run's summary and the viewer read the `RunRecord` of
those results; nothing writes into a shared log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from datasets import Dataset

Result = TypeVar("Result", bound="StageResult")


@dataclass(frozen=True, kw_only=True)
class StageResult:
    """A stage's output: the data it passes on, and its line in the card's table when it narrowed the rows."""

    data: Dataset
    step: str | None = None


@dataclass(frozen=True, kw_only=True)
class LeftOutIncomplete(StageResult):
    count: int  # responses left out because they were cut off


@dataclass(frozen=True, kw_only=True)
class Ranked(StageResult):
    tables: dict[str, Dataset]  # {score column: `rank_teachers` table}
    directions: dict[str, bool]  # which way each ranked column is better
    matrix: Dataset | None = None  # one score under several students: a teacher x student table


@dataclass(frozen=True, kw_only=True)
class Compared(StageResult):
    comparison: Any  # `hf_select.compare.Comparison`


@dataclass(frozen=True, kw_only=True)
class Selected(StageResult):
    """The picked rows are the result's ``data`` (every column they were picked with)."""

    selection: dict[str, Any]  # how they were picked, for the card: {"method", "by", "group", ...}
    directions: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Trained(StageResult):
    columns: list[str]  # the columns TRL trains on
    layout: str  # "chat" (messages) or "plain" (strings)


@dataclass
class RunRecord:
    """The lines before any stage (what was loaded) and every stage's result, in order."""

    loaded: list[tuple[str, int]] = field(default_factory=list)
    results: list[StageResult] = field(default_factory=list)

    def of(self, kind: type[Result]) -> list[Result]:
        return [r for r in self.results if isinstance(r, kind)]

    @property
    def steps(self) -> list[tuple[str, int]]:
        """Rows left after each step: the card's "how it was made" table."""
        return [*self.loaded, *((r.step, len(r.data)) for r in self.results if r.step)]

    @property
    def rankings(self) -> dict[str, Dataset]:
        return {column: table for r in self.of(Ranked) for column, table in r.tables.items()}

    @property
    def matrix(self) -> Dataset | None:
        return next((r.matrix for r in self.of(Ranked) if r.matrix is not None), None)

    @property
    def directions(self) -> dict[str, bool]:
        return {k: v for r in [*self.of(Ranked), *self.of(Selected)] for k, v in r.directions.items()}

    @property
    def comparison(self) -> Any:
        return next((r.comparison for r in self.of(Compared)), None)

    @property
    def selected(self) -> Selected | None:
        return next(iter(self.of(Selected)), None)

    @property
    def selection(self) -> dict[str, Any]:
        return self.selected.selection if self.selected else {"method": "none"}

    @property
    def training(self) -> dict[str, Any]:
        trained = next(iter(self.of(Trained)), None)
        return {"columns": trained.columns, "layout": trained.layout} if trained else {}

    @property
    def incomplete(self) -> int | None:
        """Responses left out as cut off (None: not checked)."""
        return next((r.count for r in self.of(LeftOutIncomplete)), None)
