"""The example dataset shipped in ``hf_select/data``: loadable, reproducible, and honest about its answers.

The demo has to discover the hasty teacher's wrong answers on its own, so the wrong flag is not in the
JSONL; these tests take it from the generator and check it against ``math_verify``, the same checker the
demo uses.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
from datasets import load_dataset
from math_verify import parse, verify

from hf_select.sources import builtin_data_path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import make_example  # noqa: E402 - the generator lives in scripts/, outside the installed package

DATA = Path(builtin_data_path("hf_select:math_teachers"))
TEACHERS = {"concise", "long_cot", "self_correct", "hasty"}


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def records() -> list[make_example.Record]:
    return make_example.build()


def test_loads_with_datasets_json(tmp_path: Path) -> None:
    ds = load_dataset("json", data_files=str(DATA), split="train", cache_dir=str(tmp_path / "cache"))
    assert set(ds.column_names) == {"id", "prompt_id", "prompt", "response", "teacher", "answer"}
    assert "is_wrong_by_construction" not in ds.column_names
    assert len(ds) == len(set(ds["id"]))


def test_prompts_and_teachers(rows: list[dict[str, str]]) -> None:
    per_prompt: dict[str, list[str]] = {}
    for row in rows:
        per_prompt.setdefault(row["prompt_id"], []).append(row["teacher"])
        assert row["id"] == f"{row['prompt_id']}-{row['teacher']}"
    assert len(per_prompt) >= 40
    assert all(sorted(t) == sorted(TEACHERS) for t in per_prompt.values())
    assert len({row["prompt"] for row in rows}) == len(per_prompt)  # no duplicated problem text


def test_at_least_eight_templates(records: list[make_example.Record]) -> None:
    assert len({r.template for r in records}) >= 8


def test_regeneration_is_byte_identical(tmp_path: Path) -> None:
    out = make_example.write_jsonl(tmp_path / "math_teachers.jsonl")
    assert out.read_bytes() == DATA.read_bytes()


def test_answers_verify_exactly_when_correct_by_construction(
    rows: list[dict[str, str]], records: list[make_example.Record]
) -> None:
    wrong = {r.id for r in records if r.is_wrong_by_construction}
    assert wrong and all(i.endswith("-hasty") for i in wrong)
    for row in rows:
        assert row["response"].count("\\boxed{") == 1, row["id"]
        ok = verify(parse(row["answer"]), parse(row["response"]))
        assert ok == (row["id"] not in wrong), row["id"]


def test_hasty_wrong_share(records: list[make_example.Record]) -> None:
    hasty = [r for r in records if r.teacher == "hasty"]
    share = sum(r.is_wrong_by_construction for r in hasty) / len(hasty)
    assert 0.25 <= share <= 0.45


def test_size_budget(rows: list[dict[str, str]]) -> None:
    total = sum(len(row["response"]) for row in rows)
    assert 50_000 <= total <= 90_000


def test_every_response_has_blank_line_paragraphs(rows: list[dict[str, str]]) -> None:
    for row in rows:
        paragraphs = [p for p in re.split(r"\n\s*\n", row["response"]) if p.strip()]
        assert len(paragraphs) >= 2, row["id"]


def test_teacher_styles_differ(rows: list[dict[str, str]]) -> None:
    """The styles are meant to be told apart: long chains of thought are longest, hasty shortest."""
    chars: Counter[str] = Counter()
    for row in rows:
        chars[row["teacher"]] += len(row["response"])
    assert chars["long_cot"] > chars["self_correct"] > chars["concise"] > chars["hasty"]
    fixes = [row["response"] for row in rows if row["teacher"] == "self_correct"]
    assert all(("wait" in text.lower() or "hold on" in text.lower()) for text in fixes)  # the slip is noticed
