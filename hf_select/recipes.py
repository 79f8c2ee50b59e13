"""Recipe files: one YAML document that says how a curated dataset is made, validated against dataclasses.

Every option lives in one dataclass field with a help text (the schema, as in trl's configs), and every
dataclass checks itself in ``__post_init__``; the score entries are checked against the score registry (each
score's parameter dataclass and the data's `Shape`, given once in ``dataset:``; model roles) and built with
lazily loaded models. So a recipe with a wrong key, a
wrong type, contradictory filters or an unknown score parameter fails at load, with the file, line and key,
before any data or model is read. ``--set key=value`` overrides any value, with dotted keys (``select.by``,
``models.student.name_or_path``, ``scores.1.window``). See ``recipes/`` for the shipped recipes and
`hf_select.runner` for what running one does.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import math
import re
import reprlib
import types
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from hf_select._compat import check_config_name, check_split_name
from hf_select.config import option
from hf_select.errors import ConfigError, NotFoundError, RecipeError
from hf_select.formats import Part, Shape, Turns
from hf_select.models import ModelConfig, ScoringModel
from hf_select.scores import SCORES, option_type, score_class, score_options
from hf_select.scoring import MapPass, OnError
from hf_select.sources import is_local


class _Invalid(ConfigError):
    """Raised by a recipe dataclass's ``__post_init__``: ``key`` is the offending field, for its line."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _shape_field(name: str) -> Any:
    """A `Shape` field as a recipe's ``dataset:`` key: the same help and default (the shape is given once)."""
    shape_field = Shape.__dataclass_fields__[name]
    return option(shape_field.metadata["help"], shape_field.default)


def _fraction(key: str, value: float | None) -> None:
    if value is not None and not (0.0 <= value <= 1.0):  # NaN fails too
        raise _Invalid(key, f"must be a number in [0, 1], got {value!r}")


@dataclass
class DatasetConfig:
    path: str = option(
        "What `load_dataset` accepts (Hub id, builder, hf:// URL), a local .jsonl/.json/.parquet/.csv "
        "file, a `save_to_disk` folder, or `hf_select:math_teachers` for the bundled example data."
    )
    name: str | None = option("Dataset configuration name.", None)
    split: str = option("Split to curate.", "train")
    data_files: str | list[str] | None = option("`data_files` for builder names such as `json`.", None)
    revision: str | None = option("Hub revision of the dataset.", None)
    columns: dict[str, str] = option(
        "Map from hf_select's column names (prompt, response, teacher, answer) to yours.", default_factory=dict
    )
    limit: int | None = option("Use only the first N rows (quick trials).", None)
    format: Literal["text", "messages", "sharegpt", "prompt_completion", "wide"] = option(
        "The shape of the rows: text (prompt, response), messages (chat), sharegpt (conversations), "
        "prompt_completion, or wide (several responses per row, made long; see `responses`).",
        "text",
    )
    prompt_column: str | None = _shape_field("prompt_column")
    response_column: str | None = _shape_field("response_column")
    system_column: str | None = _shape_field("system_column")
    turns: Turns = _shape_field("turns")
    part: Part = _shape_field("part")
    reasoning_column: str | None = _shape_field("reasoning_column")
    responses: str | list[str] | dict[str, Any] | None = option(
        "wide: a list column of generations, a list of columns (one per teacher), or {teacher: column} (a column "
        "may be {reasoning: col, answer: col}).",
        None,
    )
    with_columns: list[str] = option(
        "wide: list columns aligned with the generations (one value per response).", default_factory=list
    )
    teachers: str | None = option("wide: a list column naming each generation's teacher, or one teacher name.", None)

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise _Invalid("limit", f"must be a positive number of rows, got {self.limit}")
        if (self.format == "wide") != (self.responses is not None):
            raise _Invalid(
                "responses" if self.responses is not None else "format",
                "`responses` names the generations of wide data, and wide data needs it",
            )
        if self.format != "wide" and (self.with_columns or self.teachers):
            raise _Invalid("with_columns" if self.with_columns else "teachers", "applies to `format: wide` only")
        if self.format == "wide" and self.response_column is not None:
            raise _Invalid(
                "response_column", "wide data names its generations with `responses`; each becomes a `response` row"
            )
        self.shape  # noqa: B018 - a shape that cannot be read fails here

    @property
    def shape(self) -> Shape:
        """How scores read the rows (given once, here): wide data is made long (text) before scoring."""
        try:
            return Shape(
                "text" if self.format == "wide" else self.format,
                self.prompt_column,
                self.response_column if self.format != "wide" else None,
                self.system_column,
                self.turns,
                self.part,
                self.reasoning_column,
            )
        except ConfigError as err:
            raise _Invalid("format", str(err)) from None


