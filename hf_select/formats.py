"""The shapes reasoning-distillation data comes in, and how hf_select reads each of them.

A *format* says where a row's scored text and its context are (`RowReader`):

=====================  ====================================================  ==================================
format                 columns (defaults)                                    scored text / its context
=====================  ====================================================  ==================================
``text``               ``prompt``, ``response`` (strings)                    the response / the prompt
``messages``           ``messages``: [{role, content}] (TRL conversational)  the last assistant turn (``turns=
                                                                             "all"``: every one) / the whole
                                                                             conversation before it
``sharegpt``           ``conversations``: [{from, value}], optional          the same, ``from`` being system /
                       ``system``                                            human / gpt
``prompt_completion``  ``prompt``, ``completion``: strings or message lists  the completion (its last assistant
                                                                             turn) / the prompt
=====================  ====================================================  ==================================

A context that is a conversation is rendered with the student's chat template (system prompt included); a
student without a template gets the plain rendering: the messages' contents joined by blank lines, then a
blank line (a lone user message renders exactly as the ``text`` format's prompt does).

DeepSeek-R1 traces (``<think> reasoning </think> answer``) can be scored in part (``part=``): ``"all"`` the
whole response, ``"reasoning"`` the text inside the think block given the prompt, ``"answer"`` the text
after ``</think>`` given the prompt and the whole reasoning. Answer checking grades only the answer part.

*Wide* data, several responses per row (a list column of generations, or one column per teacher), is made
long by `explode` (one row per response, with ``prompt_id`` and ``generation_index``) and folded back by
`fold`. Both work on `Dataset`, `DatasetDict` and streaming datasets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hf_select.errors import Arg, ConfigError, DataFormatError, ScoringInputError
from hf_select.metadata import record_score

Format = Literal["text", "messages", "sharegpt", "prompt_completion"]
FORMATS: tuple[str, ...] = ("text", "messages", "sharegpt", "prompt_completion")
Part = Literal["all", "reasoning", "answer"]
Turns = Literal["last", "all"]
# (prompt column, response column) of each format when the user names none.
DEFAULT_COLUMNS = {"text": ("prompt", "response"), "messages": (None, "messages"),
                   "sharegpt": ("system", "conversations"), "prompt_completion": ("prompt", "completion")}
SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
PROMPT_ID, GENERATION_INDEX = "prompt_id", "generation_index"


@dataclass(frozen=True)
class Turn:
    """One response (or assistant turn) to score: ``before`` is response text that precedes the scored part
    (context, not scored), ``text`` the scored part."""

    context: str | list[dict[str, str]]
    before: str
    text: str
    column: str


@dataclass(frozen=True)
class Trace:
    """Where an R1-style trace's reasoning and answer are (character offsets)."""

    reasoning_start: int  # after ``<think>`` (0 without one)
    reasoning_end: int  # at ``</think>`` (the end of the text when cut off)
    answer_start: int | None  # after ``</think>``; None when the trace has no closing tag
    has_open: bool

    @property
    def cut_off(self) -> bool:
        return self.has_open and self.answer_start is None


def parse_trace(text: str) -> Trace:
    """Find the think block of an R1-style trace. Without ``<think>``, the text before a ``</think>`` is the
    reasoning (many datasets drop the opening tag the chat template adds); without either, all is answer."""
    opening = text.find(THINK_OPEN)
    closing = text.find(THINK_CLOSE, opening + len(THINK_OPEN) if opening >= 0 else 0)
    start = opening + len(THINK_OPEN) if opening >= 0 else 0
    if closing >= 0:
        return Trace(start, closing, closing + len(THINK_CLOSE), opening >= 0)
    if opening >= 0:
        return Trace(start, len(text), None, True)
    return Trace(0, 0, 0, False)


def answer_text(text: str) -> tuple[str | None, str | None]:
    """(the part of a response to grade, why there is none): the text after ``</think>``, the whole text when
    there is no think block, None when the reasoning was cut off."""
    trace = parse_trace(text)
    if trace.cut_off:
        return None, "reasoning cut off: <think> without </think>, so there is no final answer"
    return text[trace.answer_start:], None


def _split_part(text: str, part: Part, column: str) -> tuple[str, str]:
    """(before, scored) for one part of a response."""
    if part == "all":
        return "", text
    trace = parse_trace(text)
    if part == "reasoning":
        if not trace.has_open and trace.answer_start == 0:
            raise ScoringInputError(column, "part='reasoning' needs an R1-style trace (<think> ... </think>), but "
                                            "this response has no think block. Score it with ", Arg("part", "all"),
                                    ".")
        return text[:trace.reasoning_start], text[trace.reasoning_start:trace.reasoning_end]
    if trace.cut_off:
        raise ScoringInputError(column, "part='answer': the reasoning was cut off (<think> without </think>), so "
                                        "there is no answer to score. Drop such rows or pass ",
                                Arg("on_error", "nan"), ".")
    return text[:trace.answer_start], text[trace.answer_start:]


