"""The curated split in the shape its consumer trains on: TRL's ``SFTTrainer`` conventions.

A selection picks a reply; supervised fine-tuning must then train on exactly that reply, in the context it was
scored in. `to_sft` writes each row as TRL's *prompt-completion* type, conversational:

- ``prompt``: the conversation before the reply, as ``[{"role", "content"}]`` messages, the system prompt
  included (also one that lived in its own column, such as OpenThoughts' ``system`` or Nemotron's
  ``system_prompt``); ShareGPT's ``from``/``value`` turns become roles (``human`` -> user, ``gpt`` -> assistant);
- ``completion``: ``[{"role": "assistant", "content": reply}]``, the whole reply (reasoning and answer).

``SFTTrainer`` then computes its loss on the completion only (its default for prompt-completion data). Scores
laid out with ``layout="plain"`` (no chat template) give plain strings instead: ``prompt`` is the context as the
score saw it (each message's content and a blank line) and ``completion`` the reply. Data scored on every
assistant turn (``turns="all"``) becomes one ``messages`` conversation, for ``assistant_only_loss``.

A reply's reasoning is trained on as it was scored: inline, ``<think>`` before the answer, also when the source kept
it in its own field (``reasoning_content``, ``thinking``, content parts, a reasoning column; see
`hf_select.formats`), which many chat templates (SmolLM2's among them) would not render. Given the tokenizer the split
is meant for (``tokenizer=``; a recipe passes the student's), `to_sft` renders every example as TRL will and refuses
a split whose training text would lack a picked reasoning (a template that strips ``<think>`` blocks from replies,
as DeepSeek-R1's distills' does, or from earlier turns when every turn is trained on, as Qwen3's does).

The columns folded into these (the shape's prompt, response and system columns) are removed, and so is any
other column TRL would train on instead of the pick: a conversation (``messages``, ``conversations``: a stale
copy of the source's) or tokens (``input_ids``, ``labels``, ...: TRL then skips its own preparation). Every other
column is kept.
"""

from __future__ import annotations

from typing import Any, Literal

from datasets import DatasetDict, Features, List, Value

from hf_select.errors import ConfigError, ScoringInputError
from hf_select.formats import Shape
from hf_select.layout import PLAIN_SEPARATOR
from hf_select.metadata import record_score
from hf_select.traces import parse_trace

CONVERSATION_COLUMNS = ("messages", "conversations")  # what TRL reads as a conversation of its own
# what TRL reads as data tokenised already (``"input_ids" in column_names``: it then skips its own preparation and
# trains on these tokens, not on the pick)
TOKENISED_COLUMNS = ("input_ids", "attention_mask", "labels", "completion_mask", "assistant_masks", "position_ids")
MESSAGES = List({"role": Value("string"), "content": Value("string")})


def sft_columns(shape: Shape, layout: Literal["chat", "plain"] = "chat") -> list[str]:
    """The columns a curated split trains on: ``["prompt", "completion"]``, or ``["messages"]`` for every turn.
    Every turn scored under the plain layout has no TRL form that trains on each of them (a prompt/completion pair
    trains on the last, the earlier ones sitting untrained in the prompt): refused."""
    if shape.turns == "all" and layout == "plain":
        raise ConfigError(
            "every assistant turn was scored (turns='all') under the plain layout, and a plain "
            "prompt/completion example trains on the last turn only: score with the chat layout "
            "(layout='chat', or 'auto' with a chat template) to train on every turn, or score the last "
            "turn only (turns='last')"
        )
    return ["messages"] if shape.turns == "all" else ["prompt", "completion"]


