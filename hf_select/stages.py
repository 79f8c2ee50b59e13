"""The stages of a recipe run after scoring, as small objects run in order (datatrove's ``PipelineStep`` shape).

Each stage declares the columns it reads (`Stage.reads`, checked before anything is scored) and those whose
nulls are mistakes in the data (`Stage.non_null`), and when it runs it takes the data and returns a typed result
(`hf_select.results`): the data it passes on, its line for the card's "how it was made" table when it narrowed the
rows, and what it found. `recipe_stages` turns a recipe into its stages; `hf_select.runner` runs them without
knowing any score.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from datasets import Dataset, Value

from hf_select.columns import COMPLETE, PROV_DIVERGENCE
from hf_select.errors import ColumnTypeError, ConfigError
from hf_select.formats import Shape
from hf_select.metadata import correctness_column, higher_is_better, model_of, read_metadata, selection_bound
from hf_select.recipes import CompareConfig, FilterConfig, RankingConfig, Recipe, SelectConfig
from hf_select.results import Compared, LeftOutIncomplete, Ranked, Selected, StageResult, Trained
from hf_select.select import (
    filter_equals,
    filter_quantile,
    filter_threshold,
    prompt_group,
    rank_teachers,
    select_best,
    select_by_divergence,
)
from hf_select.sft import refuse_dropped_reasoning, rendering_tokenizer, sft_columns, to_sft, training_example
from hf_select.wide import PROMPT_ID, fold

CHECKED_ROWS = 1000  # rows whose training text is checked for its reasoning before scoring

Need = tuple[str, str]  # (the recipe key that names a column, the column)


class Stage(ABC):
    """One step after scoring: the data in, the data out, its columns declared."""

    def reads(self, columns: Iterable[str] = ()) -> list[Need]:
        """The columns this stage reads, with the recipe key naming each (checked before scoring, against the
        ``columns`` there will be then)."""
        return []

    def non_null(self) -> list[Need]:
        """Columns whose nulls are mistakes in the data for this stage (checked before scoring)."""
        return []

    def check_data(self, ds: Dataset) -> None:
        """Refuse, before scoring, settings that the data's own values make wrong (a teacher name that is not in the
        data, a column of the wrong type); ``ds`` is the data as it will be scored."""
        return None

    @abstractmethod
    def __call__(self, ds: Dataset) -> StageResult:
        """Run the stage."""


@dataclass
class KeepComplete(Stage):
    """Leave out responses that were cut off (``complete`` false): they often score well and teach nothing."""

    def reads(self, columns: Iterable[str] = ()) -> list[Need]:
        return [("incomplete", COMPLETE)]

    def __call__(self, ds: Dataset) -> LeftOutIncomplete:
        kept = filter_equals(ds, COMPLETE, True, keep_nan=True)
        count = len(ds) - len(kept)
        return LeftOutIncomplete(
            data=kept, count=count, step=f"complete responses only ({count} cut off)" if count else None
        )


@dataclass
class RankTeachers(Stage):
    """Rank teachers by every requested column (a teacher x student table when one score ran under several
    students); the data passes through unchanged."""

    config: RankingConfig

    def reads(self, columns: Iterable[str] = ()) -> list[Need]:
        cfg = self.config
        needs = [("rank_teachers.teacher", cfg.teacher), *((f"rank_teachers.by.{i}", c) for i, c in enumerate(cfg.by))]
        if cfg.bootstrap:  # the prompts it resamples: named, or found the way rank_teachers finds them
            needs.append(("rank_teachers.group", prompt_group(list(columns), cfg.group)))
        return needs

    def non_null(self) -> list[Need]:
        return [("rank_teachers.teacher", self.config.teacher)]

    def __call__(self, ds: Dataset) -> Ranked:
        cfg = self.config
        options = {
            "teacher": cfg.teacher,
            "correct": correctness_column(ds),
            "bootstrap": cfg.bootstrap,
            "seed": cfg.seed or 0,
            "group": cfg.group,
            "higher_is_better": cfg.higher_is_better,
        }
        students = student_columns(ds, cfg.by)
        return Ranked(
            data=ds,
            tables={column: rank_teachers(ds, by=column, **options) for column in cfg.by},
            directions={column: direction(ds, column, cfg.higher_is_better) for column in cfg.by},
            matrix=rank_teachers(ds, by=students, **options) if students else None,
        )


@dataclass
class Compare(Stage):
    """Compare scores on the scored pool (before filters and selection): which one to trust on this data."""

    config: CompareConfig
    incomplete: Literal["exclude", "keep"] = "exclude"

    def reads(self, columns: Iterable[str] = ()) -> list[Need]:
        cfg = self.config
        needs = [
            ("compare.teacher", cfg.teacher),
            ("compare.group", prompt_group(list(columns), cfg.group)),
            *((f"compare.by.{i}", c) for i, c in enumerate(cfg.by)),
        ]
        needs += [("compare.ground_truth", cfg.ground_truth)] if isinstance(cfg.ground_truth, str) else []
        return needs + ([("compare.correct", cfg.correct)] if cfg.correct else [])

    def non_null(self) -> list[Need]:
        return [("compare.teacher", self.config.teacher)]

    def check_data(self, ds: Dataset) -> None:
        cfg = self.config
        if cfg.correct in ds.column_names and ds.features[cfg.correct] != Value("bool"):
            kind = getattr(ds.features[cfg.correct], "dtype", type(ds.features[cfg.correct]).__name__)
            raise ColumnTypeError(
                f"`compare.correct` is {cfg.correct!r}, a column of {kind}: it must say true or "
                "false for each response (a boolean column)"
            )
        if cfg.teacher not in ds.column_names:
            return
        from hf_select.compare import teacher_mapping_problem

        teachers = [t for t in ds.unique(cfg.teacher) if t is not None]
        for key, mapping, what in (
            ("`compare.families`", cfg.families, "family"),
            ("`compare.ground_truth`", cfg.ground_truth, "value"),
        ):
            problem = teacher_mapping_problem(key, mapping, teachers, what) if isinstance(mapping, dict) else None
            if problem:
                raise ConfigError(problem)

    def __call__(self, ds: Dataset) -> Compared:
        from hf_select.compare import compare_scores

        cfg = self.config
        comparison = compare_scores(
            ds,
            cfg.by,
            cfg.teacher,
            cfg.group,
            bootstrap=cfg.bootstrap,
            seed=cfg.seed,
            correct=cfg.correct,
            families=cfg.families,
            student_family=cfg.student_family,
            ground_truth=cfg.ground_truth,
            prompts=cfg.prompts,
            bounded=cfg.bounded,
            incomplete=self.incomplete,
        )
        return Compared(data=ds, comparison=comparison)


@dataclass
class Filter(Stage):
    """One `FilterConfig`: equality, bounds, or quantiles of a column."""

    config: FilterConfig
    index: int

    def reads(self, columns: Iterable[str] = ()) -> list[Need]:
        return [(f"filters.{self.index}.column", self.config.column)]

    def __call__(self, ds: Dataset) -> StageResult:
        f = self.config
        nan = " (NaN kept)" if f.keep_nan else ""
        if f.equals is not None:
            return StageResult(
                data=filter_equals(ds, f.column, f.equals, keep_nan=f.keep_nan),
                step=f"filter: {f.column} == {f.equals}{nan}",
            )
        if f.quantile is not None:
            lower, upper = f.quantile
            return StageResult(
                data=filter_quantile(ds, f.column, lower=lower, upper=upper, keep_nan=f.keep_nan),
                step=f"filter: {f.column} in quantiles [{lower}, {upper}]{nan}",
            )
        bounds = " and ".join(
            x
            for x in (
                f"{f.column} >= {f.min}" if f.min is not None else "",
                f"{f.column} <= {f.max}" if f.max is not None else "",
            )
            if x
        )
        return StageResult(
            data=filter_threshold(ds, f.column, min=f.min, max=f.max, keep_nan=f.keep_nan),
            step=f"filter: {bounds}{nan}",
        )


@dataclass
class SelectBest(Stage):
    """The best response(s) per group by a score (its direction from the metadata)."""

    config: SelectConfig
    incomplete: Literal["exclude", "keep"]

    def reads(self, columns: Iterable[str] = ()) -> list[Need]:
        sel = self.config
        return [
            ("select.by", sel.by),
            ("select.group", sel.group),
            *([("select.among", sel.among)] if sel.among else []),
        ]

    def __call__(self, ds: Dataset) -> Selected:
        sel = self.config
        top_k = sel.top_k or 1
        bounded = sel.bounded is not False
        picked = select_best(
            ds,
            by=sel.by,
            group=sel.group,
            among=sel.among,
            top_k=top_k,
            higher_is_better=sel.higher_is_better,
            incomplete=self.incomplete,
            bounded=bounded,
        )
        up = direction(ds, sel.by, sel.higher_is_better)
        bound = selection_bound(ds, sel.by) if bounded else None
        selection = {
            "method": "best",
            "by": sel.by,
            "group": sel.group,
            "among": sel.among,
            "top_k": top_k,
            "higher_is_better": up,
            "max": bound,
        }
        among = f" among `{sel.among}`" if sel.among else ""
        among += f" with `{sel.by}` <= {bound:g}" if bound is not None else ""
        step = f"select: best `{sel.by}` per `{sel.group}`{among}"
        return Selected(data=picked, step=step, selection=selection, directions={sel.by: up})


@dataclass
class SelectByDivergence(Stage):
    """Teacher-guided selection by provenance divergence."""

    config: SelectConfig

    def reads(self, columns: Iterable[str] = ()) -> list[Need]:
        return [("select (divergence)", PROV_DIVERGENCE.name)]

    def __call__(self, ds: Dataset) -> Selected:
        sel = self.config
        kept = select_by_divergence(
            ds, top_k=sel.top_k, quantile=sel.quantile, min_teacher_fraction=sel.min_teacher_fraction
        )
        selection = {
            "method": "divergence",
            "by": PROV_DIVERGENCE.name,
            "top_k": sel.top_k,
            "quantile": sel.quantile,
            "min_teacher_fraction": sel.min_teacher_fraction,
        }
        return Selected(data=kept, step="select: teacher-guided (prov_divergence)", selection=selection)


@dataclass
class TrainingColumns(Stage):
    """Write the picked replies as TRL training examples, in the context they were scored in (`hf_select.sft`)."""

    shape: Shape
    layout: Literal["chat", "plain"]
    student: Any = None  # a `ScoringModel`: the split must train on the reasoning under its tokenizer's chat template

    def reads(self, columns: Iterable[str] = ()) -> list[Need]:
        return [
            (f"dataset.{key}", column)
            for key, column in zip(
                ("response_column", "prompt_column"), self.shape.columns(with_prompt=True), strict=False
            )
        ]

    def check_data(self, ds: Dataset) -> None:
        """Refuse, before scoring, a layout the split cannot be trained in, and a chat template that would drop the
        reasoning of the first rows that carry one (`to_sft` checks every picked row when it writes them)."""
        sft_columns(self.shape, self.layout)
        tokenizer = self.tokenizer
        if tokenizer is not None:
            for i, row in enumerate(ds.select(range(min(len(ds), CHECKED_ROWS)))):
                example = training_example(self.shape, row, self.layout)
                if example:
                    refuse_dropped_reasoning(tokenizer, example, f"row {i}")

    @property
    def tokenizer(self) -> Any:
        """The student's tokenizer when the split is chat messages it can render (TRL renders them with it)."""
        if self.student is None or self.layout != "chat":
            return None  # nothing to render: no tokenizer loaded for it
        return rendering_tokenizer(self.student.tokenizer, self.layout)

    def __call__(self, ds: Dataset) -> Trained:
        return Trained(
            data=to_sft(ds, self.shape, layout=self.layout, tokenizer=self.tokenizer),
            columns=sft_columns(self.shape, self.layout),
            layout=self.layout,
        )