def _looks_like_messages(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(m, Mapping) and ({"role", "content"} <= set(m) or {"from", "value"} <= set(m)) for m in value)


def wrong_type_advice(column: str, value: Any, expected: str = "string") -> str | None:
    """What to do when ``column`` holds ``value`` where a string (or a conversation) was expected, when the
    value's shape says which format or helper fits; None when it says nothing."""
    if expected == "string" and _looks_like_messages(value):
        return (f"it holds a conversation of {len(value)} messages, not a string: this is chat data. Name its "
                "format (format='messages' or 'sharegpt' or 'prompt_completion', `dataset.format: messages`, "
                "--format messages) so hf_select scores the assistant turn.")
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return (f"it holds a list of {len(value)} strings, not a {expected}: this looks like wide data (several "
                f"generations per prompt). Use hf_select.explode(ds, responses={column!r}) or "
                "`dataset.format: wide` to get one row per response.")
    if expected == "conversation" and isinstance(value, str):
        return ("it holds a string, not a conversation (a list of messages): this is text data. Use "
                "format='text' (`dataset.format: text`, --format text).")
    return None


@dataclass(frozen=True)
class RowReader:
    """Reads the text to score, and its context, from a row of one format (see the module docstring)."""

    format: str = "text"
    prompt_column: str | None = None
    response_column: str | None = None
    turns: str = "last"
    part: str = "all"

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ConfigError(f"format must be one of {', '.join(map(repr, FORMATS))}, not {self.format!r} "
                              "(wide data: hf_select.explode first)")
        if self.turns not in ("last", "all"):
            raise ConfigError(f"turns must be 'last' or 'all', not {self.turns!r}")
        if self.part not in ("all", "reasoning", "answer"):
            raise ConfigError(f"part must be 'all', 'reasoning' or 'answer', not {self.part!r}")
        if self.turns == "all" and self.format == "text":
            raise ConfigError("turns='all' needs a chat format (messages, sharegpt or prompt_completion)")
        prompt, response = DEFAULT_COLUMNS[self.format]
        object.__setattr__(self, "prompt_column", self.prompt_column or prompt)
        object.__setattr__(self, "response_column", self.response_column or response)

    def columns(self, with_prompt: bool = True) -> list[str]:
        """The columns every row must have (a ShareGPT ``system`` column is optional)."""
        needs_prompt = with_prompt and self.format in ("text", "prompt_completion")
        return [self.response_column] + ([self.prompt_column] if needs_prompt else [])

    def optional_columns(self) -> list[str]:
        return [self.prompt_column] if self.format == "sharegpt" else []

    def config(self) -> dict[str, Any]:
        return {"format": self.format, "prompt_column": self.prompt_column, "response_column": self.response_column,
                "turns": self.turns, "part": self.part}

    def read(self, row: Mapping[str, Any], with_prompt: bool = True) -> list[Turn]:
        """The turns of ``row`` to score (one, unless ``turns="all"``); `ScoringInputError` for bad input."""
        if self.format == "text":
            response = require_text(row, self.response_column, "response")
            prompt = require_text(row, self.prompt_column, "prompt") if with_prompt else ""
            return [self._turn(prompt, response, self.response_column)]
        if self.format == "prompt_completion":
            prompt_value = row[self.prompt_column] if with_prompt else ""
            context: str | list = (_messages(row, self.prompt_column) if isinstance(prompt_value, list)
                                   else require_text(row, self.prompt_column, "prompt") if with_prompt else "")
            completion = row[self.response_column]
            if isinstance(completion, str):
                completion_text = require_text(row, self.response_column, "completion")
                return [self._turn(context, completion_text, self.response_column)]
            messages = _messages(row, self.response_column)
            prefix = context if isinstance(context, list) else ([{"role": "user", "content": context}] if context
                                                                 else [])
            return self._assistant_turns(prefix, messages, self.response_column, context)
        messages = _messages(row, self.response_column)
        system = row.get(self.prompt_column) if self.format == "sharegpt" else None
        if isinstance(system, str) and system.strip() and not any(m["role"] == "system" for m in messages):
            messages = [{"role": "system", "content": system}, *messages]
        return self._assistant_turns([], messages, self.response_column, None)

    def _assistant_turns(self, prefix: list, messages: list, column: str, plain_context: Any) -> list[Turn]:
        positions = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
        if not positions:
            raise ScoringInputError(column, f"the conversation has no assistant turn to score (roles: "
                                            f"{[m['role'] for m in messages]}).")
        chosen = positions if self.turns == "all" else positions[-1:]
        turns = []
        for i in chosen:
            content = messages[i]["content"]
            if not isinstance(content, str) or not content.strip():
                raise ScoringInputError(column, f"assistant message {i} is empty or not a string ({content!r:.40}). "
                                                "Drop the row or pass ", Arg("on_error", "nan"), ".")
            context = prefix + messages[:i]
            if plain_context is not None and i == 0 and isinstance(plain_context, str):
                context = plain_context  # a string prompt and a one-message completion: like the text format
            turns.append(self._turn(context, content, column))
        return turns

    def _turn(self, context: str | list, response: str, column: str) -> Turn:
        before, text = _split_part(response, self.part, column)
        if not text.strip():
            raise ScoringInputError(column, f"the {self.part if self.part != 'all' else 'response'} part is empty. "
                                            "Drop the row (Dataset.filter) or pass ", Arg("on_error", "nan"), ".")
        return Turn(context, before, text, column)


