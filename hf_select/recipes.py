"""Recipe files: one YAML document that says how a curated dataset is made, validated against dataclasses.

Every option lives in one dataclass field with a help text (the schema, as in trl's configs). A wrong
key or type is an error that names the key and its line; ``--set key=value`` overrides any value, with
dotted keys (``select.by``, ``models.student.name_or_path``, ``scores.1.window``). See ``recipes/`` for
the shipped recipes and `hf_select.runner` for what running one does.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

BUILTIN_DATA = {"hf_select:math_teachers": "math_teachers.jsonl"}


class RecipeError(ValueError):
    """A recipe that cannot be run as written; the message names the file, line and key."""


def _help(text: str, default: Any = dataclasses.MISSING, **kwargs) -> Any:
    if default is dataclasses.MISSING and "default_factory" not in kwargs:
        return field(metadata={"help": text}, **kwargs)
    return field(default=default, metadata={"help": text}, **kwargs)


@dataclass
class DatasetConfig:
    path: str = _help("What `load_dataset` accepts (Hub id or builder), a local .jsonl/.json/.parquet/.csv file, a "
                      "`save_to_disk` folder, or `hf_select:math_teachers` for the bundled example data.")
    name: str | None = _help("Dataset configuration name.", None)
    split: str = _help("Split to curate.", "train")
    data_files: str | list[str] | None = _help("`data_files` for builder names such as `json`.", None)
    revision: str | None = _help("Hub revision of the dataset.", None)
    columns: dict[str, str] = _help("Map from hf_select's column names (prompt, response, teacher, answer) to yours.",
                                    default_factory=dict)
    limit: int | None = _help("Use only the first N rows (quick trials).", None)


@dataclass
class ModelConfig:
    name_or_path: str = _help("Local folder, GGUF file, Hub id, or builtin: smollm2-135m-instruct, gemma-3-270m.")
    gguf_file: str | None = _help("GGUF file inside `name_or_path`.", None)
    revision: str | None = _help("Hub revision.", None)
    dtype: str = _help("auto (bf16 on capable GPUs, else fp32), float32, bfloat16, float16.", "auto")
    device: str | None = _help("cuda, mps or cpu; default: the best available.", None)
    device_map: str | None = _help("`auto` spreads a model too large for one GPU over several.", None)
    token_budget: int | None = _help("Padded tokens per forward pass (speed only).", None)
    compile: bool = _help("torch.compile the model body (speed only; pays off on long jobs).", False)


@dataclass
class ScoreConfig:
    type: Literal["global_naturalness", "local_naturalness", "rank_surprisal", "provenance", "answer_check"] = _help(
        "Which score. Its parameters sit next to `type` (e.g. `window: 2`); `model:` names an entry of `models` "
        "(provenance takes `teacher:`, `student:` and optionally `distilled:` instead).")
    params: dict[str, Any] = _help("Everything else written next to `type`.", default_factory=dict)


@dataclass
class FilterConfig:
    column: str = _help("Column to filter on.")
    equals: Any = _help("Keep rows whose value equals this (e.g. `true` for is_correct).", None)
    min: float | None = _help("Keep rows with value >= min.", None)
    max: float | None = _help("Keep rows with value <= max.", None)
    quantile: list[float] | None = _help("Keep rows between these two quantiles of the column, e.g. [0.5, 1.0].",
                                         None)
    keep_nan: bool = _help("Keep rows whose value is NaN/null (dropped by default).", False)


@dataclass
class SelectConfig:
    method: Literal["best", "divergence", "none"] = _help(
        "best: top response(s) per group by a score; divergence: teacher-guided provenance selection; none.", "best")
    by: str = _help("Score column to select by (its direction comes from the dataset's metadata).",
                    "local_naturalness")
    group: str = _help("One selection per value of this column.", "prompt")
    among: str | None = _help("Only rows where this boolean column is true are candidates (e.g. is_correct).", None)
    top_k: int | None = _help("best: responses kept per group (default 1); divergence: rows kept overall.", None)
    quantile: float | None = _help("divergence: keep rows at or above this quantile of prov_divergence.", None)
    min_teacher_fraction: float | None = _help("divergence: keep rows with at least this teacher-originated share.",
                                               None)


@dataclass
class RankingConfig:
    by: list[str] = _help("Score columns to rank teachers by (the first one orders the table).",
                          default_factory=lambda: ["local_naturalness"])
    teacher: str = _help("Column naming the teacher of each response.", "teacher")


@dataclass
class OutputConfig:
    dir: str | None = _help("Folder for the curated split in Hub layout (data/*.parquet, README.md, images/).", None)
    repo_id: str | None = _help("Publish to this Hub dataset repo (never the source repo).", None)
    split: str = _help("Name of the curated split.", "train")
    private: bool = _help("Create the Hub repo as private.", False)
    branch: str | None = _help("Hub branch to publish to (created if missing).", None)
    title: str | None = _help("Pretty name for the card.", None)
    license: str | None = _help("License for the card; default: the source's, when known.", None)


@dataclass
class Recipe:
    name: str = _help("Short name of the recipe.")
    dataset: DatasetConfig = _help("Where the rows come from.")
    models: dict[str, ModelConfig] = _help("Models by role name (student, teacher, ...).", default_factory=dict)
    scores: list[ScoreConfig] = _help("Scores to add, in order (cached: reruns reuse them).", default_factory=list)
    filters: list[FilterConfig] = _help("Filters applied after scoring, in order.", default_factory=list)
    select: SelectConfig = _help("How curated rows are chosen.", default_factory=SelectConfig)
    rank_teachers: RankingConfig | None = _help("Rank teachers (when the data has a teacher column).", None)
    output: OutputConfig = _help("Where the curated split goes.", default_factory=OutputConfig)
    description: str = _help("What this recipe is for (shown in the card).", "")
    batch_size: int = _help("Rows per engine call (speed only).", 64)
    on_error: Literal["raise", "nan"] = _help("raise: stop at the first bad row; nan: NaN scores + hf_select_error.",
                                              "raise")


# -- loading ------------------------------------------------------------------------------------------------------
class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of every mapping key, for error messages."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = loader.construct_mapping(node, deep=True)
    lines = {loader.construct_object(k): k.start_mark.line + 1 for k, _ in node.value}
    return _Lines(mapping, lines)


class _Lines(dict):
    """A dict that knows the YAML line of each key."""

    def __init__(self, data: dict, lines: dict):
        super().__init__(data)
        self.lines = lines


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def resolve_recipe_path(recipe: str) -> Path:
    """A recipe file, or the name of a shipped one (``local_response_selection``)."""
    path = Path(recipe)
    if path.exists():
        return path
    shipped = resources.files("hf_select.shipped_recipes").joinpath(f"{recipe.removesuffix('.yaml')}.yaml")
    if shipped.is_file():
        return Path(str(shipped))
    names = sorted(p.name.removesuffix(".yaml") for p in resources.files("hf_select.shipped_recipes").iterdir()
                   if p.name.endswith(".yaml"))
    raise FileNotFoundError(f"No recipe file {recipe!r}, and no shipped recipe of that name (shipped: {names})")


def load_recipe(recipe: str | Path, overrides: list[str] | None = None) -> tuple[Recipe, str]:
    """Parse and validate a recipe file (or shipped recipe name) with ``--set key=value`` overrides.

    Returns the recipe and the effective YAML text (overrides applied), which is what cards quote."""
    path = resolve_recipe_path(str(recipe))
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        raise RecipeError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe is a YAML mapping (key: value lines)")
    for item in overrides or []:
        _apply_override(raw, item, path)
    recipe_obj = _build(Recipe, raw, str(path), "")
    effective = yaml.safe_dump(_plain(raw), sort_keys=False) if overrides else text
    return recipe_obj, effective


def _apply_override(raw: dict, item: str, path: Path) -> None:
    if "=" not in item:
        raise RecipeError(f"--set {item!r}: expected key=value, e.g. --set select.by=global_naturalness")
    key, value = item.split("=", 1)
    parts = key.split(".")
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(node, list):
            node = node[int(part)]
        else:
            node = node.setdefault(part, [] if nxt.isdigit() else _Lines({}, {}))
    parsed = yaml.safe_load(value) if value else None
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = parsed
    else:
        node[last] = parsed
        if isinstance(node, _Lines):
            node.lines[last] = "--set"


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _where(source: str, data: Any, key: Any) -> str:
    line = getattr(data, "lines", {}).get(key)
    return f"{source}:{line}" if line is not None and line != "--set" else (
        f"{source} (--set)" if line == "--set" else source)


def _build(cls: type, data: Any, source: str, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise RecipeError(f"{source}: `{prefix.rstrip('.') or 'recipe'}` must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    if cls is ScoreConfig:  # `type` plus free parameters, checked when the score is built
        if "type" not in data:
            raise RecipeError(f"{source}: `{prefix}type` is required (one of {typing.get_args(hints['type'])})")
        kind = _check(hints["type"], data["type"], _where(source, data, "type"), f"{prefix}type")
        return ScoreConfig(kind, {k: v for k, v in data.items() if k != "type"})
    unknown = [k for k in data if k not in names]
    if unknown:
        raise RecipeError(f"{_where(source, data, unknown[0])}: unknown key `{prefix}{unknown[0]}`; "
                          f"allowed here: {sorted(names)}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _check(hints[f.name], data[f.name], _where(source, data, f.name), f"{prefix}{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RecipeError(f"{source}: `{prefix}{f.name}` is required ({f.metadata['help']})")
    return cls(**kwargs)


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
        kinds = [getattr(a, "__name__", str(a)) for a in args]
        raise RecipeError(f"{where}: `{key}` must be one of {kinds}, got {value!r}")
    if origin is Literal:
        if value not in args:
            raise RecipeError(f"{where}: `{key}` must be one of {list(args)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where.split(":")[0], f"{key}.")
    if origin is list:
        if hint == list[str] and isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise RecipeError(f"{where}: `{key}` must be a list, got {value!r}")
        return [_check(args[0], v, where, f"{key}.{i}") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{where}: `{key}` must be a mapping, got {value!r}")
        return {k: _check(args[1], v, _where(where.split(':')[0], value, k), f"{key}.{k}") for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    wrong_type = not isinstance(value, hint) or (hint is int and isinstance(value, bool))
    if hint in (str, int, float, bool) and wrong_type:
        raise RecipeError(f"{where}: `{key}` must be {hint.__name__}, got {value!r}")
    return value


def score_parameters(cls: type) -> set[str]:
    """Keyword parameters a score accepts in a recipe (the model arguments are given by role instead)."""
    params = set(inspect.signature(cls).parameters)
    return params - {"self", "model", "teacher", "student", "distilled"}


def builtin_data_path(path: str) -> str:
    """Paths such as ``hf_select:math_teachers`` point at data shipped in the package."""
    if path in BUILTIN_DATA:
        return str(resources.files("hf_select.data").joinpath(BUILTIN_DATA[path]))
    return path
