"""The shapes reasoning-distillation data comes in, and how hf_select reads each of them: one `Shape`.

A *format* says where a row's scored text and its context are:

=====================  ====================================================  ==================================
format                 columns (defaults)                                    scored text / its context
=====================  ====================================================  ==================================
``text``               ``prompt``, ``response`` (strings)                    the response / the prompt
``messages``           ``messages``: [{role, content}] (TRL conversational)  the last assistant turn (``turns=
                                                                             "all"``: every one) / the whole
                                                                             conversation before it
``sharegpt``           ``conversations``: [{from, value}]                    the same, ``from`` being system /
                                                                             human / gpt (or user / assistant)
``prompt_completion``  ``prompt``, ``completion``: strings or message lists  the completion (its last assistant
                                                                             turn) / the prompt
=====================  ====================================================  ==================================

A system prompt that lives in its own column (OpenThoughts' ``system``, Nemotron's ``system_prompt``; or the
column named by ``system_column``) opens the conversation, unless the conversation has a system message already:
it is part of the scored context and of the training example. Every format is read through one primitive,
`Shape.conversation` (the row as role/content messages), so scores, answer checks, completeness and the
SFT-ready output (`hf_select.sft`) all see the same context.

A context is rendered with the student's chat template (see `hf_select.layout`); a student without a template
gets the plain rendering: the messages' contents joined by blank lines.

Reasoning kept beside the answer is read with no glue: an assistant message's ``reasoning_content`` (Qwen3, DeepSeek's
API, vLLM's and SGLang's reasoning parsers) or ``thinking`` (gpt-oss, HuggingFaceH4/Multilingual-Thinking), typed
content parts (``[{"type": "reasoning", ...}, {"type": "text", ...}]``), or a column of its own (``reasoning_column``,
for the last reply). The reply is then that reasoning written inline before the answer (`traces.inline_trace`):
scored, split into steps, checked for completeness, graded and trained on exactly as the same trace inline.

Reasoning traces (R1 ``<think>``, OpenThoughts thought/solution; see `hf_select.traces`) can be scored in part
(``part=``): ``"all"`` the whole reply, ``"reasoning"`` the reasoning given the prompt, ``"answer"`` the answer
given the prompt and everything before it. Answer checking grades only the answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hf_select.config import check_fields, option
from hf_select.errors import Arg, ConfigError, ScoringInputError
from hf_select.traces import has_trace, inline_trace, parse_trace

Format = Literal["text", "messages", "sharegpt", "prompt_completion"]
Part = Literal["all", "reasoning", "answer"]
Turns = Literal["last", "all"]
# (prompt column, response column) of each format when the user names none.
DEFAULT_COLUMNS = {
    "text": ("prompt", "response"),
    "messages": (None, "messages"),
    "sharegpt": (None, "conversations"),
    "prompt_completion": ("prompt", "completion"),
}
SYSTEM_COLUMNS = ("system", "system_prompt")  # read when present, unless `system_column` names another
REASONING_FIELDS = ("reasoning_content", "thinking")  # a message's reasoning kept beside its content
REASONING_PARTS = ("reasoning", "thinking")  # the types of content parts that hold reasoning
TEXT_PARTS = ("text", "answer", "output_text")  # the types of content parts that hold the answer
SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}
Message = dict[str, Any]


@dataclass(frozen=True)
class Turn:
    """One reply (or assistant turn) to score: ``context`` the conversation before it (system prompt included),
    ``before`` reply text that precedes the scored part (context, not scored), ``text`` the scored part."""

    context: list[Message]
    before: str
    text: str
    column: str


@dataclass(frozen=True)
class Shape:
    """Where a row's reply and its context are: given once, to a score, to `hf_select.score` or in a recipe's
    ``dataset:`` section. Unnamed columns default to the format's own."""

    format: Format = option(
        "text (prompt, response), messages (chat), sharegpt (conversations of from/value), "
        "prompt_completion (strings or message lists).",
        "text",
    )
    prompt_column: str | None = option("The prompt column (text, prompt_completion); default: `prompt`.", None)
    response_column: str | None = option(
        "The reply column: `response`, `messages`, `conversations` or `completion` by default.", None
    )
    system_column: str | None = option(
        "A column holding the system prompt; default: `system` or `system_prompt` when the data has one.", None
    )
    turns: Turns = option("Chat data: score the last assistant turn, or every one.", "last")
    part: Part = option("Reasoning traces: score the whole reply, its reasoning or its answer.", "all")
    reasoning_column: str | None = option(
        "A column holding the reply's reasoning beside its answer (the last "
        "reply, in chat data): scored as <think>reasoning</think> before it.",
        None,
    )

    def __post_init__(self) -> None:
        check_fields(self)
        if self.turns == "all" and self.format == "text":
            raise ConfigError("turns='all' needs a chat format (messages, sharegpt or prompt_completion)")
        prompt, response = DEFAULT_COLUMNS[self.format]
        object.__setattr__(self, "prompt_column", self.prompt_column or prompt)
        object.__setattr__(self, "response_column", self.response_column or response)

    def replace(self, **changes: Any) -> Shape:
        """This shape with some fields changed (the format's default columns follow a change of format)."""
        if "format" in changes:
            defaults = DEFAULT_COLUMNS[self.format]
            for key, default in zip(("prompt_column", "response_column"), defaults, strict=True):
                if getattr(self, key) == default and key not in changes:
                    changes[key] = None
        return dataclasses.replace(self, **changes)

    # -- columns ------------------------------------------------------------------------------------------
    def columns(self, with_prompt: bool = True) -> list[str]:
        """The columns every row must have."""
        needs_prompt = with_prompt and self.format in ("text", "prompt_completion")
        return [
            self.response_column,
            *([self.prompt_column] if needs_prompt else []),
            *([self.system_column] if self.system_column else []),
            *([self.reasoning_column] if self.reasoning_column else []),
        ]

    def optional_columns(self) -> list[str]:
        """Columns read when the data has them: the usual system-prompt columns, unless one was named."""
        return [] if self.system_column else list(SYSTEM_COLUMNS)

    def reply_columns(self) -> list[str]:
        """Every column that may be folded into a conversation (replaced by the SFT-ready columns in a curated
        split): the prompt, the reply and the system prompt columns."""
        return [c for c in (self.prompt_column, self.response_column, self.reasoning_column) if c] + (
            [self.system_column] if self.system_column else list(SYSTEM_COLUMNS)
        )

    # -- reading --------------------------------------------------------------------------------------------
    def conversation(self, row: Mapping[str, Any], with_prompt: bool = True) -> list[Message]:
        """The row as role/content messages: the system prompt, the prompt (or conversation) and the reply(s).
        `ScoringInputError` names the column when the row is not in this shape."""
        column = self.response_column
        if self.format == "text":
            prompt = [user(require_text(row, self.prompt_column, "prompt"))] if with_prompt else []
            messages = [*prompt, {"role": "assistant", "content": self._answer(row, "response")}]
        elif self.format == "prompt_completion":
            messages = self._prompt(row) if with_prompt else []
            completion = row[column]
            if isinstance(completion, str) or self._answer_may_be_missing(row):
                messages = [*messages, {"role": "assistant", "content": self._answer(row, "completion")}]
            else:
                messages = [*messages, *_messages(row, column)]
        else:
            messages = _messages(row, column)
        if self.reasoning_column:
            messages = self._with_reasoning_column(row, messages)
        system = self._system(row)
        if system is not None and not any(m["role"] == "system" for m in messages):
            messages = [{"role": "system", "content": system}, *messages]
        return messages

    def read(self, row: Mapping[str, Any], with_prompt: bool = True) -> list[Turn]:
        """The turns of ``row`` to score (one, unless ``turns="all"``); `ScoringInputError` for bad input."""
        messages = self.conversation(row, with_prompt)
        column = self.response_column
        positions = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
        if not positions:
            raise ScoringInputError(
                column, f"the conversation has no assistant turn to score (roles: {[m['role'] for m in messages]})."
            )
        turns = []
        for i in positions if self.turns == "all" else positions[-1:]:
            content = messages[i]["content"]
            if not isinstance(content, str) or not content.strip():
                raise ScoringInputError(
                    column,
                    f"assistant message {i} is empty or not a string ({content!r:.40}). Drop the row or pass ",
                    Arg("on_error", "nan"),
                    ".",
                )
            if with_prompt and not any(m["role"] == "user" for m in messages[:i]):
                raise ScoringInputError(
                    column,
                    f"assistant message {i} answers no user turn (roles before it: "
                    f"{[m['role'] for m in messages[:i]]}): with nothing asked, a reply "
                    "has no context to score in (as a text row with an empty prompt). "
                    "Drop the row or pass ",
                    Arg("on_error", "nan"),
                    ".",
                )
            for message in messages[: i + 1]:
                if isinstance(message["content"], str):
                    encodable(message["content"], column)
            before, text = _split_part(content, self.part, column)
            if not text.strip():
                raise ScoringInputError(
                    column,
                    f"the {self.part if self.part != 'all' else 'response'} part is "
                    "empty. Drop the row (Dataset.filter) or pass ",
                    Arg("on_error", "nan"),
                    ".",
                )
            turns.append(Turn(messages[:i] if with_prompt else [], before, text, column))
        return turns

    def reply(self, row: Mapping[str, Any]) -> str:
        """The whole text of the (last) reply, whatever ``part`` is scored: what answers are graded in."""
        return self.replace(part="all", turns="last").read(row, with_prompt=False)[-1].text

    def reasoning_beside(self, row: Mapping[str, Any]) -> bool:
        """Whether the row holds reasoning in the reasoning column (its answer may then be missing: cut off)."""
        return bool(self.reasoning_column) and _is_set(row.get(self.reasoning_column))

    def _answer_may_be_missing(self, row: Mapping[str, Any]) -> bool:
        return self.reasoning_beside(row) and not _is_set(row[self.response_column])

    def _answer(self, row: Mapping[str, Any], what: str) -> str | None:
        """A text reply; None when it is missing beside reasoning in its own column (`inline_trace` cuts it off)."""
        return None if self._answer_may_be_missing(row) else require_text(row, self.response_column, what)

    def _with_reasoning_column(self, row: Mapping[str, Any], messages: list[Message]) -> list[Message]:
        """``messages`` with the reasoning column's text written inline before the last reply's answer."""
        column, reasoning = self.reasoning_column, row[self.reasoning_column]
        last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
        if last is None or not _is_set(reasoning):
            return messages
        if not isinstance(reasoning, str):
            raise ScoringInputError(
                column,
                f"the reasoning must be a string, got {type(reasoning).__name__} "
                f"({reasoning!r:.40}). Fix or drop the row, or pass ",
                Arg("on_error", "nan"),
                ".",
            )
        answer = messages[last]["content"]
        if isinstance(answer, str) and has_trace(answer):
            raise ScoringInputError(
                column,
                f"the reply in {self.response_column!r} has a reasoning trace already "
                f"(inline or in a field of its message) and {column!r} holds reasoning "
                "too: which one was generated is unclear. Keep one (name no reasoning "
                "column, or strip the reply's trace), or pass ",
                Arg("on_error", "nan"),
                ".",
            )
        if answer is not None and not isinstance(answer, str):
            return messages  # `read` names the reply that is not a string
        reply = {"role": "assistant", "content": inline_trace(encodable(reasoning, column), answer)}
        return [*messages[:last], reply, *messages[last + 1 :]]

    def _prompt(self, row: Mapping[str, Any]) -> list[Message]:
        value = row[self.prompt_column]
        if isinstance(value, list):
            return _messages(row, self.prompt_column)
        return [user(require_text(row, self.prompt_column, "prompt"))]

    def _system(self, row: Mapping[str, Any]) -> str | None:
        """The row's system prompt: from ``system_column``, else from whichever of `SYSTEM_COLUMNS` holds one on this
        row (a null ``system`` beside a set ``system_prompt`` is no system prompt; two different ones are an error)."""
        if self.system_column:
            column = self.system_column
        else:
            held = [c for c in SYSTEM_COLUMNS if _is_set(row.get(c))]
            if len(held) > 1 and len({str(row[c]) for c in held}) > 1:
                raise ScoringInputError(
                    held[0],
                    f"the row has two different system prompts, in {held}. Name the one to use with ",
                    Arg("system_column", held[0]),
                    ".",
                )
            column = held[0] if held else None
        value = row.get(column) if column else None
        if not _is_set(value):
            return None
        if not isinstance(value, str):
            raise ScoringInputError(
                column,
                f"the system prompt must be a string, got {type(value).__name__} "
                f"({value!r:.40}). Name the right column with ",
                Arg("system_column", "<your column>"),
                ".",
            )
        return value