@dataclass
class ScoreConfig:
    type: str = option(
        "Which score (see hf_select.scores.SCORES). Its parameters sit next to `type` (e.g. "
        "`window: 2`); `model:` names an entry of `models` (provenance takes `teacher:`, "
        "`student:` and optionally `distilled:` instead)."
    )
    params: dict[str, Any] = option("Everything else written next to `type`.", default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in SCORES:
            raise _Invalid("type", f"must be one of {sorted(SCORES)}, got {self.type!r}")
        cls = score_class(self.type)
        allowed = set(score_options(cls)) | set(cls.model_roles)
        unknown = sorted(set(self.params) - allowed)
        if unknown:
            raise _Invalid(unknown[0], f"({self.type}) has unknown parameter(s) {unknown}; allowed: {sorted(allowed)}")
        for name, value in self.params.items():
            if name in cls.model_roles:
                if not isinstance(value, str):
                    raise _Invalid(name, f"names an entry of `models`, got {value!r}")
                continue
            try:
                self.params[name] = _check(option_type(cls, name), value, "", name)
            except RecipeError as err:
                raise _Invalid(name, str(err).partition(f"`{name}` ")[2]) from None

    def build(self, models: dict[str, ScoringModel], on_error: str, shape: Shape) -> MapPass:
        """The score, with its models by role (a lone model serves a score that names none), the recipe's
        ``on_error`` unless the score sets its own, and the data's shape (with the score's own changes)."""
        cls = score_class(self.type)
        options = {k: v for k, v in self.params.items() if k not in cls.model_roles}
        roles = {role: models[self.params[role]] for role in cls.model_roles if role in self.params}
        if "model" in cls.model_roles and "model" not in roles and len(models) == 1:
            roles["model"] = next(iter(models.values()))
        if "on_error" in score_options(cls):
            options.setdefault("on_error", on_error)
        if cls.reads_shape:
            changes = {
                k: options.pop(k)
                for k in list(options)
                if k in score_options(cls) and k in {f.name for f in dataclasses.fields(Shape)}
            }
            options["shape"] = shape.replace(**changes)
        return cls(**roles, **options)


@dataclass
class FilterConfig:
    column: str = option("Column to filter on.")
    equals: Any = option("Keep rows whose value equals this (e.g. `true` for is_correct).", None)
    min: float | None = option("Keep rows with value >= min.", None)
    max: float | None = option("Keep rows with value <= max.", None)
    quantile: list[float] | None = option("Keep rows between these two quantiles of the column, e.g. [0.5, 1.0].", None)
    keep_nan: bool = option("Also keep rows whose value is NaN/null (dropped by default).", False)

    def __post_init__(self) -> None:
        kinds = [
            k
            for k, given in (
                ("equals", self.equals is not None),
                ("min/max", self.min is not None or self.max is not None),
                ("quantile", self.quantile is not None),
            )
            if given
        ]
        if len(kinds) != 1:
            raise _Invalid(
                "column",
                "a filter takes exactly one of `equals`, `min`/`max` or `quantile`, got "
                + (" and ".join(kinds) if kinds else "none"),
            )
        for key in ("min", "max"):
            value = getattr(self, key)
            if value is not None and math.isnan(value):
                raise _Invalid(key, "must be a number, got NaN")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise _Invalid("min", f"({self.min}) is greater than max ({self.max}); no row could pass")
        if self.quantile is not None:
            if len(self.quantile) != 2:
                raise _Invalid("quantile", f"must be two quantiles [lower, upper], got {self.quantile}")
            _fraction("quantile", self.quantile[0])
            _fraction("quantile", self.quantile[1])
            if self.quantile[0] > self.quantile[1]:
                raise _Invalid("quantile", f"lower {self.quantile[0]} is greater than upper {self.quantile[1]}")


@dataclass
class SelectConfig:
    method: Literal["best", "divergence", "none"] = option(
        "best: top response(s) per group by a score; divergence: teacher-guided provenance selection; none.", "best"
    )
    by: str | None = option(
        "best: score column to select by (its direction comes from the dataset's metadata); default local_naturalness.",
        None,
    )
    group: str | None = option("best: one selection per value of this column; default prompt.", None)
    among: str | None = option(
        "best: only rows where this boolean column is true are candidates (e.g. is_correct).", None
    )
    top_k: int | None = option("best: responses kept per group (default 1); divergence: rows kept overall.", None)
    higher_is_better: bool | None = option(
        "best: which way `by` is better, for a score without hf_select metadata "
        "(default: the score's recorded direction).",
        None,
    )
    bounded: bool | None = option(
        "best: candidates stay within the score's recorded bound (IFD <= 1, as Cherry "
        "selects); false: every row competes. Default true.",
        None,
    )
    quantile: float | None = option("divergence: keep rows at or above this quantile of prov_divergence.", None)
    min_teacher_fraction: float | None = option(
        "divergence: keep rows with at least this teacher-originated share.", None
    )

    def __post_init__(self) -> None:
        if self.top_k is not None and self.top_k < 1:
            raise _Invalid("top_k", f"must be at least 1, got {self.top_k}")
        _fraction("quantile", self.quantile)
        _fraction("min_teacher_fraction", self.min_teacher_fraction)
        only = {
            "best": ("by", "group", "among", "higher_is_better", "bounded"),
            "divergence": ("quantile", "min_teacher_fraction"),
        }
        for method, keys in only.items():
            for key in keys:
                if getattr(self, key) is not None and self.method != method:
                    raise _Invalid(key, f"applies to `method: {method}` only (this selection is `{self.method}`)")
        if self.method == "none" and self.top_k is not None:
            raise _Invalid("top_k", "applies to `method: best` or `divergence` only")
        if (
            self.method == "divergence"
            and self.top_k is None
            and self.quantile is None
            and self.min_teacher_fraction is None
        ):
            raise _Invalid("method", "divergence needs at least one of top_k, quantile or min_teacher_fraction")
        if self.method == "best":
            self.by = self.by or "local_naturalness"
            self.group = self.group or "prompt"


@dataclass
class RankingConfig:
    by: list[str] = option(
        "Score columns to rank teachers by (each gets a table in the card; one score under "
        "several students also gets a teacher x student table).",
        default_factory=lambda: ["local_naturalness"],
    )
    teacher: str = option("Column naming the teacher of each response.", "teacher")
    higher_is_better: bool | None = option(
        "Which way the columns are better, for scores without hf_select metadata "
        "(default: each score's recorded direction).",
        None,
    )
    bootstrap: int = option(
        "Prompt resamples for 95% intervals, rank ranges, P(first) and paired comparisons (0: none; 1000 is plenty).", 0
    )
    seed: int | None = option("Seed of the bootstrap (results are deterministic for a seed); default 0.", None)
    group: str | None = option("Column naming the prompt, resampled as a unit (default: prompt_id, else prompt).", None)

    def __post_init__(self) -> None:
        if not self.by:
            raise _Invalid("by", "needs at least one score column")
        if self.bootstrap < 0 or 0 < self.bootstrap < 100:
            raise _Invalid("bootstrap", f"must be 0 (none) or at least 100 resamples, got {self.bootstrap}")
        for key in ("seed", "group"):
            if getattr(self, key) is not None and not self.bootstrap:
                raise _Invalid(key, "applies to the bootstrap only: set `bootstrap` (e.g. 1000) or drop it")


@dataclass
class CompareConfig:
    by: list[str] = option(
        "Score columns to compare: agreement, length confound and, with correctness labels, the "
        "accuracy of each one's picks (see hf_select.compare).",
        default_factory=list,
    )
    teacher: str = option("Column naming the teacher of each response.", "teacher")
    group: str | None = option("Column naming the prompt (default: prompt_id, else prompt).", None)
    bootstrap: int = option("Prompt resamples for the 95% intervals (at least 100).", 1000)
    seed: int = option("Seed of the bootstrap (results are deterministic for a seed).", 0)
    correct: str | None = option("Correctness column (default: the answer checks' column, else is_correct).", None)
    families: dict[str, str] | None = option(
        "Each teacher's model family, to flag a score whose top teacher shares the student's.", None
    )
    student_family: str | None = option("The student's model family (with `families`).", None)
    ground_truth: dict[str, float] | str | None = option(
        "Validate teacher rankings against this instead of the teachers' answer accuracy: {teacher: value} (higher "
        "is better, e.g. each teacher's post-SFT benchmark accuracy) or a column holding each teacher's value.",
        None,
    )
    prompts: Literal["matched", "all"] = option(
        "matched: only prompts every teacher answered (teacher means over "
        "the same questions); all: every prompt, with a warning.",
        "matched",
    )
    bounded: bool = option("Picks stay within each score's recorded bound (IFD <= 1); false: any row.", True)

    def __post_init__(self) -> None:
        from hf_select.compare import option_problem

        problem = option_problem(self.by, self.bootstrap, self.families, self.student_family, self.prompts)
        if problem:
            raise _Invalid(*problem)


@dataclass
class OutputConfig:
    dir: str | None = option("Folder for the curated split in Hub layout (data/*.parquet, README.md, images/).", None)
    repo_id: str | None = option("Publish to this Hub dataset repo (never the source repo).", None)
    split: str = option("Name of the curated split.", "train")
    config: str = option("Dataset config (subset) of the split; splits of one config share their columns.", "default")
    private: bool = option("Create the Hub repo as private (refused for an existing public repo).", False)
    branch: str | None = option("Hub branch to publish to (created if missing).", None)
    title: str | None = option("Pretty name for the card (default: the recipe's name).", None)
    license: str | None = option("License for the card; default: the source's, when known.", None)
    overwrite: bool = option(
        "Allow writing into a non-empty folder hf_select did not create (its other files are kept).", False
    )
    fold: bool = option("wide data: fold the selected rows back to one row per prompt (lists of responses).", False)
    viewer: bool = option(
        "Write the step viewer (every scored response side by side, steps shaded by score) next "
        "to the card, and publish it with the split.",
        False,
    )

    def __post_init__(self) -> None:
        for key, check in (("split", check_split_name), ("config", check_config_name)):
            try:
                check(getattr(self, key))
            except ConfigError as err:
                raise _Invalid(key, str(err)) from None
        if self.repo_id is None and (self.private or self.branch):
            raise _Invalid("private" if self.private else "branch", "applies when publishing: set `output.repo_id`")


@dataclass
class ExecutorConfig:
    type: Literal["local", "ray"] = option(
        "local: this process (or each process of an `accelerate launch`); ray: Ray Data actors on a Ray cluster "
        '(pip install "hf_select[ray]"), the rest of the run on this driver.',
        "local",
    )
    actors: int = option("ray: scoring actors, each loading the models once.", 1)
    gpus_per_actor: float = option("ray: GPUs each actor takes (0: CPU only).", 0)
    batch_size: int | None = option("ray: rows per batch an actor scores (default: the recipe's batch_size).", None)
    address: str | None = option("ray: the cluster's address (default: RAY_ADDRESS, else a new local cluster).", None)
    checkpoint_dir: str | None = option(
        "ray: folder for finished batches, on storage every node sees (default: $HF_SELECT_CACHE/ray).", None
    )

    def __post_init__(self) -> None:
        if self.type == "local":
            given = [
                f.name for f in dataclasses.fields(self) if f.name != "type" and getattr(self, f.name) != f.default
            ]
            if given:
                raise _Invalid(given[0], "applies to `executor.type: ray` only")
        if self.actors < 1:
            raise _Invalid("actors", f"must be at least 1, got {self.actors}")
        if self.gpus_per_actor < 0:
            raise _Invalid("gpus_per_actor", f"must be 0 or more, got {self.gpus_per_actor}")
        if self.batch_size is not None and self.batch_size < 1:
            raise _Invalid("batch_size", f"must be at least 1, got {self.batch_size}")


@dataclass
class Recipe:
    name: str = option("Short name of the recipe (the card's title unless output.title is set).")
    dataset: DatasetConfig = option("Where the rows come from.")
    models: dict[str, ModelConfig] = option("Models by role name (student, teacher, ...).", default_factory=dict)
    scores: list[ScoreConfig] = option("Scores to add, in order (cached: reruns reuse them).", default_factory=list)
    filters: list[FilterConfig] = option("Filters applied after scoring, in order.", default_factory=list)
    select: SelectConfig = option("How curated rows are chosen.", default_factory=SelectConfig)
    rank_teachers: RankingConfig | None = option("Rank teachers (when the data has a teacher column).", None)
    compare: CompareConfig | None = option("Compare scores: which one to trust on this data (a card section).", None)
    output: OutputConfig = option("Where the curated split goes.", default_factory=OutputConfig)
    executor: ExecutorConfig = option(
        "Where scoring runs: this process (default) or a Ray cluster.", default_factory=ExecutorConfig
    )
    description: str = option("What this recipe is for (shown in the card).", "")
    batch_size: int = option("Rows per engine call (speed only).", 64)
    checkpoint_rows: int = option(
        "Rows per separately cached chunk: an interrupted run (or a lost rank) resumes from the last finished chunk.",
        1000,
    )
    on_error: OnError = option(
        "raise: stop at the first bad row; nan: NaN scores + hf_select_error (answer checks too).", "raise"
    )
    incomplete: Literal["exclude", "keep"] = option(
        "Responses that were cut off (an unclosed think block, finish_reason 'length', no final answer where "
        "answers are checked): exclude them from rankings, filters and selection, or keep them.",
        "exclude",
    )

    def __post_init__(self) -> None:
        for key in ("batch_size", "checkpoint_rows"):
            if getattr(self, key) < 1:
                raise _Invalid(key, f"must be at least 1, got {getattr(self, key)}")
        if (
            self.executor.type == "ray"
            and self.checkpoint_rows != Recipe.__dataclass_fields__["checkpoint_rows"].default
        ):
            raise _Invalid(
                "checkpoint_rows",
                "applies to local runs; on Ray every batch is checkpointed: set `executor.batch_size`",
            )
        if self.output.fold and self.dataset.format != "wide":
            raise _Invalid("output", "`output.fold` folds wide data back; this recipe's data is not wide")

    def build_models(self) -> dict[str, ScoringModel]:
        """Lazily loaded models: nothing is read until a forward pass, so a cached rerun never reads weights."""
        return {role: config.load(lazy=True) for role, config in self.models.items()}

    def build_scores(self, models: dict[str, ScoringModel] | None = None) -> list[MapPass]:
        models = self.build_models() if models is None else models
        return [score.build(models, self.on_error, self.dataset.shape) for score in self.scores]


# -- loading ------------------------------------------------------------------------------------------------------
class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of every mapping key, for error messages."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = loader.construct_mapping(node, deep=True)
    lines: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in lines:  # YAML would keep the last one silently
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key `{key}` is given twice (lines {lines[key]} and {key_node.start_mark.line + 1}); "
                "the first would be ignored",
                key_node.start_mark,
            )
        lines[key] = key_node.start_mark.line + 1
    return _Lines(mapping, lines)


