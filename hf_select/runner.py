"""Running a recipe: check, load, score (cached), run the stages, write the card and data, publish.

Before anything is scored, `check_run` verifies everything a run depends on that a load of the recipe could not:
every column a score or a stage reads exists in the data or comes from a score, the columns whose nulls are
mistakes hold none, the output folder may be written and the Hub repo is not the source. A mistake found after
an hour of scoring is a bug. Every score goes through `hf_select.score`, so rerunning a recipe on the same data
is served from the `datasets` cache without loading a model, and changing only filters or the selection reuses
all scores. Under ``accelerate launch`` every rank scores its shard and the main process joins them, then runs
the rest once (`hf_select.distributed`). After scoring, the recipe's stages (`hf_select.stages`) run in order;
the runner knows no score by name. Outputs go through `hf_select.outputs`; the source data is only ever read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from datasets import Dataset

from hf_select import report
from hf_select.cards import CardContext, build_card, public_command, public_path, viewer_folder
from hf_select.distributed import score_split
from hf_select.errors import DataFormatError, MissingColumnError
from hf_select.metadata import correctness_column
from hf_select.recipes import Recipe, load_recipe, recipe_yaml
from hf_select.results import RunRecord
from hf_select.run_scores import completeness_for
from hf_select.scoring import MapPass
from hf_select.sources import hub_repo_ids, load_source, local_paths, refuse_publishing_over, source_license
from hf_select.stages import Stage, recipe_stages
from hf_select.wide import PROMPT_ID, explode


@dataclass
class RunResult:
    """Everything a run produced, for scripts and the demo."""

    scored: Dataset
    curated: Dataset
    record: RunRecord  # what every stage found (`hf_select.results`)
    card: Any = None
    images: dict[str, bytes] = field(default_factory=dict)
    viewer: dict[str, bytes] = field(default_factory=dict)  # the step viewer's files, with ``output.viewer``
    seconds: float = 0.0
    output_dir: str | None = None
    pushed: str | None = None

    @property
    def stages(self) -> list[tuple[str, int]]:
        """Rows left after each step."""
        return self.record.steps

    @property
    def rankings(self) -> dict[str, Dataset]:
        return self.record.rankings

    @property
    def comparison(self) -> Any:
        """The `hf_select.compare.Comparison`, when the recipe compares scores."""
        return self.record.comparison


def load_data(recipe: Recipe) -> Dataset:
    """The recipe's rows, with its column mapping applied and its row limit."""
    cfg = recipe.dataset
    ds = load_source(cfg.path, split=cfg.split, name=cfg.name, data_files=cfg.data_files, revision=cfg.revision)
    renames = {theirs: ours for ours, theirs in cfg.columns.items() if theirs != ours}
    missing = [theirs for theirs in renames if theirs not in ds.column_names]
    if missing:
        raise MissingColumnError(
            f"dataset.columns maps to {missing[0]!r}, which is not a column of {cfg.path} (columns: {ds.column_names})"
        )
    ds = ds.rename_columns(renames) if renames else ds
    if cfg.limit:
        ds = ds.select(range(min(cfg.limit, len(ds))))
    if cfg.format == "wide":
        ds = explode(ds, cfg.responses, with_columns=cfg.with_columns, teachers=cfg.teachers)
    return ds


def training_layout(scores: list[MapPass]) -> Literal["chat", "plain"]:
    """How the curated split lays out its training examples: plain strings when every score that laid out a
    prompt did it plainly (the context they were scored in), else chat messages."""
    layouts = {getattr(p.params, "layout", None) for item in scores for p in item.passes()} - {None, "auto"}
    return "plain" if layouts == {"plain"} else "chat"


def training_student(scores: list[MapPass]) -> Any:
    """The model whose tokenizer the curated split is meant to train with: the student (a provenance score's
    ``student``, else the first score's model); None when no score has a model."""
    passes = [p for item in scores for p in item.passes() if p.model is not None]
    student = next((p for p in passes if getattr(p.params, "role", None) == "student"), None)
    chosen = student or next(iter(passes), None)
    return chosen.model if chosen is not None else None


