"""The card's section contract: one shared header and one marked section per split, merged, never rewritten.

A curated dataset is published one split at a time, and its README also holds what `datasets` maintains
(``configs``/``dataset_info``) and whatever a person wrote by hand. So hf_select's cards mark what they own::

    <!-- hf_select:header --> ... <!-- /hf_select:header -->
    <!-- hf_select:split=train --> ... <!-- /hf_select:split=train -->
    <!-- hf_select:split=other/train --> ... <!-- /hf_select:split=other/train -->   (config "other")

and `merge_card` replaces or adds one split's section (and the header) while keeping the other splits'
sections and all text outside the markers byte for byte.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml
from huggingface_hub import DatasetCard, DatasetCardData
from huggingface_hub.repocard import REGEX_YAML_BLOCK

from hf_select._compat import DEFAULT_CONFIG, check_config_name, check_split_name
from hf_select.errors import CardError

# YAML fields that describe the data files: owned by the data publication, never taken from a new card.
DATA_FIELDS = ("configs", "dataset_info")
UNION_FIELDS = ("tags",)  # list fields merged (order-preserving union) instead of replaced

_MARKER = re.compile(r"<!--\s*(/?)hf_select:(header|split=[^\s>]+)\s*-->")


def _blocks(body: str) -> list[tuple[str | None, str]]:
    """Split a card body into ``(key, text)`` segments: ``key`` is ``header``/``split=<name>`` for a marked
    block (text includes both markers), None for text outside any block. Raises on unbalanced markers,
    because guessing where a section ends could silently eat user text."""
    segments: list[tuple[str | None, str]] = []
    pos = 0
    open_key: str | None = None
    open_at = 0
    for match in _MARKER.finditer(body):
        closing, key = match.group(1) == "/", match.group(2)
        if open_key is None:
            if closing:
                raise CardError(f"Malformed card: closing marker for {key!r} without an opening one")
            segments.append((None, body[pos : match.start()]))
            open_key, open_at = key, match.start()
        elif closing and key == open_key:
            segments.append((key, body[open_at : match.end()]))
            pos, open_key = match.end(), None
        else:
            raise CardError(f"Malformed card: marker {match.group(0)!r} inside the {open_key!r} section")
    if open_key is not None:
        raise CardError(f"Malformed card: the {open_key!r} section is never closed")
    segments.append((None, body[pos:]))
    return [(key, text) for key, text in segments if key is not None or text]


def _find(segments: list[tuple[str | None, str]], key: str) -> list[int]:
    return [i for i, (k, _) in enumerate(segments) if k == key]


def _drop(segments: list[tuple[str | None, str]], index: int) -> None:
    """Remove a block and the blank space just before it (so no growing run of empty lines is left)."""
    del segments[index]
    if index > 0 and segments[index - 1][0] is None:
        text = segments[index - 1][1].rstrip(" \t\r\n")
        segments[index - 1] = (None, text)


def _merge_body(existing: str, new: str, split: str) -> str:
    split_key = f"split={split}"
    new_segments = _blocks(new)
    new_split = [text for key, text in new_segments if key == split_key]
    if not new_split:
        raise CardError(f"The new card has no section for split {split!r} (<!-- hf_select:{split_key} -->)")
    new_header = [text for key, text in new_segments if key == "header"]

    if not existing.strip():
        # A fresh card (or the YAML-only README datasets writes on a first push): the new card's body, minus
        # sections of other splits, which would describe data this push does not publish.
        segments = list(new_segments)
        for index in reversed(range(len(segments))):
            key = segments[index][0]
            if key is not None and key.startswith("split=") and key != split_key:
                _drop(segments, index)
        for index in reversed(_find(segments, split_key)[1:]):
            _drop(segments, index)
        return "".join(text for _, text in segments)

    segments = _blocks(existing)
    if new_header:
        headers = _find(segments, "header")
        if headers:
            segments[headers[0]] = ("header", new_header[0])
            for index in reversed(headers[1:]):
                _drop(segments, index)
        else:
            rest = "".join(text for _, text in segments).lstrip("\r\n")
            segments = [(None, "\n"), ("header", new_header[0]), (None, "\n\n")] + _blocks(rest)
    found = _find(segments, split_key)
    if found:
        segments[found[0]] = (split_key, new_split[0])
        for index in reversed(found[1:]):
            _drop(segments, index)
    else:
        anchors = [i for i, (key, _) in enumerate(segments) if key and key.startswith("split=")]
        anchors = anchors or _find(segments, "header")
        if anchors:
            at = anchors[-1] + 1
            segments[at:at] = [(None, "\n\n"), (split_key, new_split[0])]
        else:
            text = "".join(text for _, text in segments).rstrip("\r\n")
            segments = [(None, text + "\n\n" if text else "\n"), (split_key, new_split[0]), (None, "\n")]
    return "".join(text for _, text in segments)


def _union(first: Any, second: Any) -> list:
    as_list = [] if first is None else list(first) if isinstance(first, (list, tuple)) else [first]
    for item in [] if second is None else second if isinstance(second, (list, tuple)) else [second]:
        if item not in as_list:
            as_list.append(item)
    return as_list


def _yaml_fields(card: DatasetCard) -> dict[str, Any]:
    """The card's metadata in the order its README shows it (``card.data.to_dict()`` reorders known fields)."""
    match = REGEX_YAML_BLOCK.search(str(card))
    return (yaml.safe_load(match.group(2)) or {}) if match else {}


