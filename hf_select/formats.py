"""The shapes reasoning-distillation data comes in, and how hf_select reads each of them.

(Filled in by the data-shapes work; for now the advice a scorer gives when a text cell has the wrong type.)
"""

from __future__ import annotations

from typing import Any


def wrong_type_advice(column: str, value: Any) -> str | None:
    """What to do when ``column`` holds ``value`` where a string was expected, when the value's shape says
    which format or helper fits; None when it says nothing."""
    if isinstance(value, list) and value:
        if all(isinstance(v, dict) and ({"role", "content"} <= set(v) or {"from", "value"} <= set(v)) for v in value):
            return (f"it holds a conversation of {len(value)} messages, not a string: this is chat data. Name its "
                    "format (format='messages', `dataset.format: messages`, --format messages) so hf_select scores "
                    "the assistant turn.")
        if all(isinstance(v, str) for v in value):
            return (f"it holds a list of {len(value)} strings, not a string: this looks like wide data (several "
                    f"generations per prompt). Use hf_select.explode(ds, responses={column!r}) or "
                    "`dataset.format: wide` to get one row per response.")
    return None