def require_text(row: Mapping[str, Any], column: str, what: str) -> str:
    """The row's text in ``column``; a clear error when it is missing, not a string, or empty."""
    value = row[column]
    if not isinstance(value, str):
        advice = wrong_type_advice(column, value)
        raise ScoringInputError(column, advice or (
            f"the {what} must be a string, got {type(value).__name__} ({value!r:.40}). Fix or drop the row "
            "(Dataset.filter), or pass "), *(() if advice else (Arg("on_error", "nan"), ".")))
    if not value.strip():
        raise ScoringInputError(column, f"the {what} is empty. Drop the row (Dataset.filter) or pass ",
                                Arg("on_error", "nan"), ".")
    return value


def _messages(row: Mapping[str, Any], column: str) -> list[dict[str, str]]:
    """The conversation in ``column`` as ``[{"role", "content"}]`` (ShareGPT's from/value mapped)."""
    value = row[column]
    if not _looks_like_messages(value):
        advice = wrong_type_advice(column, value, "conversation")
        raise ScoringInputError(column, advice or (
            f"expected a conversation (a list of {{role, content}} messages), got {type(value).__name__} "
            f"({value!r:.60})."))
    out = []
    for message in value:
        if "role" in message:
            out.append({"role": str(message["role"]), "content": message.get("content")})
        else:
            sender = str(message["from"])
            out.append({"role": SHAREGPT_ROLES.get(sender.lower(), sender), "content": message.get("value")})
    return out


# -- wide data --------------------------------------------------------------------------------------------------
def _response_spec(responses: Any) -> tuple[str | None, dict[str, Any] | None]:
    """(list column, None) or (None, {teacher: column or {"reasoning": col, "answer": col}})."""
    if isinstance(responses, str):
        return responses, None
    if isinstance(responses, Mapping):
        return None, dict(responses)
    if isinstance(responses, Sequence) and responses and all(isinstance(c, str) for c in responses):
        return None, {column: column for column in responses}
    raise ConfigError("responses must be a list column's name, a list of column names, or "
                      "{teacher: column} (a column may be {reasoning: col, answer: col})")


def _join_trace(reasoning: Any, answer: Any) -> str | None:
    if reasoning is None and answer is None:
        return None
    return f"{THINK_OPEN}\n{reasoning or ''}\n{THINK_CLOSE}\n\n{answer or ''}"


