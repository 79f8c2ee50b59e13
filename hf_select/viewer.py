"""A static, offline viewer of scored responses: every teacher's answer to a prompt side by side, each
reasoning step (local naturalness) or sentence (provenance) shaded by its score.

Why: a ranking says "teacher B is most natural to the student"; the viewer shows where. It is plain
HTML/CSS/JS (``viewer_assets/``) that opens from the file system with no network. The data is written as small
scripts, because browsers refuse ``fetch()`` on ``file://`` pages: ``data/overview.js`` (rankings, the score
comparison, colour scales), ``data/index.js`` (one short entry per prompt, for search, filters and sorting) and
``data/page-NNNNN.js`` (``page_prompts`` prompts each, loaded only when one of them is opened), so 10,000
prompts x 8 teachers stay responsive.

What is shaded is what scores declare (`hf_select.columns.Shade`, recorded in the data's metadata): each stores
its spans (local naturalness its steps, provenance its sentences) and their values, and the viewer draws them
as stored, naming no score and splitting nothing again. A response whose spans and values do not match is shown
unshaded with a note, never shaded wrongly.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict
from datasets.utils.tqdm import tqdm

from hf_select.columns import COMPLETE, ERROR_COLUMN, Shade, known_direction, known_shades
from hf_select.errors import ConfigError, DataFormatError, HfSelectError, MissingColumnError, WrongTypeError
from hf_select.formats import Shape
from hf_select.metadata import correctness_column, read_metadata
from hf_select.traces import parse_trace
from hf_select.wide import PROMPT_ID

ASSETS = ("index.html", "viewer.js", "viewer.css")
PAGE_PROMPTS = 50  # prompts per data page: one page is what opening a prompt loads
SEARCH_CHARS = 1000  # search covers the first this many characters of each prompt


@dataclass
class ViewerData:
    """What a viewer shows beyond the rows: a run's rankings, comparison and picks."""

    title: str = "hf_select viewer"
    teacher_column: str = "teacher"
    picked: Dataset | None = None  # the rows the run selected (matched to the scored rows by what they are)
    rankings: dict[str, list[dict[str, Any]]] | None = None  # {score column: rank_teachers rows}
    comparison: str | None = None  # the comparison report as text (`hf_select.report.format_comparison`)
    selection: str | None = None  # how rows were picked, in words
    notes: list[str] = field(default_factory=list)


