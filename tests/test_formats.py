"""Every shape of public reasoning-distillation data goes in without glue code, scores equal to the naive
reference on the same text and context, and errors name the format or helper that fits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from datasets import Dataset, DatasetDict
from public_shapes import (
    OPENTHOUGHTS_SYSTEM,
    PROBLEMS,
    classic_sharegpt,
    llama_nemotron,
    mixture_of_thoughts,
    multi_turn_messages,
    openr1_math,
    openthoughts,
    r1,
    s1k,
    thought_solution,
    trl_prompt_completion,
)

from hf_select import (
    CheckAnswers,
    GlobalNaturalness,
    LocalNaturalness,
    MissingColumnError,
    RankSurprisal,
    ScoringInputError,
    Shape,
    explode,
    rank_teachers,
    score,
    select_best,
)
from hf_select.metadata import read_metadata
from hf_select.reference import naive_global, naive_local, naive_rank_surprisal
from hf_select.traces import parse_trace
from hf_select.wide import fold

TOL = 1e-4


def _check_global(out, expected):
    for got, want in zip(out, expected, strict=True):
        assert got["global_naturalness"] == pytest.approx(want["global_naturalness"], abs=TOL)
        assert got["global_num_tokens"] == want["global_num_tokens"]


@pytest.mark.parametrize("model_name", ["llama", "nobos"])  # a chat template, and the plain rendering
def test_messages_score_the_last_assistant_turn_given_the_conversation(model_name, request):
    model = request.getfixturevalue(model_name)
    rows = mixture_of_thoughts() + multi_turn_messages()
    out = score(Dataset.from_list(rows), GlobalNaturalness(model, format="messages"))
    expected = [naive_global(model, r["messages"][:-1], r["messages"][-1]["content"]) for r in rows]
    _check_global(out, expected)
    assert out.column_names[:3] == ["messages", "num_tokens", "source"]  # the user's columns stay as they are
    assert read_metadata(out)["scores"]["global_naturalness"]["format"] == "messages"


def test_every_assistant_turn_is_scored_with_turns_all(llama):
    row = multi_turn_messages()[0]
    out = Dataset.from_list([row]).map(GlobalNaturalness(llama, format="messages", turns="all"), batched=True)
    messages = row["messages"]
    turns = [naive_global(llama, messages[:i], messages[i]["content"]) for i in (2, 4)]
    total = sum(t["global_logprob_sum"] for t in turns)
    assert out[0]["global_num_tokens"] == sum(t["global_num_tokens"] for t in turns)
    assert out[0]["global_naturalness"] == pytest.approx(total / out[0]["global_num_tokens"], abs=TOL)
    rsr = Dataset.from_list([row]).map(RankSurprisal(llama, format="messages", turns="all", rank_clip=5), batched=True)[
        0
    ]
    ranks = np.concatenate([np.minimum(t["ranks"], 5) for t in turns]).astype(float)
    surprisal = -np.concatenate([t["logprobs"] for t in turns]).astype(float)
    assert rsr["rsr"] == pytest.approx(ranks.mean() / surprisal.mean(), abs=TOL)


def test_sharegpt_system_and_turns(llama):
    rows = openthoughts()
    out = score(Dataset.from_list(rows), GlobalNaturalness(llama, format="sharegpt"))
    expected = [
        naive_global(
            llama,
            [{"role": "system", "content": r["system"]}, {"role": "user", "content": r["conversations"][0]["value"]}],
            r["conversations"][1]["value"],
        )
        for r in rows
    ]
    _check_global(out, expected)


def test_prompt_completion_strings_or_messages_and_custom_columns(llama, nobos):
    for model in (llama, nobos):
        as_text = score(
            Dataset.from_list(
                [
                    {"prompt": q, "response": r["completion"]}
                    for (q, *_), r in zip(PROBLEMS, trl_prompt_completion(), strict=True)
                ]
            ),
            GlobalNaturalness(model),
        )
        for as_messages in (False, True):
            out = score(
                Dataset.from_list(trl_prompt_completion(as_messages)),
                GlobalNaturalness(model, format="prompt_completion"),
            )
            np.testing.assert_allclose(out["global_naturalness"], as_text["global_naturalness"], atol=TOL)
    nemotron = llama_nemotron()
    out = score(
        Dataset.from_list(nemotron),
        GlobalNaturalness(llama, format="prompt_completion", prompt_column="input", response_column="output"),
    )
    system = [[{"role": "system", "content": r["system_prompt"]}] for r in nemotron]  # its own column, read too
    _check_global(
        out, [naive_global(llama, s + r["input"], r["output"]) for s, r in zip(system, nemotron, strict=True)]
    )


def test_local_naturalness_of_chat_data_steps_through_the_assistant_turn(llama):
    rows = mixture_of_thoughts()
    out = score(Dataset.from_list(rows), LocalNaturalness(llama, format="messages", window=1))
    for got, row in zip(out, rows, strict=True):
        want = naive_local(llama, row["messages"][-1]["content"], window=1)
        assert got["local_naturalness"] == pytest.approx(want["local_naturalness"], abs=TOL)


# -- DeepSeek-R1 traces ----------------------------------------------------------------------------------------
def test_parts_of_an_r1_trace_are_scored_on_their_own(llama):
    q, _, reasoning, a = PROBLEMS[0]
    response = r1(reasoning, a)
    trace = parse_trace(response)
    ds = Dataset.from_list([{"prompt": q, "response": response}])
    answer = score(ds, GlobalNaturalness(llama, part="answer"))[0]
    want = naive_global(llama, q, response[trace.answer_start :], before=response[: trace.answer_start])
    assert answer["global_naturalness"] == pytest.approx(want["global_naturalness"], abs=TOL)
    thinking = score(ds, GlobalNaturalness(llama, part="reasoning"))
    want = naive_global(
        llama, q, response[trace.reasoning_start : trace.reasoning_end], before=response[: trace.reasoning_start]
    )
    assert thinking[0]["global_naturalness"] == pytest.approx(want["global_naturalness"], abs=TOL)
    assert read_metadata(thinking)["scores"]["global_naturalness"]["part"] == "reasoning"
    cut = Dataset.from_list([{"prompt": q, "response": "<think>\nStill thinking about it"}])
    with pytest.raises(ScoringInputError, match="cut off"):
        score(cut, GlobalNaturalness(llama, part="answer"))
    assert math.isnan(score(cut, GlobalNaturalness(llama, part="answer", on_error="nan"))[0]["global_naturalness"])


def test_answer_checking_grades_only_the_answer_of_an_r1_trace():
    rows = [
        {"response": "<think>\nMaybe \\boxed{41}? No.\n</think>\n\nSo \\boxed{42}.", "answer": "42"},  # right
        {"response": "<think>\nIt is \\boxed{42}.\n</think>\n\nActually \\boxed{41}.", "answer": "42"},  # wrong
        {"response": "<think>\nSo far \\boxed{42}, but let me", "answer": "42"},  # cut off
        {"response": "Plain answer: \\boxed{42}", "answer": "42"},
    ]
    out = Dataset.from_list(rows).map(CheckAnswers(), batched=True)
    assert out["is_correct"] == [True, False, False, True]
    assert out["extracted_answer"] == ["42", "41", None, "42"]
    assert "cut off" in out[2]["answer_note"] and out[0]["answer_note"] == ""
    chat = Dataset.from_list(mixture_of_thoughts()).map(lambda r: {"answer": "42"})
    assert chat.map(CheckAnswers(format="messages"), batched=True)["is_correct"] == [True, False, False, False, False]


# -- wide data --------------------------------------------------------------------------------------------------
def test_explode_a_list_of_generations_and_fold_it_back():
    wide = Dataset.from_list(openr1_math())
    long = explode(
        wide,
        responses="generations",
        with_columns=["correctness_math_verify", "correctness_llama", "is_reasoning_complete", "finish_reasons"],
    )
    assert len(long) == 14 and long["prompt_id"] == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3]
    assert long["generation_index"][:3] == [0, 1, 2] and long["finish_reasons"][:3] == ["stop", "stop", "length"]
    assert long["finish_reasons"][3:7] == [None] * 4  # a null list: unknown for each of the row's generations
    assert long["correctness_llama"][:7] == [True, False, None, None, None, None, None]
    assert long["correctness_math_verify"][:3] == [True, False, False] and long[4]["problem"] == PROBLEMS[1][0]
    assert long[0]["response"] == openr1_math()[0]["generations"][0] and "generations" not in long.column_names
    best = select_best(
        long.map(lambda r: {"score": -len(r["response"])}),
        by="score",
        group="prompt_id",
        higher_is_better=True,
        among="correctness_math_verify",
        top_k=1,
    )
    assert best["generation_index"] == [0, 0, 0, 0]
    folded = fold(long, by="prompt_id", columns=["response", "generation_index"])
    assert len(folded) == 4 and folded[0]["response"] == openr1_math()[0]["generations"]
    assert folded[0]["problem"] == PROBLEMS[0][0] and folded[1]["generation_index"] == [0, 1, 2, 3]
    again = fold(long, by="prompt_id")  # every column that differs within a prompt becomes a list
    assert again[1]["finish_reasons"] == [None] * 4 and again[0]["problem"] == PROBLEMS[0][0]
    assert again["response"] == folded["response"] and "correctness_count" not in [
        c for c in again.column_names if isinstance(again[0][c], list)
    ]


def test_explode_one_column_per_teacher_into_r1_traces():
    long = explode(
        Dataset.from_list(s1k()),
        responses={
            "gemini": {"reasoning": "gemini_thinking_trajectory", "answer": "gemini_attempt"},
            "deepseek": {"reasoning": "deepseek_thinking_trajectory", "answer": "deepseek_attempt"},
        },
    )
    assert len(long) == 8 and long["teacher"][:2] == ["gemini", "deepseek"]
    assert parse_trace(long[0]["response"]).answer_start is not None
    assert (
        long.map(lambda r: {"answer": r["solution"].split()[-1].rstrip(".")}).map(CheckAnswers(), batched=True)[
            "is_correct"
        ]
        == [True] * 8
    )
    named = explode(Dataset.from_list(s1k()), responses=["gemini_attempt", "deepseek_attempt"])
    assert named["teacher"][:2] == ["gemini_attempt", "deepseek_attempt"]


def test_explode_names_misaligned_rows():
    rows = openr1_math()
    rows[2]["finish_reasons"] = ["stop"]
    with pytest.raises(Exception, match="row 2, column 'finish_reasons' has 1 values for 3 generations"):
        explode(Dataset.from_list(rows), responses="generations", with_columns=["finish_reasons"])


# -- wrong types, DatasetDict, streams --------------------------------------------------------------------------
def test_wrong_types_name_the_format_that_fits(llama):
    with pytest.raises(
        ScoringInputError,
        match=r"row 0, column 'generations': it holds a list of 3 strings.*"
        r"hf_select.explode\(ds, responses='generations'\)",
    ):
        score(
            Dataset.from_list(openr1_math()),
            GlobalNaturalness(llama, prompt_column="problem", response_column="generations"),
        )
    with pytest.raises(
        ScoringInputError, match="column 'messages': it holds a conversation of 2 messages.*format='messages'"
    ):
        score(
            Dataset.from_list(openr1_math()),
            GlobalNaturalness(llama, prompt_column="problem", response_column="messages"),
        )
    with pytest.raises(ScoringInputError, match="holds a string, not a conversation.*format='text'"):
        score(Dataset.from_list([{"messages": "just text"}]), GlobalNaturalness(llama, format="messages"))


def test_a_dataset_dict_is_scored_and_selected_split_by_split(llama):
    rows = [
        {"prompt": q, "response": r1(reasoning, a), "teacher": t}
        for (q, _, reasoning, a) in PROBLEMS
        for t in ("a", "b")
    ]
    dd = DatasetDict({"train": Dataset.from_list(rows[:6]), "test": Dataset.from_list(rows[6:])})
    scored = score(dd, GlobalNaturalness(llama))
    assert isinstance(scored, DatasetDict) and set(scored) == {"train", "test"}
    best = select_best(scored, by="global_naturalness")
    assert {k: len(v) for k, v in best.items()} == {"train": 3, "test": 1}
    ranking = rank_teachers(scored, by="global_naturalness")
    assert set(ranking) == {"train", "test"} and ranking["train"]["teacher"] != []


def test_a_stream_is_scored_lazily_and_selection_says_how_to_materialise_it(llama):
    rows = Dataset.from_list(mixture_of_thoughts())
    stream = score(rows.to_iterable_dataset(), GlobalNaturalness(llama, format="messages"))
    eager = score(rows, GlobalNaturalness(llama, format="messages"))
    np.testing.assert_allclose([r["global_naturalness"] for r in stream], eager["global_naturalness"], atol=1e-6)
    with pytest.raises(TypeError, match="not a stream: materialise it"):
        select_best(stream, by="global_naturalness", group="source")


def test_rsr_of_chat_rows_matches_the_reference(llama):
    rows = mixture_of_thoughts()
    out = score(Dataset.from_list(rows), RankSurprisal(llama, format="messages"))
    for got, row in zip(out, rows, strict=True):
        want = naive_rank_surprisal(llama, row["messages"][:-1], row["messages"][-1]["content"])
        assert got["rsr"] == pytest.approx(want["rsr"], abs=TOL)


def test_chat_scores_do_not_depend_on_batch_size_or_order(llama):
    rows = Dataset.from_list(mixture_of_thoughts() + multi_turn_messages() + mixture_of_thoughts()[:2])
    make = [
        lambda: GlobalNaturalness(llama, format="messages", turns="all"),
        lambda: LocalNaturalness(llama, format="messages", part="reasoning", on_error="nan"),
    ]
    for build in make:
        one = score(rows, build(), batch_size=1)
        order = [7, 6, 2, 0, 5, 1, 3, 4]
        many = score(rows.select(order), build(), batch_size=64)
        column = next(c for c in one.column_names if c.endswith("_naturalness"))
        np.testing.assert_allclose([many[order.index(i)][column] for i in range(len(rows))], one[column], atol=1e-6)


# -- system prompts in their own column, OpenThoughts traces, classic ShareGPT ----------------------------------------
def test_a_system_prompt_in_its_own_column_is_part_of_the_scored_context(llama):
    rows = llama_nemotron()[:2]
    flipped = [{**r, "system_prompt": "detailed thinking " + ("off" if r["reasoning"] == "on" else "on")} for r in rows]

    def make():
        return GlobalNaturalness(llama, format="prompt_completion", prompt_column="input", response_column="output")

    out, other = score(Dataset.from_list(rows), make()), score(Dataset.from_list(flipped), make())
    assert all(abs(a - b) > 1e-3 for a, b in zip(out["global_naturalness"], other["global_naturalness"], strict=True))
    for got, row in zip(out, rows, strict=True):
        want = naive_global(llama, [{"role": "system", "content": row["system_prompt"]}, *row["input"]], row["output"])
        assert got["global_naturalness"] == pytest.approx(want["global_naturalness"], abs=TOL)
    # text data with a `system` column, and a system column named explicitly
    text = [{"prompt": q, "response": r1(reasoning, a), "system": "Be brief."} for q, _, reasoning, a in PROBLEMS[:2]]
    got = score(Dataset.from_list(text), GlobalNaturalness(llama))["global_naturalness"]
    want = [
        naive_global(
            llama, [{"role": "system", "content": "Be brief."}, {"role": "user", "content": r["prompt"]}], r["response"]
        )["global_naturalness"]
        for r in text
    ]
    np.testing.assert_allclose(got, want, atol=TOL)
    renamed = Dataset.from_list(
        [{"prompt": r["prompt"], "response": r["response"], "instructions": "Be brief."} for r in text]
    )
    np.testing.assert_allclose(
        score(renamed, GlobalNaturalness(llama, system_column="instructions"))["global_naturalness"], want, atol=TOL
    )
    with pytest.raises(MissingColumnError, match="'instructions'"):
        score(Dataset.from_list(text), GlobalNaturalness(llama, system_column="instructions"))
    with pytest.raises(ScoringInputError, match="column 'system': the system prompt must be a string"):
        score(Dataset.from_list([{**text[0], "system": ["Be brief."]}]), GlobalNaturalness(llama))


def test_openthoughts_thought_and_solution_are_understood(llama):
    q, _, reasoning, a = PROBLEMS[2]
    reply = thought_solution(reasoning, a)
    trace = parse_trace(reply)
    assert reply[trace.reasoning_start : trace.reasoning_end].strip() == reasoning
    assert reply[trace.answer_start : trace.answer_end].strip() == f"The answer is $\\boxed{{{a}}}$."
    assert trace.incomplete is None
    row = {
        "system": OPENTHOUGHTS_SYSTEM,
        "conversations": [{"from": "user", "value": q}, {"from": "assistant", "value": reply}],
    }
    context = [{"role": "system", "content": OPENTHOUGHTS_SYSTEM}, {"role": "user", "content": q}]
    ds = Dataset.from_list([row])
    answer = score(ds, GlobalNaturalness(llama, format="sharegpt", part="answer"))[0]
    want = naive_global(
        llama, context, reply[trace.answer_start : trace.answer_end], before=reply[: trace.answer_start]
    )
    assert answer["global_naturalness"] == pytest.approx(want["global_naturalness"], abs=TOL)
    thought = score(ds, GlobalNaturalness(llama, format="sharegpt", part="reasoning"))[0]
    want = naive_global(
        llama, context, reply[trace.reasoning_start : trace.reasoning_end], before=reply[: trace.reasoning_start]
    )
    assert thought["global_naturalness"] == pytest.approx(want["global_naturalness"], abs=TOL)
    # the markers are never steps of their own, and local naturalness matches the reference on the whole reply
    local = score(ds, LocalNaturalness(llama, format="sharegpt"))[0]
    steps = naive_local(llama, reply)
    assert local["local_num_steps"] == steps["local_num_steps"] == 3
    assert local["local_naturalness"] == pytest.approx(steps["local_naturalness"], abs=TOL)
    # grading reads the solution, not the thought
    graded = Dataset.from_list(
        [
            {**row, "answer": a},
            {
                **row,
                "answer": "41",
                "conversations": [
                    row["conversations"][0],
                    {"from": "assistant", "value": thought_solution(f"Is it \\boxed{{{a}}}?", "41")},
                ],
            },
            {
                **row,
                "answer": a,
                "conversations": [
                    row["conversations"][0],
                    {"from": "assistant", "value": f"<|begin_of_thought|>\n\nSo \\boxed{{{a}}}"},
                ],
            },
        ]
    )
    checked = graded.map(CheckAnswers(format="sharegpt"), batched=True)
    assert checked["is_correct"] == [True, True, False] and checked["extracted_answer"][:2] == [a, "41"]
    assert "reasoning cut off" in checked[2]["answer_note"]
    with pytest.raises(ScoringInputError, match="part='answer': reasoning cut off"):
        score(graded.select([2]), GlobalNaturalness(llama, format="sharegpt", part="answer"))


def test_classic_sharegpt_roles_and_system_column(llama):
    rows = classic_sharegpt()
    out = score(Dataset.from_list(rows), GlobalNaturalness(llama, format="sharegpt"))
    expected = [
        naive_global(
            llama,
            [{"role": "system", "content": r["system"]}, {"role": "user", "content": r["conversations"][0]["value"]}],
            r["conversations"][1]["value"],
        )
        for r in rows
    ]
    _check_global(out, expected)
    conversation = Shape("sharegpt").conversation(rows[0])
    assert [m["role"] for m in conversation] == ["system", "user", "assistant"]


def test_a_null_system_column_beside_a_set_one_keeps_the_system_prompt():
    """`system` null and `system_prompt` set: the first column present won even when null, so the system prompt
    left the scored context and the training example (#29)."""
    from hf_select import to_sft

    shape = Shape("text")
    row = {"prompt": "What is 2 + 2?", "response": "4.", "system": None, "system_prompt": "Think step by step."}
    assert shape.conversation(row)[0] == {"role": "system", "content": "Think step by step."}
    trained = to_sft(Dataset.from_list([row]), shape)
    assert trained[0]["prompt"][0] == {"role": "system", "content": "Think step by step."}
    assert not {"system", "system_prompt"} & set(trained.column_names)
    assert shape.conversation({**row, "system": "  "})[0]["content"] == "Think step by step."
    assert shape.conversation({**row, "system": "Think step by step."})[0]["content"] == "Think step by step."
    with pytest.raises(ScoringInputError, match="two different system prompts.*system_column="):
        shape.conversation({**row, "system": "Be brief."})


def test_a_chat_reply_that_answers_no_user_turn_is_refused_like_an_empty_prompt(llama):
    """A chat row with no user turn was scored (IFD exactly 1.0) where a text row with an empty prompt is refused
    (#29): both say what is wrong, by row; with on_error="nan", NaN and the reason."""
    from hf_select import Ifd

    rows = Dataset.from_list(
        [{"messages": [{"role": "system", "content": "Be brief."}, {"role": "assistant", "content": "It is 4."}]}]
    )
    with pytest.raises(ScoringInputError, match=r"row 0, column 'messages'.*answers no user turn"):
        score(rows, GlobalNaturalness(llama, format="messages"))
    out = score(rows, Ifd(llama, format="messages", on_error="nan"))
    assert math.isnan(out[0]["ifd"]) and "answers no user turn" in out[0]["hf_select_error"]
    with pytest.raises(ScoringInputError, match="prompt is empty"):
        score(Dataset.from_list([{"prompt": " ", "response": "It is 4."}]), GlobalNaturalness(llama))
