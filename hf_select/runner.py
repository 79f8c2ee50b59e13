"""Running a recipe: load, score (cached), filter, rank teachers, select, write card + data, publish.

Every score goes through `hf_select.score`, so rerunning a recipe on the same data is served from the
`datasets` cache without loading a model, and changing only filters or the selection reuses all scores.
Outputs are written to a temporary folder and swapped in; the source data is only ever read.
"""

from __future__ import annotations

import math
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset

from hf_select.cards import CardContext, build_card
from hf_select.metadata import higher_is_better
from hf_select.models import ScoringModel, load_model
from hf_select.recipes import FilterConfig, Recipe, RecipeError, builtin_data_path, load_recipe, score_parameters
from hf_select.scoring import score
from hf_select.select import (
    filter_equals,
    filter_quantile,
    filter_threshold,
    rank_teachers,
    select_best,
    select_by_divergence,
)
from hf_select.sources import hub_dataset_id, load_source


@dataclass
class RunResult:
    """Everything a run produced, for scripts and the demo."""

    scored: Dataset
    curated: Dataset
    steps: list[tuple[str, int]]
    rankings: dict[str, Dataset] = field(default_factory=dict)
    card: Any = None
    images: dict[str, bytes] = field(default_factory=dict)
    seconds: float = 0.0
    output_dir: str | None = None
    pushed: str | None = None


def build_models(recipe: Recipe) -> dict[str, ScoringModel]:
    """Lazily loaded models: a fully cached rerun never reads their weights."""
    models = {}
    for role, m in recipe.models.items():
        models[role] = load_model(m.name_or_path, gguf_file=m.gguf_file, revision=m.revision, dtype=m.dtype,
                                  device=m.device, device_map=m.device_map, lazy=True,
                                  token_budget=m.token_budget, compile=m.compile)
    return models


def build_scorers(recipe: Recipe, models: dict[str, ScoringModel], source: str) -> list:
    from hf_select.answers import CheckAnswers
    from hf_select.scores import GlobalNaturalness, LocalNaturalness, Provenance, RankSurprisal

    classes = {"global_naturalness": GlobalNaturalness, "local_naturalness": LocalNaturalness,
               "rank_surprisal": RankSurprisal, "provenance": Provenance, "answer_check": CheckAnswers}
    scorers = []
    for i, spec in enumerate(recipe.scores):
        cls, params = classes[spec.type], dict(spec.params)
        roles = {}
        for role in ("model", "teacher", "student", "distilled"):
            if role in params:
                name = params.pop(role)
                if name not in models:
                    raise RecipeError(f"{source}: scores.{i}.{role} names model {name!r}, but `models` only has "
                                      f"{sorted(models)}")
                roles[role] = models[name]
        unknown = set(params) - score_parameters(cls)
        if unknown:
            raise RecipeError(f"{source}: scores.{i} ({spec.type}) has unknown parameter(s) {sorted(unknown)}; "
                              f"allowed: {sorted(score_parameters(cls))}")
        if spec.type == "answer_check":
            scorers.append(cls(**params))
            continue
        if spec.type == "provenance":
            if "teacher" not in roles or "student" not in roles:
                raise RecipeError(f"{source}: scores.{i} (provenance) needs `teacher:` and `student:` model names")
            scorers.append(cls(**roles, on_error=recipe.on_error, **params))
            continue
        if "model" not in roles:
            if len(models) != 1:
                raise RecipeError(f"{source}: scores.{i} ({spec.type}) needs `model:` (one of {sorted(models)})")
            roles["model"] = next(iter(models.values()))
        scorers.append(cls(roles["model"], on_error=recipe.on_error, **params))
    return scorers


def apply_filter(ds: Dataset, f: FilterConfig) -> tuple[Dataset, str]:
    """One filter step and its description for the summary table."""
    if f.column not in ds.column_names:
        raise KeyError(f"filter on {f.column!r}: no such column (columns: {ds.column_names})")
    if f.equals is not None:
        return filter_equals(ds, f.column, f.equals), f"{f.column} == {f.equals}"
    if f.quantile is not None:
        lower, upper = f.quantile
        return filter_quantile(ds, f.column, lower=lower, upper=upper), f"{f.column} in quantiles [{lower}, {upper}]"
    if f.min is None and f.max is None:
        raise RecipeError(f"filter on {f.column!r} needs one of equals, min, max or quantile")
    bounds = " and ".join(x for x in (f"{f.column} >= {f.min}" if f.min is not None else "",
                                      f"{f.column} <= {f.max}" if f.max is not None else "") if x)
    return filter_threshold(ds, f.column, min=f.min, max=f.max, keep_nan=f.keep_nan), bounds


def _load(recipe: Recipe) -> Dataset:
    cfg = recipe.dataset
    ds = load_source(builtin_data_path(cfg.path), split=cfg.split, name=cfg.name, data_files=cfg.data_files,
                     revision=cfg.revision)
    renames = {theirs: ours for ours, theirs in cfg.columns.items() if theirs != ours}
    missing = [theirs for theirs in renames if theirs not in ds.column_names]
    if missing:
        raise RecipeError(f"dataset.columns maps to {missing[0]!r}, which is not a column of {cfg.path} "
                          f"(columns: {ds.column_names})")
    ds = ds.rename_columns(renames) if renames else ds
    if cfg.limit:
        ds = ds.select(range(min(cfg.limit, len(ds))))
    return ds


