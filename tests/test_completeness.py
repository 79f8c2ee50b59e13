"""Truncation is data, not a score: every response gets a `complete` flag and a reason, and selection and recipes
leave cut-off traces out by default (a visible, recorded setting)."""

from __future__ import annotations

import pytest
from datasets import Dataset
from public_shapes import PROBLEMS, cut_off, llama_nemotron, openr1_math, r1, thought_solution

from hf_select import CheckAnswers, Completeness, LocalNaturalness, explode, score, select_best
from hf_select.errors import ConfigError


def _flags(rows, **options):
    out = Dataset.from_list(rows).map(Completeness(**options), batched=True)
    return list(zip(out["complete"], out["incomplete_reason"], strict=True))


def test_every_way_a_trace_can_be_cut_off_is_flagged_with_its_reason():
    q, _, reasoning, a = PROBLEMS[0]
    rows = [
        {"prompt": q, "response": r1(reasoning, a)},
        {"prompt": q, "response": cut_off(reasoning)},
        {"prompt": q, "response": thought_solution(reasoning, a)},
        {"prompt": q, "response": f"<|begin_of_thought|>\n\n{reasoning}"},
        {"prompt": q, "response": "<|begin_of_thought|>\n\nx\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n7"},
        {"prompt": q, "response": "Plain answer: 42."},
        {"prompt": q, "response": ""},
    ]
    flags = _flags(rows)
    assert [complete for complete, _ in flags] == [True, False, True, False, False, True, False]
    assert flags[0][1] == "" and "<think> without </think>" in flags[1][1]
    assert "<|begin_of_thought|> without <|end_of_thought|>" in flags[3][1]
    assert "solution cut off" in flags[4][1] and flags[6][1] == "empty response"


def test_finish_reasons_completeness_columns_and_checked_answers_count_and_nulls_say_nothing():
    q, _, reasoning, a = PROBLEMS[0]
    whole = r1(reasoning, a)
    rows = [
        {"response": whole, "finish_reasons": "stop", "is_reasoning_complete": True},
        {"response": whole, "finish_reasons": "length", "is_reasoning_complete": True},
        {"response": whole, "finish_reasons": None, "is_reasoning_complete": None},
        {"response": whole, "finish_reasons": "stop", "is_reasoning_complete": False},
    ]
    flags = _flags(rows)
    assert [complete for complete, _ in flags] == [True, False, True, False]
    assert "finish_reasons is 'length'" in flags[1][1] and "is_reasoning_complete is false" in flags[3][1]
    checked = Dataset.from_list(
        [{"response": whole, "answer": a}, {"response": "<think>\nhm\n</think>\n\nNo idea.", "answer": a}]
    ).map(CheckAnswers(), batched=True)
    assert checked.map(Completeness(), batched=True)["complete"] == [True, False]
    with pytest.raises(ConfigError, match="finish_columns must be a list"):
        Completeness(finish_columns="finish_reasons")


def test_score_flags_every_response_and_selection_leaves_cut_off_traces_out(llama):
    long = explode(
        Dataset.from_list(openr1_math()),
        responses="generations",
        with_columns=["correctness_math_verify", "finish_reasons"],
    )
    scored = score(long, LocalNaturalness(llama, prompt_column="problem"))
    assert scored["complete"] == [g.count("</think>") == 1 for row in openr1_math() for g in row["generations"]]
    # a score under which every cut-off trace wins: best-of-N without the flag would pick each of them
    rigged = scored.map(lambda r: {"rigged": 1.0 if not r["complete"] else 0.0})
    kept = select_best(rigged, by="rigged", group="prompt_id", higher_is_better=True)
    assert all(kept["complete"]) and len(kept) == 4
    kept_all = select_best(rigged, by="rigged", group="prompt_id", higher_is_better=True, incomplete="keep")
    assert not any(kept_all["complete"])
    with pytest.raises(ConfigError, match="incomplete must be 'exclude' or 'keep'"):
        select_best(rigged, by="rigged", group="prompt_id", higher_is_better=True, incomplete="drop")
    assert "complete" not in score(long, LocalNaturalness(llama), completeness=False).column_names


def test_a_column_without_a_recorded_direction_is_not_guessed():
    ds = Dataset.from_dict({"prompt": ["a", "a"], "loss": [0.1, 0.9]})  # e.g. read back from parquet
    with pytest.raises(ConfigError, match="which way is better for 'loss' is unknown"):
        select_best(ds, by="loss")
    assert select_best(ds, by="loss", higher_is_better=False)["loss"] == [0.1]


def test_grouping_by_a_conversation_is_by_value():
    rows = llama_nemotron() + llama_nemotron()[:2]
    ds = Dataset.from_list([{**r, "s": float(i)} for i, r in enumerate(rows)])
    best = select_best(ds, by="s", group="input", higher_is_better=True)  # `input` holds a list of messages
    assert best["s"] == [2.0, 3.0, 4.0, 5.0]


def test_a_list_of_finish_reasons_and_an_empty_chat_reply_are_incomplete():
    """`finish_reasons: ['length']` (vLLM's outputs) counted as complete, and an empty chat reply got
    `complete = None`, which "complete only" keeps (#29): both are incomplete."""
    from hf_select.formats import Shape

    q, _, reasoning, a = PROBLEMS[0]
    whole = r1(reasoning, a)
    flags = _flags(
        [
            {"response": whole, "finish_reasons": ["length"]},
            {"response": whole, "finish_reasons": ["stop"]},
            {"response": whole, "finish_reasons": []},
        ]
    )
    assert [complete for complete, _ in flags] == [False, True, True] and "['length']" in flags[0][1]
    chat = Dataset.from_list(
        [
            {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": c}]}
            for c in ("", "   ", whole)
        ]
    )
    out = chat.map(Completeness(shape=Shape("messages")), batched=True)
    assert out["complete"] == [False, False, True] and out["incomplete_reason"][:2] == ["empty response"] * 2
    sharegpt = Dataset.from_list([{"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": ""}]}])
    assert sharegpt.map(Completeness(shape=Shape("sharegpt")), batched=True)["complete"] == [False]