@dataclass
class Fold(Stage):
    """Fold wide data back to one row per prompt (lists of responses)."""

    def __call__(self, ds: Dataset) -> StageResult:
        return StageResult(data=fold(ds, by=PROMPT_ID), step="folded back to one row per prompt")


def recipe_stages(recipe: Recipe, layout: Literal["chat", "plain"] = "chat", student: Any = None) -> list[Stage]:
    """The stages a recipe runs after scoring, in order (``student``: the model whose tokenizer the split trains
    with)."""
    stages: list[Stage] = [KeepComplete()] if recipe.incomplete == "exclude" else []
    if recipe.rank_teachers:
        stages.append(RankTeachers(recipe.rank_teachers))
    if recipe.compare:
        stages.append(Compare(recipe.compare, recipe.incomplete))
    stages += [Filter(f, i) for i, f in enumerate(recipe.filters)]
    sel = recipe.select
    if sel.method == "best":
        stages.append(SelectBest(sel, recipe.incomplete))
    elif sel.method == "divergence":
        stages.append(SelectByDivergence(sel))
    stages.append(TrainingColumns(recipe.dataset.shape, layout, student))
    if recipe.output.fold:
        stages.append(Fold())
    return stages


def direction(ds: Dataset, column: str, given: bool | None) -> bool:
    """Which way ``column`` is better: as the recipe says, else as the data's metadata records."""
    return higher_is_better(ds, column) if given is None else given


def student_columns(ds: Dataset, columns: list[str]) -> list[str]:
    """The ranking columns that are one score under several students (same score, other models): a teacher x
    student table compares them. Empty when there is no such pair."""
    meta = read_metadata(ds)
    by_score: dict[str, list[str]] = {}
    for column in columns:
        key = meta["columns"].get(column, {}).get("score")
        if model_of(meta, column):
            by_score.setdefault(meta["scores"][key].get("score", key), []).append(column)
    return next((group for group in by_score.values() if len({model_of(meta, c) for c in group}) > 1), [])
