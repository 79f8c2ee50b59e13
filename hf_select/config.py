"""Configuration dataclasses: one field per option, with its help text and its checks (as trl's configs do).

Every score's parameters, the data's `hf_select.formats.Shape`, `hf_select.ModelConfig` and every recipe section
are such dataclasses. One definition serves the Python call, the recipe schema (keys, types, the line of a
mistake), the CLI flags (through transformers' ``HfArgumentParser``) and the card's parameter table, and
`as_config` (a JSON-safe dict of *every* field) is what cache keys are built from: a new field cannot be left
out of a key. `check_fields` checks each value against its annotation (``Literal`` choices, ``int``, ``str``,
...), so choices are declared once, in the annotation. Imports nothing from hf_select but its errors.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from collections import abc
from collections.abc import Callable
from typing import Any, Literal

from hf_select.errors import ConfigError

MISSING = dataclasses.MISSING


def option(
    help: str,
    default: Any = MISSING,
    *,
    describe: Callable[[Any], Any] | None = None,
    aliases: list[str] | None = None,
    **kwargs: Any,
) -> Any:
    """A dataclass field with its help text. ``describe(value)`` makes a value JSON-safe for cache keys and
    cards (a callable splitter is described by its code); plain values need none. ``aliases``: more CLI flags."""
    metadata = {
        "help": help,
        **({"describe": describe} if describe else {}),
        **({"aliases": aliases} if aliases else {}),
    }
    if default is MISSING and "default_factory" not in kwargs:
        return dataclasses.field(metadata=metadata, **kwargs)
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


@functools.cache
def hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a dataclass's fields."""
    return typing.get_type_hints(cls)


def choices(hint: Any) -> tuple | None:
    """The allowed values of a ``Literal`` annotation (also inside ``Optional``), else None."""
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if typing.get_origin(arg) is Literal:
                return typing.get_args(arg)
    return None


def _accepts(hint: Any, value: Any) -> bool:
    """Whether ``value`` fits ``hint``, for the simple types configuration fields use."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(arg, value) for arg in typing.get_args(hint))
    if origin is Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is abc.Callable or hint is abc.Callable:
        return callable(value)
    if origin in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin is dict:
        return isinstance(value, dict)
    return isinstance(value, hint) if isinstance(hint, type) else True


def describe_type(hint: Any) -> str:
    """``'raise' or 'nan'``, ``an int``, ``a str or None``: what a field accepts, in words."""
    allowed = choices(hint)
    if allowed is not None:
        return " or ".join(map(repr, allowed))
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(describe_type(arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return "None"
    if typing.get_origin(hint) is abc.Callable:
        return "a function"
    name = getattr(hint, "__name__", str(hint))
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def check_fields(obj: Any, owner: str | None = None) -> None:
    """Every field's value fits its annotation; else a `ConfigError` that names the field, what it accepts and
    the value. Call it first in ``__post_init__``."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        hint = hints(type(obj))[f.name]
        if not _accepts(hint, value):
            where = f"{owner}: " if owner else ""
            raise ConfigError(f"{where}{f.name} must be {describe_type(hint)}, not {value!r}")


def as_config(obj: Any) -> dict[str, Any]:
    """Every field of a configuration dataclass, JSON-safe (fields with ``describe`` metadata described)."""
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        describe = f.metadata.get("describe")
        out[f.name] = describe(value) if describe is not None else _plain(value)
    json.dumps(out)  # a value that is not JSON-safe is a bug in the dataclass: fail here, not in a cache key
    return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return as_config(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]
