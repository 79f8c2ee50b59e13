"""Every score column carries its definition, inside the dataset.

The full configuration of each scorer that produced a column (model identity, window, splitter, layout,
library version, ...) is stored as JSON in the dataset's ``info.description``, which `datasets` keeps
through ``map``/``filter``/``select`` and ``save_to_disk``. Cards are later written from the dataset alone.
"""

from __future__ import annotations

import json
from typing import Any

from datasets import Dataset

MARKER = "hf_select: "


def read_metadata(ds: Dataset) -> dict[str, Any]:
    """``{"scores": {name: config}, "columns": {column: {"score", "higher_is_better", "definition"}}}``."""
    description = ds.info.description or ""
    at = description.rfind(MARKER)
    if at == -1 or (at > 0 and description[at - 1] != "\n"):
        return {"scores": {}, "columns": {}}
    return json.loads(description[at + len(MARKER) :])


def user_description(ds: Dataset) -> str:
    """The dataset's own description, without the hf_select block."""
    description = ds.info.description or ""
    at = description.rfind(MARKER)
    return description if at == -1 else description[:at].rstrip("\n")


def record_score(ds: Dataset, name: str, config: dict[str, Any], columns: dict[str, dict[str, Any]]) -> Dataset:
    """Attach a scorer's configuration and column definitions to ``ds`` (in place; returns ``ds``)."""
    meta = read_metadata(ds)
    meta["scores"][name] = config
    meta["columns"].update(columns)
    own = user_description(ds)
    ds.info.description = (own + "\n" if own else "") + MARKER + json.dumps(meta, sort_keys=True)
    return ds


def higher_is_better(ds: Dataset, column: str) -> bool:
    """The direction of a score column: from the dataset's metadata, else from the known scores."""
    recorded = read_metadata(ds)["columns"].get(column, {})
    if "higher_is_better" in recorded:
        return bool(recorded["higher_is_better"])
    from hf_select.scores import KNOWN_DIRECTIONS

    return KNOWN_DIRECTIONS.get(column, True)