def _is_set(value: Any) -> bool:
    """A system prompt cell that says something (not null, not blank)."""
    return value is not None and not (isinstance(value, str) and not value.strip())


def user(content: str) -> Message:
    return {"role": "user", "content": content}


def _split_part(text: str, part: str, column: str) -> tuple[str, str]:
    """(before, scored) for one part of a reply."""
    if part == "all":
        return "", text
    trace = parse_trace(text)
    if part == "reasoning":
        if not trace.has_reasoning:
            raise ScoringInputError(
                column,
                "part='reasoning' needs a reasoning trace (<think> ... </think>, or "
                "<|begin_of_thought|> ...), but this response has none. Score it with ",
                Arg("part", "all"),
                ".",
            )
        return text[: trace.reasoning_start], text[trace.reasoning_start : trace.reasoning_end]
    if trace.cut_off:
        raise ScoringInputError(
            column,
            f"part='answer': {trace.incomplete}, so there is no answer to score. Drop such rows or pass ",
            Arg("on_error", "nan"),
            ".",
        )
    return text[: trace.answer_start], text[trace.answer_start : trace.answer_end]


def looks_like_messages(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(
            isinstance(m, Mapping) and ({"role", "content"} <= set(m) or {"from", "value"} <= set(m)) for m in value
        )
    )


