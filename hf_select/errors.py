"""One error family: every user mistake and every refusal hf_select makes is an `HfSelectError`.

Python callers catch the base or one of its classes; the CLI catches the base and prints one line (exit 2).
Messages name the row, column, key or file and say what to do. A fix that is an argument is written with
`Arg`, so the same message reads ``response_column='text'`` in Python, ``--response-column text`` on the
command line and ``response_column: text`` in a recipe (`render_as` picks the reader). Imports nothing.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Literal

Style = Literal["python", "cli", "recipe"]
_STYLE: list[Style] = ["python"]


@contextmanager
def render_as(style: Style):
    """Render `Arg` parts of messages for this reader while the block runs (the CLI wraps each command)."""
    _STYLE.append(style)
    try:
        yield
    finally:
        _STYLE.pop()


class Placeholder(str):
    """A value to be filled in by the user (``<your column>``): shown as is, never quoted."""

    def __repr__(self) -> str:
        return f"<{self}>"


class Arg:
    """An argument named in a fix ("pass on_error='nan'"), rendered in the current reader's terms."""

    def __init__(self, name: str, value: Any) -> None:
        self.name, self.value = name, value

    def __str__(self) -> str:
        shown = repr(self.value) if isinstance(self.value, Placeholder) else self.value
        style = _STYLE[-1]
        if style == "cli":
            return f"--{self.name.replace('_', '-')} {shown}"
        if style == "recipe":
            return f"`{self.name}: {shown}`"
        return f"{self.name}={self.value!r}"

    def __reduce__(self):
        return Arg, (self.name, self.value)


MAX_MESSAGE = 1000  # characters: an error message stays readable whatever the input it quotes


class HfSelectError(Exception):
    """Base of every error hf_select raises on purpose. ``parts`` are strings and `Arg` s, joined when shown; a
    message is never longer than `MAX_MESSAGE` characters (the middle of a longer one is cut)."""

    def __init__(self, *parts: Any) -> None:
        super().__init__(*parts)

    def __str__(self) -> str:
        text = "".join(str(part) for part in self.args)
        return text if len(text) <= MAX_MESSAGE else f"{text[: MAX_MESSAGE - 200]} [...] {text[-190:]}"


class MissingColumnError(HfSelectError, KeyError, ValueError):
    """A column a step needs is not in the dataset (also a `KeyError` and a `ValueError`; shown without quotes)."""

    __str__ = HfSelectError.__str__


class WrongTypeError(HfSelectError, TypeError):
    """An argument of the wrong kind: a stream where a whole split is needed, something else than a score."""


class ColumnTypeError(HfSelectError, TypeError):
    """A column holds values of a type the step cannot use (text where a score is compared, ...)."""


class ScoringInputError(HfSelectError, ValueError):
    """A row cannot be scored as it is; the message names the row and column and says what to do.

    ``column`` and ``overflow`` (the row is longer than the model accepts) let callers tell cases apart."""

    def __init__(self, column: str | None, *parts: Any, overflow: bool = False) -> None:
        super().__init__(*parts)
        self.column, self.overflow = column, overflow

    def __reduce__(self):  # keep the keyword through pickling (errors cross `num_proc` worker boundaries)
        return _rebuild_input_error, (self.column, self.args, self.overflow)


def _rebuild_input_error(column: str | None, parts: tuple, overflow: bool) -> ScoringInputError:
    return ScoringInputError(column, *parts, overflow=overflow)


class ConfigError(HfSelectError, ValueError):
    """A parameter has a value it cannot take (a window of -1, an unknown dtype, contradictory filters)."""


class RecipeError(ConfigError):
    """A recipe that cannot run as written; the message names the file, line and key."""


class DataFormatError(HfSelectError, ValueError):
    """The data is not in the shape the chosen format expects; the message names the helper that fits."""


class SchemaError(HfSelectError, ValueError):
    """A split's columns differ from those of the other splits of its config (one config holds one schema)."""


class OutputError(HfSelectError, OSError):
    """hf_select refuses to write where it could lose a file it did not write (or the source data)."""


class CardError(HfSelectError, ValueError):
    """A dataset card hf_select must edit has broken section markers, or lacks the section it should hold."""


class HubError(HfSelectError, RuntimeError):
    """The Hub could not be reached, or refused what was asked."""


class PublishError(HubError):
    """Publishing to the Hub was refused or failed; nothing partial was committed."""


class NotFoundError(HfSelectError, FileNotFoundError):
    """A file, folder or recipe that is not where the user said."""


class ModelNotSupportedError(HfSelectError, NotImplementedError):
    """A model hf_select cannot score exactly (its head or rotary embeddings do something the engine cannot
    reproduce): refused rather than scored approximately."""


class ModelNotFoundError(NotFoundError):
    """A model that is neither a local path, a cached or reachable Hub id, nor an installed builtin."""
