"""What TRL trains on: a curated split through TRL's own ``SFTTrainer`` data preparation (no training step).

`trained_on` returns, for each row, the ids of the context (tokens whose label is -100) and of the tokens the loss
is computed on; `assert_trains_on_the_pick` holds a curated split to its promise: TRL trains on exactly the
selected reply (plus the template's end of turn), in the context the score saw, token for token.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from datasets import Dataset

from hf_select.formats import Shape
from hf_select.layout import encode_context, encode_target, prompt_prefix


def trained_on(ds: Dataset, model_folder: str | Path) -> list[tuple[list[int], list[int]]]:
    """(context ids, trained ids) of every row, as TRL's SFTTrainer prepares them."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_folder)
    model = AutoModelForCausalLM.from_pretrained(model_folder)
    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(output_dir=out, report_to=[], bf16=False, use_cpu=True, max_length=None)
        trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tokenizer)
        rows = list(trainer.train_dataset)
    pairs = []
    for row in rows:
        first = next(i for i, label in enumerate(row["labels"]) if label != -100)
        assert all(label != -100 for label in row["labels"][first:]), "the loss must cover one contiguous reply"
        pairs.append((row["input_ids"][:first], row["input_ids"][first:]))
    return pairs


def assert_trains_on_the_pick(curated: Dataset, scored: Dataset, shape: Shape, model, layout: str = "auto") -> None:
    """Every curated row: TRL's context is the scorer's context for that reply (system prompt included), and what
    it trains on is the reply's own tokens followed by the chat template's end of turn (or EOS), nothing else.
    Plain-string rows (``layout="plain"``) are held to the same at the level of text: TRL tokenizes a plain prompt
    and reply together, so tokens may merge across their boundary."""
    tokenizer = model.tokenizer
    replies = {shape.reply(row): row for row in scored}  # the scored rows, by their (unique) reply
    end_of_turn = None
    for row, (context, trained) in zip(curated, trained_on(curated, model.config.name_or_path), strict=True):
        plain = isinstance(row["completion"], str)
        reply = row["completion"] if plain else row["completion"][0]["content"]
        assert plain or row["completion"][0]["role"] == "assistant", "the completion is the assistant's"
        assert reply in replies, "the completion is a scored reply"
        (turn,) = shape.replace(part="all").read(replies[reply])
        prefix, special = prompt_prefix(tokenizer, turn.context, layout)
        if plain:
            assert tokenizer.decode(context + trained, skip_special_tokens=True) == prefix + reply
            continue
        assert context == encode_context(tokenizer, prefix, special), "TRL's context is the one the reply was scored in"
        target = encode_target(tokenizer, reply)
        assert trained[: len(target)] == target, "TRL trains on the selected reply"
        tail = tokenizer.decode(trained[len(target) :])
        assert end_of_turn in (None, tail) and len(trained) - len(target) <= 3, f"only an end of turn follows: {tail!r}"
        end_of_turn = tail