def wrong_type_advice(column: str, value: Any, expected: str = "string") -> str | None:
    """What to do when ``column`` holds ``value`` where a string (or a conversation) was expected, when the
    value's shape says which format or helper fits; None when it says nothing."""
    if expected == "string" and looks_like_messages(value):
        return (
            f"it holds a conversation of {len(value)} messages, not a string: this is chat data. Name its "
            "format (format='messages' or 'sharegpt' or 'prompt_completion', `dataset.format: messages`, "
            "--format messages) so hf_select scores the assistant turn."
        )
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return (
            f"it holds a list of {len(value)} strings, not a {expected}: this looks like wide data (several "
            f"generations per prompt). Use hf_select.explode(ds, responses={column!r}) or "
            "`dataset.format: wide` to get one row per response."
        )
    if expected == "conversation" and isinstance(value, str):
        return (
            "it holds a string, not a conversation (a list of messages): this is text data. Use "
            "format='text' (`dataset.format: text`, --format text)."
        )
    return None


def require_text(row: Mapping[str, Any], column: str, what: str) -> str:
    """The row's text in ``column``; a clear error when it is missing, not a string, or empty."""
    value = row[column]
    if not isinstance(value, str):
        advice = wrong_type_advice(column, value)
        raise ScoringInputError(
            column,
            advice
            or (
                f"the {what} must be a string, got {type(value).__name__} ({value!r:.40}). Fix or drop the row "
                "(Dataset.filter), or pass "
            ),
            *(() if advice else (Arg("on_error", "nan"), ".")),
        )
    if not value.strip():
        raise ScoringInputError(
            column, f"the {what} is empty. Drop the row (Dataset.filter) or pass ", Arg("on_error", "nan"), "."
        )
    return encodable(value, column)