def explode(ds: Any, responses: str | Sequence[str] | Mapping[str, Any], *, with_columns: Sequence[str] = (),
            teachers: str | None = None, response_column: str = "response",
            teacher_column: str = "teacher") -> Any:
    """Make wide data long: one row per response, with ``prompt_id`` (the source row) and ``generation_index``.

    ``responses``:
      * a list column (OpenR1-Math's ``generations``): ``with_columns`` are list columns aligned with it
        (``correctness_math_verify``, ``finish_reasons``, ...) and become one value per row; ``teachers`` is
        a list column naming each generation's teacher, or one teacher name for all;
      * ``{teacher: column}`` or a list of columns (one column per teacher, s1K's ``gemini_attempt``,
        ``deepseek_attempt``): the teacher is the key (or the column's name). A column may be
        ``{"reasoning": col, "answer": col}``: the response is then the R1-style trace
        ``<think>\\nreasoning\\n</think>\\n\\nanswer``.
    Every other column is repeated on each of its rows; missing (null) responses are skipped. Works on a
    `Dataset`, a `DatasetDict` (per split) and streaming datasets."""
    from datasets import DatasetDict, IterableDatasetDict

    if isinstance(ds, (DatasetDict, IterableDatasetDict)):
        return type(ds)({split: explode(part, responses, with_columns=with_columns, teachers=teachers,
                                        response_column=response_column, teacher_column=teacher_column)
                         for split, part in ds.items()})
    list_column, per_teacher = _response_spec(responses)
    names = list(ds.column_names or next(iter(ds)).keys())  # a stream may not know its columns before reading
    used = [list_column] if list_column else [c for spec in per_teacher.values()
                                             for c in ([spec] if isinstance(spec, str) else spec.values())]
    teacher_list = teachers if isinstance(teachers, str) and teachers in names else None
    list_columns = [*used, *with_columns, *([teacher_list] if teacher_list else [])]
    missing = [c for c in list_columns if names and c not in names]
    if missing:
        raise DataFormatError(f"explode: no column {missing[0]!r} in the dataset (columns: {names})")
    if per_teacher and with_columns:
        raise ConfigError("explode: with_columns applies to a list column of generations, not to one column per "
                          "teacher")

    def batch_explode(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        out: dict[str, list] = {k: [] for k in batch if k not in list_columns}
        out.update({response_column: [], PROMPT_ID: [], GENERATION_INDEX: []})
        if per_teacher or teachers is not None:
            out[teacher_column] = []
        out.update({c: [] for c in with_columns})
        for r, prompt_id in enumerate(indices):
            if list_column:
                generations = batch[list_column][r]
                if not isinstance(generations, list):
                    raise DataFormatError(f"explode: row {prompt_id}, column {list_column!r} holds "
                                          f"{type(generations).__name__}, not a list of generations")
                aligned = {c: batch[c][r] for c in [*with_columns, *([teacher_list] if teacher_list else [])]}
                for c, values in aligned.items():
                    if not isinstance(values, list) or len(values) != len(generations):
                        count = len(values) if isinstance(values, list) else repr(values)
                        raise DataFormatError(f"explode: row {prompt_id}, column {c!r} has {count} values for "
                                              f"{len(generations)} generations in {list_column!r}")
                names_of = aligned[teacher_list] if teacher_list else [teachers] * len(generations)
                items = [(i, text, names_of[i]) for i, text in enumerate(generations)]
            else:
                items = []
                for i, (teacher, spec) in enumerate(per_teacher.items()):
                    text = batch[spec][r] if isinstance(spec, str) else _join_trace(
                        batch[spec["reasoning"]][r], batch[spec["answer"]][r])
                    items.append((i, text, teacher))
            for i, text, teacher in items:
                if text is None:
                    continue
                for k in batch:
                    if k not in list_columns:
                        out[k].append(batch[k][r])
                out[response_column].append(text)
                out[PROMPT_ID].append(prompt_id)
                out[GENERATION_INDEX].append(i)
                if teacher_column in out:
                    out[teacher_column].append(teacher)
                for c in with_columns:
                    out[c].append(aligned[c][i])
        return out

    long = ds.map(batch_explode, batched=True, with_indices=True, remove_columns=names)
    fields = {PROMPT_ID: "the row of the wide source this response came from",
              GENERATION_INDEX: "the response's position among its row's responses", response_column: "the response"}
    if per_teacher or teachers is not None:
        fields[teacher_column] = "the teacher (model) that wrote the response"
    config = {"transform": "explode", "responses": responses, "with_columns": list(with_columns),
              "teachers": teachers}
    return record_score(long, "explode", config, {}, {
        "explanation": "Wide rows (several responses per prompt) were made long: one row per response.",
        "fields": fields})


def fold(ds: Any, by: str = PROMPT_ID, columns: Sequence[str] | None = None) -> Any:
    """Fold long rows back to one row per ``by`` (the inverse of `explode`): ``columns`` (default: every column
    whose value differs within a group) become lists, in row order; the others keep their single value. Groups
    come out in the order of their first row."""
    from datasets import Dataset, DatasetDict

    if isinstance(ds, DatasetDict):
        return DatasetDict({split: fold(part, by, columns) for split, part in ds.items()})
    from hf_select._compat import logical_table

    if by not in ds.column_names:
        raise DataFormatError(f"fold: no column {by!r} to group by (columns: {ds.column_names})")
    rows = logical_table(ds).to_pylist()
    groups: dict[Any, list[dict]] = {}
    for row in rows:
        groups.setdefault(row[by], []).append(row)
    if columns is None:
        columns = [c for c in ds.column_names if c != by
                   and any(len({repr(r[c]) for r in group}) > 1 for group in groups.values())]
    folded = [{c: ([r[c] for r in group] if c in columns else group[0][c]) for c in ds.column_names}
              for group in groups.values()]
    out = Dataset.from_list(folded)
    out.info.description = ds.info.description
    return out
