"""Running a recipe: check, load, score (cached), filter, rank teachers, select, write card + data, publish.

Before anything is scored, `check_run` verifies everything a run depends on that a load of the recipe could
not: every column a score, filter, ranking or selection reads exists in the data or comes from a score,
teachers and answers are not null, the output folder may be written and the Hub repo is not the source. A
mistake found after an hour of scoring is a bug. Every score goes through `hf_select.score`, so rerunning a
recipe on the same data is served from the `datasets` cache without loading a model, and changing only
filters or the selection reuses all scores. Outputs go through `hf_select.outputs`; the source data is only
ever read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset

from hf_select import report
from hf_select.cards import CardContext, build_card, public_command, public_path
from hf_select.errors import DataFormatError, MissingColumnError, PublishError
from hf_select.metadata import higher_is_better, model_of, read_metadata
from hf_select.outputs import check_output
from hf_select.recipes import FilterConfig, Recipe, load_recipe, recipe_yaml
from hf_select.scoring import MapPass, score
from hf_select.select import (
    filter_equals,
    filter_quantile,
    filter_threshold,
    rank_teachers,
    select_best,
    select_by_divergence,
)
from hf_select.sources import hub_repo_ids, load_source, local_paths, source_license
from hf_select.wide import PROMPT_ID, explode, fold


@dataclass
class RunResult:
    """Everything a run produced, for scripts and the demo."""

    scored: Dataset
    curated: Dataset
    stages: list[tuple[str, int]]  # rows left after each stage
    rankings: dict[str, Dataset] = field(default_factory=dict)
    card: Any = None
    images: dict[str, bytes] = field(default_factory=dict)
    seconds: float = 0.0
    output_dir: str | None = None
    pushed: str | None = None


def apply_filter(ds: Dataset, f: FilterConfig) -> tuple[Dataset, str]:
    """One filter stage and its description for the summary table."""
    nan = " (NaN kept)" if f.keep_nan else ""
    if f.equals is not None:
        return filter_equals(ds, f.column, f.equals, keep_nan=f.keep_nan), f"{f.column} == {f.equals}{nan}"
    if f.quantile is not None:
        lower, upper = f.quantile
        return (filter_quantile(ds, f.column, lower=lower, upper=upper, keep_nan=f.keep_nan),
                f"{f.column} in quantiles [{lower}, {upper}]{nan}")
    bounds = " and ".join(x for x in (f"{f.column} >= {f.min}" if f.min is not None else "",
                                      f"{f.column} <= {f.max}" if f.max is not None else "") if x)
    return filter_threshold(ds, f.column, min=f.min, max=f.max, keep_nan=f.keep_nan), bounds + nan


def load_data(recipe: Recipe) -> Dataset:
    """The recipe's rows, with its column mapping applied and its row limit."""
    cfg = recipe.dataset
    ds = load_source(cfg.path, split=cfg.split, name=cfg.name, data_files=cfg.data_files, revision=cfg.revision)
    renames = {theirs: ours for ours, theirs in cfg.columns.items() if theirs != ours}
    missing = [theirs for theirs in renames if theirs not in ds.column_names]
    if missing:
        raise MissingColumnError(f"dataset.columns maps to {missing[0]!r}, which is not a column of {cfg.path} "
                                 f"(columns: {ds.column_names})")
    ds = ds.rename_columns(renames) if renames else ds
    if cfg.limit:
        ds = ds.select(range(min(cfg.limit, len(ds))))
    if cfg.format == "wide":
        ds = explode(ds, cfg.responses, with_columns=cfg.with_columns, teachers=cfg.teachers)
    return ds


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


def _source_rows(recipe: Recipe, ds: Dataset) -> int:
    """Rows of the source as loaded (before wide data was made long)."""
    return len(set(ds[PROMPT_ID])) if recipe.dataset.format == "wide" else len(ds)


_FORMAT_LABELS = {
    "text": "`text` (a prompt and a response per row)",
    "messages": "`messages` (chat conversations, as in the source: ready for TRL's SFTTrainer)",
    "sharegpt": "`sharegpt` (conversations of from/value turns, as in the source)",
    "prompt_completion": "`prompt_completion` (as in the source: ready for TRL's SFTTrainer)",
}