def encodable(text: str, column: str) -> str:
    """``text``, unless it holds a character no tokenizer can encode (a lone UTF-16 surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ScoringInputError(
            column,
            f"the text holds a lone surrogate ({text[err.start]!r} at character "
            f"{err.start}), which is not valid Unicode. Fix the data, or pass ",
            Arg("on_error", "nan"),
            ".",
        ) from None
    return text


def _messages(row: Mapping[str, Any], column: str) -> list[Message]:
    """The conversation in ``column`` as ``[{"role", "content"}]`` (ShareGPT's from/value mapped)."""
    value = row[column]
    if not looks_like_messages(value):
        advice = wrong_type_advice(column, value, "conversation")
        raise ScoringInputError(
            column,
            advice
            or (
                f"expected a conversation (a list of {{role, content}} messages), got {type(value).__name__} "
                f"({value!r:.60})."
            ),
        )
    out = []
    for i, message in enumerate(value):
        if "role" in message:
            role, content = str(message["role"]), message.get("content")
        else:
            sender = str(message["from"])
            role, content = SHAREGPT_ROLES.get(sender.lower(), sender), message.get("value")
        out.append({"role": role, "content": _content(message, content, f"message {i}", column)})
    return out


def _content(message: Mapping[str, Any], content: Any, where: str, column: str) -> Any:
    """A message's text, its reasoning (a field of its own, or typed content parts) written inline before the
    answer (`inline_trace`). Anything else is returned as it is, for `Shape.read` to name."""
    reasoning: dict[str, str] = {}  # where the reasoning was found -> the reasoning
    for field in REASONING_FIELDS:
        value = message.get(field)
        if value is not None and not isinstance(value, str):
            raise ScoringInputError(
                column,
                f"{where}'s `{field}` must be a string (the reasoning), got "
                f"{type(value).__name__} ({value!r:.40}). Fix or drop the row, or pass ",
                Arg("on_error", "nan"),
                ".",
            )
        if _is_set(value):
            reasoning[f"`{field}`"] = encodable(value, column)
    if isinstance(content, list):
        content, parts = _parts(content, where, column)
        if parts is not None:
            reasoning["its reasoning content parts"] = parts
    if not reasoning:
        return content
    if len(set(reasoning.values())) > 1:
        raise ScoringInputError(
            column,
            f"{where} holds two different reasonings, in {' and '.join(reasoning)}: keep "
            "one. Fix or drop the row, or pass ",
            Arg("on_error", "nan"),
            ".",
        )
    if isinstance(content, str) and has_trace(content):
        raise ScoringInputError(
            column,
            f"{where} has a reasoning trace inline in its content and in "
            f"{next(iter(reasoning))} too: which one was generated is unclear. Keep one, "
            "or pass ",
            Arg("on_error", "nan"),
            ".",
        )
    if content is not None and not isinstance(content, str):
        return content
    return inline_trace(next(iter(reasoning.values())), content)


def _parts(parts: list[Any], where: str, column: str) -> tuple[str | None, str | None]:
    """(answer text, reasoning text or None) of typed content parts, each part's text being under ``text`` or under
    its type's own name (``{"type": "reasoning", "reasoning": ...}``); Arrow gives every part every key, unset ones
    null. A part of another type (an image) is an error: its content cannot be scored as text."""
    texts: dict[str, list[str]] = {"answer": [], "reasoning": []}
    for j, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind not in (*TEXT_PARTS, *REASONING_PARTS):
            raise ScoringInputError(
                column,
                f"{where}'s content part {j} is not a text or reasoning part "
                f"({part!r:.60}): only text can be scored. Drop the row, or pass ",
                Arg("on_error", "nan"),
                ".",
            )
        text = part.get("text") if part.get("text") is not None else part.get(kind)
        if text is not None and not isinstance(text, str):
            raise ScoringInputError(
                column,
                f"{where}'s content part {j} ({kind}) must hold a string, got {type(text).__name__} ({text!r:.40}).",
            )
        texts["reasoning" if kind in REASONING_PARTS else "answer"].append(encodable(text or "", column))
    answer = "".join(texts["answer"]) if texts["answer"] else None
    reasoning = "".join(texts["reasoning"])
    return answer, reasoning if reasoning.strip() else None