def to_sft(
    ds: Any, shape: Shape | None = None, *, layout: Literal["chat", "plain"] = "chat", tokenizer: Any = None
) -> Any:
    """``ds`` (a `Dataset` or `DatasetDict`) with its replies as TRL training examples (see the module docstring),
    read with ``shape`` (the one the scores used; default: text). A row whose reply cannot be read (kept with
    ``on_error="nan"``) gets null training columns. With ``tokenizer`` (the one the split will be trained with),
    a chat template that would leave a picked reasoning out of the training text is refused (`ConfigError`)."""
    if isinstance(ds, DatasetDict):
        return DatasetDict(
            {split: to_sft(part, shape, layout=layout, tokenizer=tokenizer) for split, part in ds.items()}
        )
    shape = shape or Shape()
    columns = sft_columns(shape, layout)
    drop = [
        c
        for c in dict.fromkeys([*shape.reply_columns(), *CONVERSATION_COLUMNS, *TOKENISED_COLUMNS])
        if c in ds.column_names
    ]
    kind = MESSAGES if layout == "chat" else Value("string")
    features = Features({**{k: v for k, v in ds.features.items() if k not in drop}, **{c: kind for c in columns}})

    check = rendering_tokenizer(tokenizer, layout)

    def convert(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        rows = [{k: batch[k][i] for k in batch} for i in range(len(indices))]
        examples = [training_example(shape, row, layout) for row in rows]
        for index, example in zip(indices, examples, strict=True):
            if check is not None and example:
                refuse_dropped_reasoning(check, example, f"row {index}")
        return {c: [example.get(c) for example in examples] for c in columns}

    out = ds.map(
        convert, batched=True, with_indices=True, remove_columns=drop, features=features, desc="SFT-ready columns"
    )
    fields = (
        {"messages": "the whole conversation, system prompt included: train with assistant_only_loss"}
        if columns == ["messages"]
        else {
            "prompt": "the context the reply was scored in (system prompt included): not trained on",
            "completion": "the selected reply: what SFTTrainer trains on",
        }
    )
    config = {
        "transform": "sft",
        "layout": layout,
        "columns": columns,
        "folded": drop,
        "convention": "TRL prompt-completion" if columns != ["messages"] else "TRL conversational",
    }
    return record_score(
        out,
        "sft",
        config,
        {},
        {
            "explanation": "The rows are written in TRL's SFT conventions: "
            + ("`prompt` and `completion`" if columns != ["messages"] else "`messages`")
            + " (conversational role/content messages"
            + (")" if layout == "chat" else "; plain strings)")
            + ". Folded into them: "
            + ", ".join(f"`{c}`" for c in drop)
            + ".",
            "fields": fields,
        },
    )


def rendering_tokenizer(tokenizer: Any, layout: str) -> Any:
    """``tokenizer`` when TRL will render the split's chat examples with its chat template, else None (plain
    strings, or no template: there is no rendering to check)."""
    return tokenizer if layout == "chat" and getattr(tokenizer, "chat_template", None) else None


def refuse_dropped_reasoning(tokenizer: Any, example: dict[str, Any], where: str) -> None:
    """Refuse a training example whose text, rendered with ``tokenizer``'s chat template as TRL renders it, lacks the
    reasoning of a reply it trains on (`ConfigError` naming the row and the fix)."""
    trained = (
        example["completion"]
        if "completion" in example
        else [m for m in example["messages"] if m["role"] == "assistant"]
    )
    reasonings = [_reasoning(m["content"]) for m in trained]
    if not any(reasonings):
        return
    conversation = example["messages"] if "messages" in example else [*example["prompt"], *example["completion"]]
    rendered = tokenizer.apply_chat_template(conversation, tokenize=False)
    if "prompt" in example:  # TRL trains on the completion: the text after the rendered prompt
        rendered = rendered[
            len(tokenizer.apply_chat_template(example["prompt"], tokenize=False, add_generation_prompt=True)) :
        ]
    for turn, reasoning in enumerate(reasonings):
        if reasoning and reasoning not in rendered:
            which = "the reply" if "completion" in example else f"assistant turn {turn}"
            raise ConfigError(
                f"{where}: the chat template of {getattr(tokenizer, 'name_or_path', 'the tokenizer')!r} leaves "
                f"{which}'s reasoning ({reasoning[:40]!r}...) out of the text TRL trains on, so the split would train "
                "on answers without the reasoning they were scored with. Train with a chat template that keeps "
                "<think> blocks in replies (set tokenizer.chat_template to one that does)"
                + (", or score and train the last turn only (turns='last')" if "messages" in example else "")
            )


def _reasoning(content: Any) -> str:
    """The reasoning of a reply (stripped of the newlines templates trim), empty when it has none."""
    if not isinstance(content, str):
        return ""
    trace = parse_trace(content)
    return content[trace.reasoning_start : trace.reasoning_end].strip() if trace.has_reasoning else ""


def training_example(shape: Shape, row: dict[str, Any], layout: str) -> dict[str, Any]:
    """The row's training columns (empty when its reply cannot be read)."""
    try:
        messages = shape.conversation(row)
    except ScoringInputError:
        return {}
    if shape.turns == "all" and layout == "chat":
        return {"messages": messages}
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is None:
        return {}
    context, reply = messages[:last], messages[last]
    if layout == "plain":
        return {"prompt": "".join(m["content"] + PLAIN_SEPARATOR for m in context), "completion": reply["content"]}
    return {"prompt": context, "completion": [reply]}