def _source_license(path: str) -> str | None:
    """The source's license when its card is at hand: a README.md beside a local file, or the card of a Hub
    dataset as `load_dataset` left it in the local cache (no extra network call)."""
    from huggingface_hub import DatasetCard, try_to_load_from_cache

    local = Path(builtin_data_path(path))
    if local.exists():
        readme = (local.parent if local.is_file() else local) / "README.md"
    elif hub_dataset_id(path):
        cached = try_to_load_from_cache(path, "README.md", repo_type="dataset")
        readme = Path(cached) if isinstance(cached, str) else None
    else:
        return None
    if readme is None or not readme.is_file():
        return None
    license_ = DatasetCard.load(readme).data.license
    return license_ if isinstance(license_, str) else None


def run_recipe(recipe: Recipe, recipe_yaml: str = "", *, command: str | None = None, push: bool = True,
               verbose: bool = True) -> RunResult:
    """Run a validated recipe end to end. ``push=False`` writes the local folder only."""
    start = time.perf_counter()
    source = recipe.name
    models = build_models(recipe)
    scorers = build_scorers(recipe, models, source)
    ds = _load(recipe)
    steps = [(f"loaded `{recipe.dataset.path}` ({recipe.dataset.split})", len(ds))]
    scored = score(ds, *scorers, batch_size=recipe.batch_size)

    rankings = {}
    ranking = recipe.rank_teachers
    if ranking and ranking.teacher in scored.column_names:
        for column in ranking.by:
            rankings[column] = rank_teachers(scored, by=column, teacher=ranking.teacher)

    current = scored
    for f in recipe.filters:
        current, label = apply_filter(current, f)
        steps.append((f"filter: {label}", len(current)))
    sel = recipe.select
    selection: dict[str, Any] = {"method": sel.method}
    if sel.method == "best":
        current = select_best(current, by=sel.by, group=sel.group, among=sel.among, top_k=sel.top_k or 1)
        selection.update(by=sel.by, group=sel.group, among=sel.among, top_k=sel.top_k or 1,
                         higher_is_better=higher_is_better(scored, sel.by))
        among = f" among `{sel.among}`" if sel.among else ""
        steps.append((f"select: best `{sel.by}` per `{sel.group}`{among}", len(current)))
    elif sel.method == "divergence":
        current = select_by_divergence(current, top_k=sel.top_k, quantile=sel.quantile,
                                       min_teacher_fraction=sel.min_teacher_fraction)
        selection.update(top_k=sel.top_k, quantile=sel.quantile, min_teacher_fraction=sel.min_teacher_fraction)
        steps.append(("select: teacher-guided (prov_divergence)", len(current)))
    curated = current

    out = recipe.output
    first_ranking = next(iter(rankings.values()), None)
    ctx = CardContext(
        split=out.split,
        source={"path": recipe.dataset.path, "name": recipe.dataset.name, "split": recipe.dataset.split,
                "revision": recipe.dataset.revision},
        steps=steps, selection=selection,
        ranking=first_ranking.to_list() if first_ranking is not None else None,
        ranking_by=next(iter(rankings), None) or {"best": sel.by, "divergence": "prov_divergence"}.get(sel.method),
        recipe_yaml=recipe_yaml, command=command or "hf-select run <recipe>",
        license=out.license or _source_license(recipe.dataset.path), title=out.title,
    )
    card, images = build_card(curated, scored, ctx)
    result = RunResult(scored, curated, steps, rankings, card, images)
    if out.dir:
        from hf_select.hub import write_local

        write_local(curated, out.dir, split=out.split, card=card, images=images)
        result.output_dir = out.dir
    if push and out.repo_id:
        from hf_select.hub import push as push_to_hub

        result.pushed = push_to_hub(curated, out.repo_id, split=out.split, card=card, images=images,
                                    private=out.private, branch=out.branch,
                                    source_repo_id=hub_dataset_id(recipe.dataset.path))
    result.seconds = time.perf_counter() - start
    if verbose:
        print(format_summary(result))
    return result


def format_summary(result: RunResult) -> str:
    width = max(len(name) for name, _ in result.steps) + 2
    lines = ["", f"{'step':<{width}}{'rows':>6}"]
    lines += [f"{name:<{width}}{rows:>6}" for name, rows in result.steps]
    for column, table in result.rankings.items():
        lines += ["", f"teacher ranking by {column}:", format_ranking(table)]
    if result.output_dir:
        lines.append(f"\nwrote {len(result.curated)} rows + card to {result.output_dir}")
    if result.pushed:
        lines.append(f"published: {result.pushed}")
    lines.append(f"done in {result.seconds:.1f} s")
    return "\n".join(lines)


def format_ranking(table: Dataset) -> str:
    has_accuracy = "accuracy" in table.column_names
    head = f"  {'rank':>4}  {'teacher':<16}{'n':>5}{'mean':>10}{'median':>10}{'std':>9}" + (
        f"{'accuracy':>10}" if has_accuracy else "")
    rows = [head]
    for r in table:
        std = f"{r['std']:>9.4f}" if r["std"] is not None and not math.isnan(r["std"]) else f"{'-':>9}"
        acc = f"{r['accuracy']:>9.1%}" if has_accuracy and r["accuracy"] is not None else ""
        rows.append(f"  {r['rank']:>4}  {r['teacher']:<16}{r['count']:>5}{r['mean']:>10.4f}{r['median']:>10.4f}"
                    f"{std}{' ' + acc if acc else ''}")
    return "\n".join(rows)


def run_recipe_file(recipe: str, overrides: list[str] | None = None, *, push: bool = True,
                    dry_run: bool = False) -> RunResult:
    """`hf-select run RECIPE [--set key=value ...] [--dry-run]`."""
    parsed, text = load_recipe(recipe, overrides)
    if dry_run and not parsed.output.dir:
        parsed.output.dir = f"out/{parsed.name}"
    words = [recipe] + [word for o in overrides or [] for word in ("--set", o)]
    command = "hf-select run " + " ".join(shlex.quote(w) for w in words)
    return run_recipe(parsed, text, command=command, push=push)