def check_run(recipe: Recipe, ds: Dataset, scores: list[MapPass], stages: list[Stage]) -> None:
    """Everything that would fail after scoring, checked before it (see the module docstring)."""
    available, missing, data_columns = set(ds.column_names), [], []  # every missing column at once
    for map_pass in (p for item in scores for p in item.passes()):
        for column in map_pass.input_columns():
            if column not in available and column not in data_columns:
                missing.append(f"scores ({map_pass.key}) read {column!r}")
                data_columns.append(column)
        available |= set(map_pass.features())
    for stage in stages:
        for key, column in stage.reads(available):
            if column not in available:
                missing.append(f"`{key}` is {column!r}")
                if key.endswith((".teacher", ".group")) and column not in data_columns:
                    data_columns.append(column)
    if missing:
        mapping = ", ".join(f"{column}: <your column>" for column in data_columns)
        hint = (
            (
                f". Name the data's own columns once, for every score and stage: `dataset.columns: {{{mapping}}}` "
                f"(--set 'dataset.columns={{{mapping}}}')"
            )
            if data_columns
            else ""
        )
        raise MissingColumnError(
            f"{'; '.join(missing)}: neither a column of the data nor made by a score "
            f"(available: {sorted(available)}){hint}"
        )
    for stage in stages:
        stage.check_data(ds)
    if recipe.executor.type == "ray":
        from hf_select.ray import check_ray

        check_ray()
    if recipe.on_error != "nan":
        nullable = [(f"scores ({p.key})", c) for item in scores for p in item.passes() for c in p.non_null_columns()]
        for key, column in [*nullable, *(need for stage in stages for need in stage.non_null())]:
            _no_nulls(ds, column, key)
    out = recipe.output
    if out.dir:
        from hf_select.hub import check_write_local

        models = {id(p.model): p.model for item in scores for p in item.passes() if p.model is not None}
        check_write_local(
            out.dir,
            split=out.split,
            config_name=out.config,
            overwrite=out.overwrite,
            sources=local_paths(recipe.dataset.path, recipe.dataset.data_files),
            inside_of=[m.folder for m in models.values() if m.folder],
            viewer=out.viewer,
        )


def check_target(recipe: Recipe, *, push: bool) -> None:
    """Refuse to publish over the source, however it was named, before even reading it."""
    out = recipe.output
    if push and out.repo_id:
        refuse_publishing_over(out.repo_id, hub_repo_ids(recipe.dataset.path, recipe.dataset.data_files))


def _no_nulls(ds: Dataset, column: str, key: str) -> None:
    """A null where a value is needed is a mistake in the data, named by row."""
    if column not in ds.column_names:
        return
    bad = [i for i, v in enumerate(ds[column]) if v is None]
    if bad:
        raise DataFormatError(
            f"row {bad[0]}, column {column!r} ({key}) is null ({len(bad)} row(s) in all). Fill or "
            "drop those rows (Dataset.filter), or set `on_error: nan` to score them anyway."
        )


def run_recipe(
    recipe: Recipe, *, command: str | None = None, push: bool = True, verbose: bool = True
) -> RunResult | None:
    """Run a validated recipe end to end. ``push=False`` writes the local folder only. Under ``accelerate launch``
    every rank scores its shard and the main process does the rest (`hf_select.distributed`): it returns the
    result, the other ranks None."""
    start = time.perf_counter()
    check_target(recipe, push=push)
    scores = recipe.build_scores(recipe.build_models())
    scores += completeness_for(scores, recipe.dataset.shape)
    ds = load_data(recipe)
    stages = recipe_stages(recipe, training_layout(scores), training_student(scores))
    check_run(recipe, ds, scores, stages)
    record = RunRecord(loaded=_loaded(recipe, ds))
    scored = _score(recipe, ds, scores)
    if scored is None:
        return None  # another rank of an `accelerate launch`: its shard is scored; the main process does the rest
    curated = scored
    for stage in stages:
        record.results.append(stage(curated))
        curated = record.results[-1].data
    card, images = build_card(curated, scored, _card_context(recipe, record, command, scored))
    result = RunResult(scored, curated, record, card, images)
    if recipe.output.viewer:
        result.viewer = _viewer(recipe, record, scored)
    out, source = recipe.output, recipe.dataset
    if out.dir:
        from hf_select.hub import write_local

        write_local(
            curated,
            out.dir,
            split=out.split,
            card=card,
            images=images,
            viewer=result.viewer,
            config_name=out.config,
            overwrite=out.overwrite,
            sources=[
                *map(str, local_paths(source.path, source.data_files)),
                *hub_repo_ids(source.path, source.data_files),
            ],
        )
        result.output_dir = out.dir
    if push and out.repo_id:
        from hf_select.hub import push as push_to_hub

        result.pushed = push_to_hub(
            curated,
            out.repo_id,
            split=out.split,
            card=card,
            images=images,
            viewer=result.viewer,
            config_name=out.config,
            private=out.private,
            branch=out.branch,
            sources=[recipe.dataset.path, *sorted(hub_repo_ids(recipe.dataset.path, recipe.dataset.data_files))],
        )
    result.seconds = time.perf_counter() - start
    if verbose:
        print(
            report.format_summary(
                record.steps,
                record.rankings,
                rows_out=len(curated),
                output_dir=result.output_dir,
                pushed=result.pushed,
                seconds=result.seconds,
                comparison=record.comparison,
                viewer=viewer_folder(out.config, out.split) if out.viewer else None,
            )
        )
    return result


