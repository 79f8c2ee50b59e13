"""The curated split in TRL's conventions: TRL's own SFT preparation trains on exactly the selected reply, in the
context it was scored in, whatever shape the data came in."""

from __future__ import annotations

import pytest
from datasets import Dataset
from public_shapes import (
    classic_sharegpt,
    llama_nemotron,
    mixture_of_thoughts,
    multi_turn_messages,
    openthoughts,
    trl_prompt_completion,
)
from trl_check import assert_trains_on_the_pick, trained_on

from hf_select import GlobalNaturalness, Shape, score
from hf_select.errors import ConfigError
from hf_select.metadata import read_metadata
from hf_select.sft import to_sft

SHAPES = [
    (mixture_of_thoughts, Shape("messages")),
    (openthoughts, Shape("sharegpt")),
    (classic_sharegpt, Shape("sharegpt")),
    (llama_nemotron, Shape("prompt_completion", prompt_column="input", response_column="output")),
    (trl_prompt_completion, Shape("prompt_completion")),
    (lambda: trl_prompt_completion(as_messages=True), Shape("prompt_completion")),
    (
        lambda: [
            {"prompt": r["prompt"], "response": r["completion"], "system": "Be brief."} for r in trl_prompt_completion()
        ],
        Shape(),
    ),
]


@pytest.mark.parametrize(("rows", "shape"), SHAPES)
def test_trl_trains_on_the_reply_in_its_scored_context(rows, shape, llama):
    ds = Dataset.from_list(rows())
    scored = score(ds, GlobalNaturalness(llama, shape=shape))
    sft = to_sft(scored, shape)
    assert_trains_on_the_pick(sft, scored, shape, llama)
    assert "global_naturalness" in sft.column_names and not {"messages", "conversations"} & set(sft.column_names)
    assert read_metadata(sft)["scores"]["sft"]["convention"] == "TRL prompt-completion"


def test_a_plain_layout_trains_in_the_plain_context(llama):
    rows = Dataset.from_list([{"prompt": r["prompt"], "response": r["completion"]} for r in trl_prompt_completion()])
    sft = to_sft(rows, Shape(), layout="plain")
    assert sft[0]["prompt"] == rows[0]["prompt"] + "\n\n" and sft[0]["completion"] == rows[0]["response"]
    for row, (context, trained) in zip(rows, trained_on(sft, llama.config.name_or_path), strict=True):
        tokenizer = llama.tokenizer
        assert tokenizer.decode(context, skip_special_tokens=True) == row["prompt"] + "\n\n"
        assert tokenizer.decode(trained, skip_special_tokens=True) == row["response"]  # then TRL's EOS


def test_every_turn_scored_becomes_one_conversation(llama):
    rows = Dataset.from_list(multi_turn_messages())
    sft = to_sft(rows, Shape("messages", turns="all"))
    assert sft.column_names[-1] == "messages" and sft[0]["messages"] == rows[0]["messages"]
    assert "num_tokens" in sft.column_names and "prompt" not in sft.column_names
    # Under the plain layout a prompt/completion pair trained on the last turn only, the first scored reply sitting
    # untrained in the prompt (#29): refused, in Python and in a recipe before any model loads.
    with pytest.raises(ConfigError, match="turns='all'.*plain layout.*last turn only"):
        to_sft(rows, Shape("messages", turns="all"), layout="plain")


def test_a_recipe_scoring_every_turn_plainly_is_refused_before_scoring(tmp_path):
    from hf_select.runner import run_recipe_file

    data = tmp_path / "chat.jsonl"
    Dataset.from_list(multi_turn_messages()).to_json(data)
    with pytest.raises(ConfigError, match="turns='all'.*plain layout"):
        run_recipe_file(
            "mixture_of_thoughts_chat",
            [
                f"dataset.path={data}",
                "dataset.turns=all",
                "scores.0.include_prompt=true",
                "scores.0.layout=plain",
                "models.student.name_or_path=/no/such",
                f"output.dir={tmp_path / 'out'}",
            ],
            push=False,
        )


def test_an_unreadable_row_gets_null_training_columns():
    rows = Dataset.from_list([{"prompt": "Q?", "response": "A."}, {"prompt": "Q?", "response": None}])
    sft = to_sft(rows, Shape())
    assert sft["completion"] == [[{"role": "assistant", "content": "A."}], None]