def view(
    data: Dataset | DatasetDict | str | os.PathLike,
    out: str | os.PathLike = "viewer",
    *,
    split: str | None = None,
    config: str | None = None,
    shape: Shape | None = None,
    teacher_column: str | None = None,
    title: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the viewer of ``data`` (a scored `Dataset`, or any path hf_select reads: a run's output folder, a
    ``save_to_disk`` folder, a data file) into ``out``; open ``out/index.html`` in a browser. ``shape`` is the
    data's shape (default: the one its scores recorded); ``teacher_column``: the column naming each response's
    teacher (default: ``teacher`` when the data has it; a column named here that the data lacks is an error);
    ``config``: which config of a folder holding several (refused unset: the viewer never picks one silently).
    Only files hf_select wrote are ever replaced (see `hf_select.outputs`). Returns the folder."""
    from hf_select.outputs import check_output, output_folder
    from hf_select.sources import load_source, local_paths

    sources = local_paths(str(data)) if isinstance(data, (str, os.PathLike)) else []
    check_output(out, overwrite=overwrite, sources=sources)
    if isinstance(data, (str, os.PathLike)):
        ds = load_source(str(data), split=split, name=config or _only_config(str(data)))
    elif config is not None:
        raise ConfigError("view: `config` picks a config of data read from a path; give the Dataset itself")
    else:
        ds = data
    if isinstance(ds, DatasetDict):
        if split is None and len(ds) > 1:
            raise ConfigError(f"{data} has splits {list(ds)}: say which to view (--split)")
        ds = ds[split or next(iter(ds))]
    if teacher_column is not None and teacher_column not in ds.column_names:
        raise MissingColumnError(
            f"view: the teacher column {teacher_column!r} is not in the data (columns: "
            f"{sorted(ds.column_names)}); name the column that says which teacher wrote each "
            "response"
        )
    files = viewer_files(
        ds, ViewerData(title=title or "hf_select viewer", teacher_column=teacher_column or "teacher"), shape
    )
    with output_folder(out, overwrite=overwrite, sources=sources) as staging:
        for stale in staging.existing("data/page-*.js"):
            if stale not in files:
                staging.remove(stale)
        for path, content in files.items():
            staging.write_bytes(path, content)
    return Path(out)


def _only_config(path: str) -> str | None:
    """The config to read from a folder in Hub layout: None (the default) when it has one, else an error naming
    them (a folder holding two configs showed the default one silently)."""
    local = Path(path).expanduser()
    if not (local.is_dir() and (local / "README.md").is_file()):
        return None
    from datasets import get_dataset_config_names

    names = get_dataset_config_names(str(local))
    if len(names) > 1:
        raise ConfigError(f"{path} holds the configs {names}: say which to view (--config, config=)")
    return None


def viewer_files(ds: Dataset, about: ViewerData | None = None, shape: Shape | None = None) -> dict[str, bytes]:
    """Every file of the viewer of ``ds``, by path relative to the viewer's folder."""
    if not isinstance(ds, Dataset):
        raise WrongTypeError(
            f"the viewer shows a Dataset, not a {type(ds).__name__}; for a stream, view a sample: "
            "Dataset.from_list(list(stream.take(10_000)))"
        )
    if not len(ds):
        raise DataFormatError("the data has no rows: nothing to view")
    about = about or ViewerData()
    layout = _Layout.of(ds, about, shape)
    picked = None if about.picked is None else {_identity(row, layout) for row in _rows(about.picked, layout)}
    prompts = _prompts(ds, layout, picked)
    rankings = _rankings(ds, layout, about)
    files = _assets()
    pages = [prompts[i : i + PAGE_PROMPTS] for i in range(0, len(prompts), PAGE_PROMPTS)]
    for number, page in enumerate(pages):
        files[f"data/page-{number:05d}.js"] = _script(f"hfView.page({number}, ", page, ");")
    files["data/index.js"] = _script("hfView.index(", [_index_entry(p, layout) for p in prompts], ");")
    overview = {
        "title": about.title,
        "prompts": len(prompts),
        "responses": len(ds),
        "pages": len(pages),
        "teachers": layout.teachers,
        "scores": [{"name": c, "higher": layout.higher[c]} for c in layout.scores],
        "layers": _scales(prompts, layout),
        "rankings": rankings,
        "comparison": about.comparison,
        "selection": about.selection,
        "notes": [*about.notes, *layout.notes],
    }
    files["data/overview.js"] = _script("hfView.overview(", overview, ");")
    return files


def _assets() -> dict[str, bytes]:
    """The page, its script and style, and KaTeX (vendored from npm, MIT: math drawn offline, fonts included)."""
    root = resources.files("hf_select").joinpath("viewer_assets")
    files = {name: root.joinpath(name).read_bytes() for name in ASSETS}
    for folder in ("katex", "katex/fonts"):
        for entry in root.joinpath(folder).iterdir():
            if entry.is_file():
                files[f"{folder}/{entry.name}"] = entry.read_bytes()
    return files


@dataclass
class _Layout:
    """Which columns the viewer reads, and how the rows are grouped into prompts."""

    shape: Shape
    teacher: str | None
    teachers: list[str]
    scores: list[str]
    higher: dict[str, bool | None]
    correct: str | None
    shades: list[tuple[Shade, Shape]]  # what scores declared they can shade, with the shape they read
    notes: list[str]

    @classmethod
    def of(cls, ds: Dataset, about: ViewerData, shape: Shape | None) -> _Layout:
        meta = read_metadata(ds)
        recorded = next((r for r in map(_recorded_shape, meta["scores"].values()) if r is not None), None)
        shape = shape or _shape_of(ds.column_names, recorded)
        missing = [c for c in shape.columns(with_prompt=True) if c not in ds.column_names]
        if missing:
            raise MissingColumnError(
                f"view: the data has no {missing[0]!r} column (columns: {ds.column_names}); give "
                "its shape (--format, --response-column, --prompt-column)"
            )
        teacher = about.teacher_column if about.teacher_column in ds.column_names else None
        teachers = sorted({str(t) for t in ds[teacher]}) if teacher else ["response"]
        scores = [c for c in ds.column_names if _is_score(ds, c, meta)]
        higher = {c: meta["columns"].get(c, {}).get("higher_is_better", known_direction(c)) for c in scores}
        shades, notes = _shades(ds, meta, shape, recorded)
        for column in scores:
            infinite = sum(1 for v in ds[column] if isinstance(v, float) and math.isinf(v))
            if infinite:
                notes.append(
                    f"{infinite} value(s) of `{column}` are infinite (a token the model gives probability "
                    "0): shown without a value."
                )
        return cls(shape, teacher, teachers, scores, higher, correctness_column(ds), shades, notes)


def _shades(
    ds: Dataset, meta: Mapping[str, Any], shape: Shape, any_recorded: Shape | None
) -> tuple[list[tuple[Shade, Shape]], list[str]]:
    """What the scores of ``ds`` declared they can shade (from its metadata, else the declarations hf_select knows
    by column), each with the shape its score read (a pass over other passes' columns records none: the shape a
    score of the data recorded); notes for values stored without their spans."""
    out, notes, seen = [], [], set()
    for key, about in meta["about"].items():
        for declared in about.get("shades", ()):
            shade = Shade(**declared)
            recorded = _recorded_shape(meta["scores"].get(key, {})) or any_recorded
            if shade.values in ds.column_names and shade.spans not in ds.column_names:
                notes.append(
                    f"`{shade.values}` is not shaded: its spans (`{shade.spans}`) are not in the data (scored "
                    "by hf_select 0.4 or earlier, or the column was dropped); score again to shade it."
                )
            elif shade.values in ds.column_names and shade.name not in seen:
                seen.add(shade.name)
                out.append((shade, _readable(recorded, shape, ds.column_names)))
    import hf_select.scores  # noqa: F401 - registers the built-in scores' declarations, for data read back bare

    for shade in known_shades(ds.column_names):
        if shade.name not in seen:
            seen.add(shade.name)
            out.append((shade, shape))
    return out, notes


def _shape_of(columns: list[str], recorded: Shape | None) -> Shape:
    """The shape the scores recorded, else the first format whose default columns the data has (a curated split
    holds TRL's ``prompt``/``completion`` or ``messages`` in place of the columns it was scored from)."""
    if recorded is not None and all(c in columns for c in recorded.columns(with_prompt=True)):
        return recorded
    for format in ("prompt_completion", "messages", "sharegpt", "text"):
        shape = Shape(format=format)
        if all(c in columns for c in shape.columns(with_prompt=True)):
            return shape
    return recorded or Shape()


def _readable(recorded: Shape | None, shape: Shape, columns: list[str]) -> Shape:
    """The shape a score read, or, where its columns are gone (a curated split holds TRL's columns instead), the
    shape shown with the part and turns the score read."""
    if recorded is None:
        return shape
    if all(c in columns for c in recorded.columns(with_prompt=True)):
        return recorded
    return shape.replace(part=recorded.part, turns=recorded.turns if shape.format != "text" else "last")


def _recorded_shape(config: Mapping[str, Any]) -> Shape | None:
    """The shape a score recorded with its configuration (every score records the shape it read)."""
    names = [f.name for f in fields(Shape)]
    return Shape(**{name: config[name] for name in names}) if all(name in config for name in names) else None


def _is_score(ds: Dataset, column: str, meta: Mapping[str, Any]) -> bool:
    """A numeric score column: one the metadata describes with a direction, or one hf_select knows."""
    dtype = getattr(ds.features[column], "dtype", None)
    if dtype not in ("float16", "float32", "float64", "int32", "int64"):
        return False
    recorded = meta["columns"].get(column, {})
    return recorded.get("higher_is_better") is not None or known_direction(column) is not None


def _identity(row: dict[str, Any], layout: _Layout) -> str:
    """What a response is: its prompt and reply as the data holds them, its teacher and prompt id. A picked row
    carries these unchanged from the scored data, so no row number has to travel through the stages; two rows
    equal in all of them are the same response."""
    columns = [*layout.shape.columns(with_prompt=True), *layout.shape.optional_columns(), layout.teacher, PROMPT_ID]
    values = [row.get(c) for c in columns if c]
    return hashlib.blake2b(json.dumps(values, default=str).encode(), digest_size=16).hexdigest()


def _prompts(ds: Dataset, layout: _Layout, picked: set[str] | None) -> list[dict[str, Any]]:
    """Rows grouped by prompt (``prompt_id``, else the prompt's conversation), in order of first appearance."""
    groups: dict[Any, dict[str, Any]] = {}
    for row_id, row in tqdm(enumerate(_rows(ds, layout)), total=len(ds), desc="Writing the viewer", unit=" rows"):
        context, response = _response(row, row_id, layout, picked)
        key = row[PROMPT_ID] if PROMPT_ID in row else json.dumps(context)
        if key not in groups:
            groups[key] = {"id": len(groups), "context": context, "responses": []}
        groups[key]["responses"].append(response)
    return list(groups.values())


def _rows(ds: Dataset, layout: _Layout) -> Iterator[dict[str, Any]]:
    """The rows, with only the columns the viewer shows, read a thousand at a time."""
    shape = layout.shape
    needed = {
        *shape.columns(with_prompt=True),
        *shape.optional_columns(),
        *layout.scores,
        PROMPT_ID,
        *(c for c in (layout.teacher, layout.correct, COMPLETE, ERROR_COLUMN) if c),
        *(c for shade, _ in layout.shades for c in (shade.spans, shade.values, shade.categories) if c),
    }
    read = [c for c in ds.column_names if c in needed]
    for batch in ds.select_columns(read).iter(batch_size=1000):
        for i in range(len(batch[read[0]])):
            yield {c: batch[c][i] for c in read}


def _response(
    row: dict[str, Any], row_id: int, layout: _Layout, picked: set[str] | None
) -> tuple[list[list[str]], dict[str, Any]]:
    """(the prompt's context as [role, text] pairs, the response as the page script holds it)."""
    shape = layout.shape
    try:
        messages = shape.conversation(row)
        scored = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
        first = scored[0] if shape.turns == "all" else scored[-1]
    except (HfSelectError, IndexError):  # a row that could not be scored: shown as it is, with its error
        reply = row.get(shape.response_column)
        messages, first = [{"role": "assistant", "content": "" if reply is None else reply}], 0
    context = [[m["role"], _plain(m["content"])] for m in messages[:first]]
    turns = [{"role": m["role"], "text": _plain(m["content"])} for m in messages[first:]]
    for turn in turns:
        trace = parse_trace(turn["text"]) if turn["role"] == "assistant" else None
        if trace and trace.has_reasoning and trace.reasoning_end > trace.reasoning_start:
            turn["think"] = [trace.reasoning_start, trace.reasoning_end]
    for shade, shape in layout.shades:
        _add_shade(row, turns, shade, shape)
    teacher = str(row[layout.teacher]) if layout.teacher else "response"
    correct = row.get(layout.correct) if layout.correct else None
    return context, {
        "t": layout.teachers.index(teacher),
        "row": row_id,
        "s": [_number(row[c]) for c in layout.scores],
        "picked": picked is not None and _identity(row, layout) in picked,
        "correct": None if correct is None else bool(correct),
        "cut": row.get(COMPLETE) is False,
        "error": row.get(ERROR_COLUMN),
        "turns": turns,
    }


def _plain(content: Any) -> str:
    return content if isinstance(content, str) else json.dumps(content)


def _add_shade(row: dict[str, Any], turns: list[dict[str, Any]], shade: Shade, shape: Shape) -> None:
    """Shade each scored turn's spans by their values, as the score stored them (``[turn, start, end]``, or
    ``[start, end]`` for the last scored turn), when there is one value per span and every span is in its turn."""
    spans, values = row.get(shade.spans), row.get(shade.values)
    if not spans or values is None or len(values) != len(spans):
        return
    categories = row.get(shade.categories) if shade.categories else None
    located = _located(row, turns, shape)
    shaded: list[tuple[dict[str, Any], list[Any]]] = []
    for k, span in enumerate(spans):
        turn, start, end = span if len(span) == 3 else (len(located) - 1, *span)
        if not 0 <= turn < len(located) or located[turn][1] < 0 or not 0 <= start <= end <= len(located[turn][2]):
            return  # spans of another text than the one shown: never shade wrongly
        reply, offset, _ = located[turn]
        category = categories[k] if categories and k < len(categories) else None
        shaded.append((reply, [offset + start, offset + end, _number(values[k]), category]))
    for reply, piece in shaded:
        reply.setdefault("shades", {}).setdefault(shade.name, []).append(piece)


def _located(row: dict[str, Any], turns: list[dict[str, Any]], shape: Shape) -> list[tuple[dict[str, Any], int, str]]:
    """Each scored turn, the offset of its scored text (its ``part``) in the shown message (-1 if not found) and
    that text; empty when the row cannot be read in ``shape``."""
    try:
        texts = [turn.text for turn in shape.read(row, with_prompt=False)]
    except HfSelectError:
        return []
    assistant = [t for t in turns if t["role"] == "assistant"][-len(texts) :]
    return [(turn, turn["text"].find(text), text) for turn, text in zip(assistant, texts, strict=False)]


def _number(value: Any) -> float | None:
    """A value JSON can carry: None for a missing one, and for an infinite one (the overview's notes count them)."""
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else float(value)


def _script(prefix: str, data: Any, suffix: str) -> bytes:
    """A data file: JSON inside a call (JSON with ``</`` escaped is valid JavaScript that a page can load)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return f"{prefix}{text}{suffix}\n".encode()


def _index_entry(prompt: dict[str, Any], layout: _Layout) -> dict[str, Any]:
    """What the list, search, filters and sorting read without loading pages (keys read by viewer.js by name)."""
    text = " ".join(t for _, t in prompt["context"] if t) or prompt["responses"][0]["turns"][0]["text"]
    responses = prompt["responses"]
    known = [r["correct"] for r in responses if r["correct"] is not None]
    return {
        "title": " ".join(text.split())[:160],
        "search": text[:SEARCH_CHARS].lower(),
        "page": prompt["id"] // PAGE_PROMPTS,
        "teachers": sorted({r["t"] for r in responses}),
        "picked": sorted({r["t"] for r in responses if r["picked"]}),
        "correct": (1 if any(known) else 0) if known else -1,  # some response correct, none, or unknown
        "gaps": [_gap([r["s"][k] for r in responses], layout.higher[c]) for k, c in enumerate(layout.scores)],
    }


def _gap(values: list[float | None], higher: bool | None) -> float | None:
    """How far the best response is ahead of the mean of the others (in the score's better direction)."""
    known = sorted(v for v in values if v is not None)
    if len(known) < 2:
        return None
    if higher is False:
        known = [-v for v in reversed(known)]
    return _number(known[-1] - float(np.mean(known[:-1])))


def _scales(prompts: list[dict[str, Any]], layout: _Layout) -> dict[str, dict[str, Any]]:
    """One colour scale per declared shade over the whole data: its 5th to 95th percentile (sequential), or
    symmetric around 0 (diverging)."""
    scales = {}
    for shade, _ in layout.shades:
        values = [
            s[2]
            for p in prompts
            for r in p["responses"]
            for t in r["turns"]
            for s in t.get("shades", {}).get(shade.name, ())
            if s[2] is not None
        ]
        if not values:
            continue
        if shade.scale == "diverging":
            bound = float(np.percentile(np.abs(values), 95)) or 1.0
            low, high = -bound, bound
        else:
            low, high = (float(v) for v in np.percentile(values, [5, 95]))
            high = high if high > low else low + 1
        scales[shade.name] = {
            "lo": low,
            "hi": high,
            "label": shade.label,
            "unit": shade.unit,
            "scale": shade.scale,
            "missing": f"No {shade.unit} scores for this response (it could not be scored, or its "
            "stored spans do not match its text).",
        }
    return scales


def _rankings(ds: Dataset, layout: _Layout, about: ViewerData) -> list[dict[str, Any]]:
    """The teacher ranking of every score: the run's own, else `rank_teachers` over the viewed rows."""
    from hf_select.select import prompt_group, rank_teachers

    if about.rankings is not None:
        return [
            {"score": c, "higher": layout.higher.get(c), "rows": _json_safe(rows)} for c, rows in about.rankings.items()
        ]
    if layout.teacher is None or len(layout.teachers) < 2:
        return []
    group = prompt_group(ds.column_names, None)
    bootstrap = 200 if group in ds.column_names else 0
    out = []
    for column in layout.scores:
        try:
            table = rank_teachers(ds, column, layout.teacher, layout.correct, bootstrap=bootstrap)
        except HfSelectError as err:
            layout.notes.append(f"No ranking by {column}: {err}")
            continue
        out.append({"score": column, "higher": layout.higher[column], "rows": _json_safe(table.to_list())})
    return out


def _json_safe(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: _number(v) if isinstance(v, float) else v for k, v in row.items()} for row in rows]
