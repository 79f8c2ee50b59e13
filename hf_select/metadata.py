"""Every score column carries its definition, inside the dataset.

The full configuration of each scorer that produced a column (model identity, window, splitter, layout,
library version, ...), a plain explanation, its citation and a description of each column it adds live as
JSON in the dataset's ``info.description``, which `datasets` keeps through ``map``/``filter``/``select`` and
``save_to_disk``.
Cards are later written from the dataset alone.
"""

from __future__ import annotations

import json
from typing import Any

from datasets import Dataset

from hf_select.columns import IS_CORRECT, known_aggregate, known_direction, known_select_max
from hf_select.errors import ConfigError

CORRECT = IS_CORRECT.name

MARKER = "hf_select: "


def _blocks(description: str) -> list[tuple[int, dict[str, Any]]]:
    """Every hf_select block of a description, with where it starts: one, or several once `datasets` joined the
    descriptions of concatenated datasets (``DatasetInfo.from_merge``)."""
    blocks, at = [], description.find(MARKER)
    while at != -1:
        if at == 0 or description[at - 1] == "\n":
            block, _ = json.JSONDecoder().raw_decode(description, at + len(MARKER))
            blocks.append((at, block))
        at = description.find(MARKER, at + 1)
    return blocks


def read_metadata(ds: Dataset) -> dict[str, Any]:
    """``{"scores": {name: config}, "columns": {column: {"score", "higher_is_better", "definition"}},
    "about": {name: {"explanation", "citation", "fields": {column: description}}}, "mixed": {name: [config, ...]}}``.

    ``mixed``: scores whose rows were computed under different configurations (another student, another fit),
    as when datasets scored apart are concatenated; ``scores`` then holds the last one, and cards say so."""
    blocks = [block for _, block in _blocks(ds.info.description or "")]
    meta = {key: dict(blocks[-1].get(key, {})) if blocks else {} for key in ("scores", "columns", "about", "mixed")}
    for block in blocks[:-1]:
        for name, config in block.get("scores", {}).items():
            mine = meta["scores"].setdefault(name, config)
            seen = meta["mixed"].setdefault(name, [mine])
            seen += [c for c in [config, *block.get("mixed", {}).get(name, [])] if c not in seen]
            if len(seen) == 1:
                del meta["mixed"][name]
        for key in ("columns", "about"):
            meta[key] = {**block.get(key, {}), **meta[key]}
    return meta


def user_description(ds: Dataset) -> str:
    """The dataset's own description, without the hf_select block(s)."""
    description = ds.info.description or ""
    blocks = _blocks(description)
    return description[: blocks[0][0]].rstrip("\n") if blocks else description


def record_score(
    ds: Dataset,
    name: str,
    config: dict[str, Any],
    columns: dict[str, dict[str, Any]],
    about: dict[str, Any] | None = None,
) -> Dataset:
    """Attach a score's configuration, column definitions and what cards say about it (explanation, citation,
    a description of every column it adds) to ``ds`` (in place; returns ``ds``)."""
    meta = read_metadata(ds)
    meta["scores"][name] = config
    meta["columns"].update(columns)
    if about:
        meta["about"][name] = about
    own = user_description(ds)
    ds.info.description = (own + "\n" if own else "") + MARKER + json.dumps(meta, sort_keys=True)
    return ds


def higher_is_better(ds: Dataset, column: str) -> bool:
    """The direction of a score column: from the dataset's metadata, else from the columns hf_select knows; a
    column of neither (a score from elsewhere, read back without its metadata) is an error, never a guess."""
    recorded = read_metadata(ds)["columns"].get(column, {})
    if recorded.get("higher_is_better") is not None:
        return bool(recorded["higher_is_better"])
    known = known_direction(column)
    if known is None:
        raise ConfigError(
            f"which way is better for {column!r} is unknown: the data carries no hf_select metadata for "
            "it and it is not a score hf_select knows. Say it: higher_is_better=True or False "
            "(`select.higher_is_better:` or `rank_teachers.higher_is_better:` in a recipe)"
        )
    return known


def aggregate_of(ds: Dataset, column: str) -> tuple[str, str] | None:
    """How a teacher's score on ``column`` aggregates: ``(numerator, denominator)`` columns for a ratio of means,
    None for a plain mean (from the dataset's metadata, else from the columns hf_select knows)."""
    recorded = read_metadata(ds)["columns"].get(column, {})
    if "aggregate" in recorded:
        return tuple(recorded["aggregate"]) if recorded["aggregate"] else None
    return known_aggregate(column)


def selection_bound(ds: Dataset, column: str) -> float | None:
    """The highest value of ``column`` selection keeps by default (IFD: 1.0), None for no bound (from the dataset's
    metadata, else from the columns hf_select knows)."""
    recorded = read_metadata(ds)["columns"].get(column, {})
    if "select_max" in recorded:
        return recorded["select_max"]
    return known_select_max(column)


def correctness_column(ds: Dataset) -> str | None:
    """The column that says whether each response's answer is right (the one answer checks wrote, whatever its
    name), from the dataset's metadata; else ``is_correct`` when the data has it; None when there is none."""
    recorded = [
        name
        for name, info in read_metadata(ds)["columns"].items()
        if info.get("correctness") and name in ds.column_names
    ]
    return recorded[0] if recorded else (CORRECT if CORRECT in ds.column_names else None)


def model_of(meta: dict[str, Any], column: str | None) -> str | None:
    """The model that scored ``column``, from metadata read by `read_metadata` (None when unknown)."""
    score = meta["columns"].get(column or "", {}).get("score")
    return meta["scores"].get(score, {}).get("model") if score else None