def _format_label(recipe: Recipe) -> str:
    if recipe.dataset.format != "wide":
        return _FORMAT_LABELS[recipe.dataset.format]
    if recipe.output.fold:
        return "wide: the selected responses folded back to one row per prompt (lists)"
    return "long: one row per response of the wide source, with `prompt_id` (its source row) and `generation_index`"


def check_run(recipe: Recipe, ds: Dataset, scores: list[MapPass], *, push: bool) -> None:
    """Everything that would fail after scoring, checked before it (see the module docstring)."""
    available = set(ds.column_names)
    for i, item in enumerate(scores):
        for map_pass in item.passes():
            missing = [c for c in map_pass.input_columns() if c not in available]
            if missing:
                raise MissingColumnError(f"scores.{i} ({item.name}) reads column {missing[0]!r}, which the data "
                                         f"does not have (columns: {sorted(available)}); map yours with "
                                         f"dataset.columns or set the score's *_column parameter")
            available |= set(map_pass.features())
    wanted = [(f"filters.{i}.column", f.column) for i, f in enumerate(recipe.filters)]
    sel = recipe.select
    if sel.method == "best":
        wanted += [("select.by", sel.by), ("select.group", sel.group), ("select.among", sel.among)]
    elif sel.method == "divergence":
        wanted += [("select (divergence)", "prov_divergence")]
    if recipe.rank_teachers:
        ranking = recipe.rank_teachers
        wanted += [("rank_teachers.teacher", ranking.teacher)]
        wanted += [(f"rank_teachers.by.{i}", c) for i, c in enumerate(ranking.by)]
        if ranking.bootstrap:
            wanted += [("rank_teachers.group", ranking.group or ("prompt_id" if "prompt_id" in available
                                                                 else "prompt"))]
    for key, column in wanted:
        if column is not None and column not in available:
            raise MissingColumnError(f"`{key}` is {column!r}, which is neither a column of the data nor made by a "
                                     f"score (available: {sorted(available)})")
    if recipe.rank_teachers:
        _no_nulls(ds, recipe.rank_teachers.teacher, "the teacher of each response (rank_teachers.teacher)", recipe)
    for item in scores:
        if item.name == "answer_check":
            _no_nulls(ds, item.params.answer_column, "the reference answer", recipe)
    out = recipe.output
    if out.dir:
        check_output(out.dir, overwrite=out.overwrite, sources=local_paths(recipe.dataset.path,
                                                                          recipe.dataset.data_files))


def check_target(recipe: Recipe, *, push: bool) -> None:
    """Refuse to publish over the source, however it was named, before even reading it."""
    out = recipe.output
    if push and out.repo_id:
        target = out.repo_id.strip().removeprefix("datasets/").lower()
        if target in hub_repo_ids(recipe.dataset.path, recipe.dataset.data_files):
            raise PublishError(f"refusing to publish to {out.repo_id!r}: it is the source dataset of this curation "
                               "(output.repo_id). Publish the curated subset to a new repo id.")


def _no_nulls(ds: Dataset, column: str, what: str, recipe: Recipe) -> None:
    """A null teacher or answer is a mistake in the data, named by row (unless the recipe records errors)."""
    if column not in ds.column_names or recipe.on_error == "nan":
        return
    values = ds[column]
    bad = [i for i, v in enumerate(values) if v is None]
    if bad:
        raise DataFormatError(f"row {bad[0]}, column {column!r}: {what} is null ({len(bad)} row(s) in all). Fill or "
                              "drop those rows (Dataset.filter), or set `on_error: nan` to score them anyway.")