def _card(data: dict[str, Any], body: str) -> DatasetCard:
    # `original_order`: keep the fields in the order they come (DatasetCardData would reorder its known ones).
    yaml_block = DatasetCardData(**copy.deepcopy(data)).to_yaml(original_order=list(data)) if data else ""
    return DatasetCard(f"---\n{yaml_block}\n---\n{body}")


_TOP_KEY = re.compile(r"^([^\s#\-][^:]*):")  # a top-level field (``key:`` at column 0)


def _yaml_blocks(text: str) -> list[tuple[str | None, list[str]]]:
    """A YAML header's lines grouped as written: ``(field, its lines)`` for each top-level field (indented lines,
    list items and comments inside it follow it), ``(None, lines)`` for comments and blank lines at the top."""
    blocks: list[tuple[str | None, list[str]]] = []
    for line in text.splitlines():
        key = _TOP_KEY.match(line)
        if key:
            blocks.append((key.group(1).strip().strip("'\""), [line]))
        elif line.startswith("#") or not line.strip() or not blocks or blocks[-1][0] is None:
            blocks.append((None, [line]))
        else:
            blocks[-1][1].append(line)
    return blocks


def keep_layout(before: str | None, after: DatasetCard) -> str:
    """The text of ``after`` with the YAML header written as ``before`` (the README being merged into) wrote it
    wherever its values did not change: a person's comments, order and quoting are kept line for line; a changed
    field is written anew in its place, a new one at the end, a removed one goes. The body is ``after``'s. Text,
    not a `DatasetCard`: a card re-dumps its YAML (and drops comments) whenever it is turned into text."""
    match = REGEX_YAML_BLOCK.search(before or "")
    old = (yaml.safe_load(match.group(2)) or {}) if match else None
    if not isinstance(old, dict):
        return str(after)
    new = _yaml_fields(after)
    lines: list[str] = []
    for key, block in _yaml_blocks(match.group(2)):
        if key is None or (key in new and new[key] == old.get(key)):
            lines += block
        elif key in new:
            lines += _dump(key, new[key])
    lines += [line for key in new if key not in old for line in _dump(key, new[key])]
    return "---\n" + "\n".join(lines).strip("\n") + "\n---\n" + after.text


def _dump(key: str, value: Any) -> list[str]:
    return DatasetCardData(**{key: copy.deepcopy(value)}).to_yaml().splitlines()


def check_markers(card: DatasetCard) -> None:
    """A card hf_select will merge into must have balanced section markers (`CardError` otherwise)."""
    _blocks(card.text)


def section_key(config_name: str, split: str) -> str:
    """The key of a split's card section: the split's name, prefixed by its config unless it is "default", so
    that two configs' ``train`` splits each keep their own section."""
    return split if config_name == DEFAULT_CONFIG else f"{config_name}/{split}"


def merge_card(existing: DatasetCard | None, new: DatasetCard, split: str) -> DatasetCard:
    """The card after publishing ``split`` with ``new``'s header and section, on top of ``existing``.

    Several splits share one README, published at different times, and the README also holds what
    `datasets` maintains (``configs``/``dataset_info``) and whatever a person added by hand; so the merge
    only ever touches what this split's card owns.

    YAML: ``existing``'s fields, in their order; ``configs``/``dataset_info`` always stay those of
    ``existing`` (they describe the files in the repo, not this card); every other field set in ``new``
    replaces the existing value, except ``tags`` (order-preserving union). With ``existing=None``, ``new``'s
    YAML is used as is.

    Body: ``new``'s header block replaces ``existing``'s (or goes first); ``new``'s ``split=<split>`` block
    replaces ``existing``'s (or goes right after the last split block, else after the header). Other split
    blocks and all text outside the markers are kept byte for byte. When ``existing`` has no body (None,
    or the YAML-only README that ``push_to_hub`` writes on a first push), the body is ``new``'s, minus any
    other split's section. Merging the same card twice gives the same text.

    ``split`` is the section's key (`section_key`: ``config/split`` outside the default config).
    Raises `CardError` if ``new`` has no section for ``split`` or a card has unbalanced markers.
    """
    config, _, name = split.rpartition("/")
    check_split_name(name)
    if config:
        check_config_name(config)
    new_data = _yaml_fields(new)
    if existing is None:
        return _card(new_data, _merge_body("", new.text, split))
    data = _yaml_fields(existing)
    for key, value in new_data.items():
        if key in DATA_FIELDS:
            continue
        data[key] = _union(data.get(key), value) if key in UNION_FIELDS else copy.deepcopy(value)
    return _card(data, _merge_body(existing.text, new.text, split))