def _score(recipe: Recipe, ds: Dataset, scores: list[MapPass]) -> Dataset | None:
    """The scored split: on this process (or each rank of an `accelerate launch`), or on Ray actors."""
    executor = recipe.executor
    if executor.type == "ray":
        from hf_select.ray import RayOptions, score_split_ray

        options = RayOptions(
            actors=executor.actors,
            gpus_per_actor=executor.gpus_per_actor,
            batch_size=executor.batch_size or recipe.batch_size,
            checkpoint_dir=executor.checkpoint_dir,
            address=executor.address,
        )
        return score_split_ray(ds, *scores, options=options)
    return score_split(ds, *scores, batch_size=recipe.batch_size, checkpoint_rows=recipe.checkpoint_rows)


def _loaded(recipe: Recipe, ds: Dataset) -> list[tuple[str, int]]:
    """The card's first lines: what was loaded (prompts, for wide data, then one row per response)."""
    loaded = f"loaded `{public_path(recipe.dataset.path)}` ({recipe.dataset.split})"
    if recipe.dataset.format == "wide":
        return [(loaded, len(set(ds[PROMPT_ID]))), ("one row per response (wide data made long)", len(ds))]
    return [(loaded, len(ds))]


def _viewer(recipe: Recipe, record: RunRecord, scored: Dataset) -> dict[str, bytes]:
    """The step viewer of every scored response, with the run's rankings and, when it selected, its picks."""
    from hf_select.viewer import ViewerData, viewer_files

    selected = record.selected
    about = ViewerData(
        title=recipe.output.title or recipe.name,
        teacher_column=_teacher_column(recipe),
        picked=selected.data if selected else None,
        selection=selected.step.removeprefix("select: ") if selected else None,
        # the run's rankings; a run that ranked nothing leaves the viewer to rank the rows it shows
        rankings={column: table.to_list() for column, table in record.rankings.items()} or None,
        comparison=record.comparison.format() if record.comparison is not None else None,
    )
    return viewer_files(scored, about, recipe.dataset.shape)


def _teacher_column(recipe: Recipe) -> str:
    """The column naming each response's teacher: wherever the recipe names it (rankings, then the comparison)."""
    if recipe.rank_teachers:
        return recipe.rank_teachers.teacher
    return recipe.compare.teacher if recipe.compare else "teacher"


def _card_context(recipe: Recipe, record: RunRecord, command: str | None, scored: Dataset) -> CardContext:
    out, source = recipe.output, recipe.dataset
    teacher = _teacher_column(recipe)
    return CardContext(
        split=out.split,
        source={"path": source.path, "name": source.name, "split": source.split, "revision": source.revision},
        run=record,
        recipe_yaml=recipe_yaml(recipe, public=True),
        command=command or "hf-select run <recipe>",
        license=out.license or source_license(source.path),
        title=out.title or recipe.name,
        teacher_column=teacher,
        correct_column=correctness_column(scored),
        config_name=out.config,
        repo_id=out.repo_id,
        description=recipe.description,
        data_format=source.format,
        folded=out.fold,
        viewer=out.viewer,
    )


def run_recipe_file(
    recipe: str, overrides: list[str] | None = None, *, push: bool = True, dry_run: bool = False
) -> RunResult | None:
    """`hf-select run RECIPE [--set key=value ...] [--dry-run]`."""
    parsed = load_recipe(recipe, overrides)
    if dry_run and not parsed.output.dir:
        parsed.output.dir = f"out/{parsed.name}"
    words = ["hf-select", "run", recipe] + [word for o in overrides or [] for word in ("--set", o)]
    return run_recipe(parsed, command=public_command(words), push=push and not dry_run)