class _Lines(dict):
    """A dict that knows the YAML line of each key."""

    def __init__(self, data: dict, lines: dict):
        super().__init__(data)
        self.lines = lines


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def shipped_recipes() -> list[str]:
    return sorted(
        p.name.removesuffix(".yaml")
        for p in resources.files("hf_select.shipped_recipes").iterdir()
        if p.name.endswith(".yaml")
    )


def resolve_recipe_path(recipe: str) -> Path:
    """A recipe file, or the name of a shipped one (``local_response_selection``)."""
    path = Path(recipe).expanduser()
    if path.exists():
        return path
    shipped = resources.files("hf_select.shipped_recipes").joinpath(f"{recipe.removesuffix('.yaml')}.yaml")
    if shipped.is_file():
        return Path(str(shipped))
    raise NotFoundError(f"No recipe file {recipe!r}, and no shipped recipe of that name (shipped: {shipped_recipes()})")


def load_recipe(recipe: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Parse and validate a recipe file (or shipped recipe name) with ``--set key=value`` overrides: every key,
    type, value and score parameter is checked, and every score is built with lazily loaded models."""
    path = resolve_recipe_path(str(recipe))
    if path.is_dir():
        raise RecipeError(f"{path} is a folder; give a recipe file (YAML) or a shipped recipe's name")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise RecipeError(f"{path} is not UTF-8 text (byte {err.start}); a recipe is a YAML file") from None
    try:
        raw = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.constructor.ConstructorError as err:
        raise RecipeError(f"{path}:{err.problem_mark.line + 1}: {err.problem}") from None
    except yaml.YAMLError as err:
        raise RecipeError(f"{path}: not valid YAML: {' '.join(str(err).split())[:300]}") from None
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe is a YAML mapping (key: value lines)")
    for item in overrides or []:
        _apply_override(raw, item, path)
    _local_copy(raw, overrides or [])
    parsed = _build(Recipe, raw, str(path), "")
    _check_references(parsed, raw, str(path))
    return parsed


HUB_ONLY = ("name", "revision", "data_files")  # dataset keys that say which Hub data to read, and nothing locally


def _local_copy(raw: dict, overrides: list[str]) -> None:
    """A shipped recipe for a Hub dataset pointed at a local copy (``--set dataset.path=rows.parquet``) reads that
    copy: the recipe file's Hub-only keys (its config ``name``, ``revision``, ``data_files``) stop applying, unless
    the same command sets them too (then they are checked as usual, and refused for local data)."""
    given = {item.split("=", 1)[0].strip() for item in overrides}
    dataset = raw.get("dataset")
    if "dataset.path" not in given or not isinstance(dataset, dict) or not is_local(str(dataset.get("path", ""))):
        return
    for key in HUB_ONLY:
        if f"dataset.{key}" not in given:
            dataset.pop(key, None)


def _check_references(recipe: Recipe, raw: dict, source: str) -> None:
    """Model roles name existing models, and every score builds (its own checks, with lazily loaded models)."""
    models = {role: ScoringModel(config) for role, config in recipe.models.items()}
    for i, score in enumerate(recipe.scores):
        entry = raw["scores"][i] if isinstance(raw.get("scores"), list) else {}
        where = _where(source, entry, "type")
        cls = score_class(score.type)
        for role in cls.model_roles:
            name = score.params.get(role)
            if name is not None and name not in models:
                raise RecipeError(
                    f"{_where(source, entry, role)}: `scores.{i}.{role}` names model {name!r}, but "
                    f"`models` only has {sorted(models)}"
                )
        required = [r for r in cls.model_roles if r in ("teacher", "student")]
        missing = [r for r in required if r not in score.params]
        if "model" in cls.model_roles and "model" not in score.params and len(models) != 1:
            missing.append("model")
        if missing:
            raise RecipeError(
                f"{where}: `scores.{i}` ({score.type}) needs "
                + ", ".join(f"`{r}:`" for r in missing)
                + f" naming an entry of `models` ({sorted(models)})"
            )
        try:
            score.build(models, recipe.on_error, recipe.dataset.shape)
        except ConfigError as err:
            raise RecipeError(f"{where}: `scores.{i}` ({score.type}): {err}") from None


def _apply_override(raw: dict, item: str, path: Path) -> None:
    if "=" not in item:
        raise RecipeError(f"--set {item!r}: expected key=value, e.g. --set select.by=global_naturalness")
    key, value = item.split("=", 1)
    parts = key.split(".")
    node: Any = raw
    try:
        for i, part in enumerate(parts[:-1]):
            nxt = parts[i + 1]
            if isinstance(node, list):
                node = node[int(part)]
            else:
                if part not in node and isinstance(node, _Lines):
                    node.lines[part] = "--set"  # a key the override made up: a typo is reported as the --set's
                node = node.setdefault(part, [] if nxt.isdigit() else _Lines({}, {}))
        parsed = yaml.safe_load(value) if value else None
        last = parts[-1]
        if isinstance(node, list):
            node[int(last)] = parsed
        else:
            node[last] = parsed
            if isinstance(node, _Lines):
                node.lines[last] = "--set"
    except (ValueError, IndexError, TypeError, AttributeError):
        raise RecipeError(f"--set {item!r}: {path} has no `{key}` to set") from None


def _where(source: str, data: Any, key: Any) -> str:
    line = getattr(data, "lines", {}).get(key)
    return (
        f"{source}:{line}"
        if line is not None and line != "--set"
        else (f"{source} (--set)" if line == "--set" else source)
    )


def _build(cls: type, data: Any, source: str, prefix: str) -> Any:
    if cls is ExecutorConfig and isinstance(data, str):  # `executor: ray`, the short form
        data = {"type": data}
    if not isinstance(data, dict):
        raise RecipeError(f"{source}: `{prefix.rstrip('.') or 'recipe'}` must be a mapping, got {_shown(data)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    if cls is ScoreConfig:  # `type` plus free parameters
        if "type" not in data:
            raise RecipeError(f"{source}: `{prefix}type` is required (one of {sorted(SCORES)})")
        kwargs = {"type": data["type"], "params": {k: v for k, v in data.items() if k != "type"}}
    else:
        unknown = [k for k in data if k not in names]
        if unknown:
            raise RecipeError(
                f"{_where(source, data, unknown[0])}: unknown key `{prefix}{unknown[0]}`; allowed here: {sorted(names)}"
            )
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name in data:
                kwargs[f.name] = _check(hints[f.name], data[f.name], _where(source, data, f.name), f"{prefix}{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecipeError(f"{source}: `{prefix}{f.name}` is required ({f.metadata['help']})")
    try:
        return cls(**kwargs)
    except _Invalid as err:
        key = err.key if err.key in data else next(iter(data), None)
        shown = f"{prefix}{err.key}"
        raise RecipeError(f"{_where(source, data, key)}: `{shown}` {err}") from None
    except ConfigError as err:
        raise RecipeError(f"{_where(source, data, next(iter(data), None))}: `{prefix.rstrip('.')}`: {err}") from None


def _check(hint: Any, value: Any, where: str, key: str) -> Any:
    """``value`` converted to ``hint`` (dataclasses, lists, dicts, Optionals, Literals), or a RecipeError."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors: list[RecipeError] = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _check(option, value, where, key)
            except RecipeError as err:
                errors.append(err)
        if len(errors) == 1:
            raise errors[0]
        kinds = [getattr(a, "__name__", str(a)) for a in args if a is not type(None)]
        raise RecipeError(f"{where}: `{key}` must be one of {kinds}, got {_shown(value)}")
    if origin is Literal:
        if value not in args:
            raise RecipeError(f"{where}: `{key}` must be one of {list(args)}, got {_shown(value)}")
        return value
    if origin is collections.abc.Callable or hint is collections.abc.Callable:
        raise RecipeError(
            f"{where}: `{key}` must be a name, got {_shown(value)} (a function cannot be written in YAML)"
        )
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where.split(":")[0], f"{key}.")
    if origin is list:
        if args and args[0] is str and isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise RecipeError(f"{where}: `{key}` must be a list, got {_shown(value)}")
        return [_check(args[0], v, where, f"{key}.{i}") for i, v in enumerate(value)] if args else value
    if origin is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{where}: `{key}` must be a mapping, got {_shown(value)}")
        return {k: _check(args[1], v, _where(where.split(":")[0], value, k), f"{key}.{k}") for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    wrong_type = not isinstance(value, hint) if isinstance(hint, type) else False
    if hint is int and isinstance(value, bool) or hint in (str, int, float, bool) and wrong_type:
        raise RecipeError(f"{where}: `{key}` must be {hint.__name__}, got {_shown(value)}")
    return value


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 3, 6, 6, 80, 80


def _shown(value: Any) -> str:
    """A value in an error message, cut short whatever its size (a YAML alias bomb expands to megabytes)."""
    return _SHORT.repr(value)


# -- the effective recipe -----------------------------------------------------------------------------------------
def recipe_dict(recipe: Recipe, *, public: bool = False) -> dict[str, Any]:
    """The recipe as parsed (overrides applied, defaults left out). With ``public=True`` local paths become what
    someone else can load: a local data file by its name (put it beside the recipe), a model by its name."""
    out = _plain(recipe)
    if public:
        out["dataset"]["path"] = (
            Path(recipe.dataset.path).name if _local_file(recipe.dataset.path) else recipe.dataset.path
        )
        for role, config in recipe.models.items():
            out["models"][role]["name_or_path"] = ScoringModel(config).name
        if "output" in out and "dir" in out["output"]:
            out["output"]["dir"] = Path(recipe.output.dir).name
        out.pop("executor", None)  # how this run was spread over machines: not part of what it made
    return out


def _local_file(path: str) -> bool:
    from hf_select.sources import builtin_data_path, hub_dataset_id

    return (
        not hub_dataset_id(path)
        and Path(builtin_data_path(path)).expanduser().is_file()
        and not path.startswith("hf_select:")
    )


def _plain(obj: Any) -> Any:
    if isinstance(obj, ScoreConfig):
        return {"type": obj.type, **{k: _plain(v) for k, v in obj.params.items()}}
    if dataclasses.is_dataclass(obj):
        out = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            default = (
                f.default
                if f.default is not dataclasses.MISSING
                else (f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
            )
            if value != default or f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                out[f.name] = _plain(value)
        return out
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


def recipe_yaml(recipe: Recipe, *, public: bool = False) -> str:
    """The recipe as YAML; ``public=True`` for a card (a local data file noted with its digest)."""
    text = yaml.safe_dump(recipe_dict(recipe, public=public), sort_keys=False, allow_unicode=True)
    if public and _local_file(recipe.dataset.path):
        from hf_select.identity import file_digests

        digest = file_digests(Path(recipe.dataset.path).expanduser())["sha256"][:16]
        text = re.sub(
            r"^(  path: .*)$",
            rf"\1  # a local file (sha256 {digest}...): put it beside this recipe",
            text,
            count=1,
            flags=re.MULTILINE,
        )
    return text