def run_recipe(recipe: Recipe, *, command: str | None = None, push: bool = True, verbose: bool = True) -> RunResult:
    """Run a validated recipe end to end. ``push=False`` writes the local folder only."""
    start = time.perf_counter()
    check_target(recipe, push=push)
    models = recipe.build_models()
    scores = recipe.build_scores(models)
    ds = load_data(recipe)
    check_run(recipe, ds, scores, push=push)
    stages = [(f"loaded `{public_path(recipe.dataset.path)}` ({recipe.dataset.split})", _source_rows(recipe, ds))]
    if recipe.dataset.format == "wide":
        stages.append(("one row per response (wide data made long)", len(ds)))
    scored = score(ds, *scores, batch_size=recipe.batch_size)

    rankings: dict[str, Dataset] = {}
    matrix = None
    if recipe.rank_teachers:
        cfg = recipe.rank_teachers
        options = {"teacher": cfg.teacher, "bootstrap": cfg.bootstrap, "seed": cfg.seed, "group": cfg.group}
        for column in cfg.by:
            rankings[column] = rank_teachers(scored, by=column, **options)
        students = student_columns(scored, cfg.by)
        if students:
            matrix = rank_teachers(scored, by=students, **options)

    current = scored
    for f in recipe.filters:
        current, label = apply_filter(current, f)
        stages.append((f"filter: {label}", len(current)))
    sel = recipe.select
    selection: dict[str, Any] = {"method": sel.method}
    if sel.method == "best":
        current = select_best(current, by=sel.by, group=sel.group, among=sel.among, top_k=sel.top_k or 1)
        selection.update(by=sel.by, group=sel.group, among=sel.among, top_k=sel.top_k or 1,
                         higher_is_better=higher_is_better(scored, sel.by))
        among = f" among `{sel.among}`" if sel.among else ""
        stages.append((f"select: best `{sel.by}` per `{sel.group}`{among}", len(current)))
    elif sel.method == "divergence":
        current = select_by_divergence(current, top_k=sel.top_k, quantile=sel.quantile,
                                       min_teacher_fraction=sel.min_teacher_fraction)
        selection.update(by="prov_divergence", top_k=sel.top_k, quantile=sel.quantile,
                         min_teacher_fraction=sel.min_teacher_fraction)
        stages.append(("select: teacher-guided (prov_divergence)", len(current)))
    curated = current
    if recipe.output.fold:
        curated = fold(curated, by=PROMPT_ID)
        stages.append(("folded back to one row per prompt", len(curated)))

    out = recipe.output
    ctx = CardContext(
        split=out.split,
        source={"path": recipe.dataset.path, "name": recipe.dataset.name, "split": recipe.dataset.split,
                "revision": recipe.dataset.revision},
        stages=stages, selection=selection,
        rankings={column: table.to_list() for column, table in rankings.items()},
        matrix=matrix.to_list() if matrix is not None else None,
        recipe_yaml=recipe_yaml(recipe, public=True), command=command or "hf-select run <recipe>",
        license=out.license or source_license(recipe.dataset.path), title=out.title or recipe.name,
        teacher_column=recipe.rank_teachers.teacher if recipe.rank_teachers else "teacher",
        config_name=out.config, repo_id=out.repo_id if push else None, description=recipe.description,
        data_format=_format_label(recipe),
    )
    card, images = build_card(curated, scored, ctx)
    result = RunResult(scored, curated, stages, rankings, card, images)
    sources = [str(p) for p in local_paths(recipe.dataset.path, recipe.dataset.data_files)]
    if out.dir:
        from hf_select.hub import write_local

        write_local(curated, out.dir, split=out.split, card=card, images=images, config_name=out.config,
                    overwrite=out.overwrite, sources=sources)
        result.output_dir = out.dir
    if push and out.repo_id:
        from hf_select.hub import push as push_to_hub

        result.pushed = push_to_hub(curated, out.repo_id, split=out.split, card=card, images=images,
                                    config_name=out.config, private=out.private, branch=out.branch,
                                    sources=[recipe.dataset.path, *sorted(hub_repo_ids(recipe.dataset.path,
                                                                                       recipe.dataset.data_files))])
    result.seconds = time.perf_counter() - start
    if verbose:
        print(report.format_summary(stages, rankings, rows_out=len(curated), output_dir=result.output_dir,
                                    pushed=result.pushed, seconds=result.seconds))
    return result


def run_recipe_file(recipe: str, overrides: list[str] | None = None, *, push: bool = True,
                    dry_run: bool = False) -> RunResult:
    """`hf-select run RECIPE [--set key=value ...] [--dry-run]`."""
    parsed = load_recipe(recipe, overrides)
    if dry_run and not parsed.output.dir:
        parsed.output.dir = f"out/{parsed.name}"
    words = ["hf-select", "run", recipe] + [word for o in overrides or [] for word in ("--set", o)]
    return run_recipe(parsed, command=public_command(words), push=push and not dry_run)

