"""`Completeness`: whether each response is whole, as data (a flag and a reason), never folded into a score.

A trace cut off at the generation's token limit is short and confident: one unfinished step that the student
finds very natural. Selecting by a score without knowing it picks such traces, so every response gets a
``complete`` flag, and selection (`hf_select.select_best`, recipes) excludes incomplete ones by default.

A response is incomplete when any of these says so:

- its reasoning block opened and never closed (R1 ``<think>``, OpenThoughts ``<|begin_of_thought|>``), or its
  solution block opened and never closed (see `hf_select.traces`);
- the data records why generation stopped (``finish_reason`` / ``finish_reasons`` is ``"length"``), or that the
  reasoning is not complete (OpenR1-Math's ``is_reasoning_complete`` is false);
- answers were checked (`hf_select.CheckAnswers` ran before) and no final answer was found.

A null in those columns means "unknown" and says nothing. A row whose reply cannot be read at all (not a string,
not a conversation) gets a null flag and the reason; an empty reply is incomplete. This pass never stops a run:
the scores already say what they could not score. `hf_select.score` adds it after the scores it runs, reading
rows with the first score's `Shape`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datasets import Value

from hf_select.columns import COMPLETE, INCOMPLETE_REASON, Field
from hf_select.config import as_config, option
from hf_select.errors import ScoringInputError
from hf_select.formats import Shape
from hf_select.scoring import MapPass, PassParams, RowLog, configure
from hf_select.traces import parse_trace
from hf_select.version import __version__

FINISH_COLUMNS = ("finish_reason", "finish_reasons")
TRUNCATED_FINISH = "length"


@dataclass(frozen=True)
class CompletenessParams(PassParams):
    finish_columns: list[str] = option(
        "Columns that say why generation stopped ('length': cut off).", default_factory=lambda: list(FINISH_COLUMNS)
    )
    complete_column: str = option(
        "A column that says whether the reasoning is complete (OpenR1-Math).", "is_reasoning_complete"
    )
    extracted_column: str = option(
        "Where answer checks put the extracted answer (null: no final answer).", "extracted_answer"
    )


class Completeness(MapPass):
    """Adds ``complete`` (bool) and ``incomplete_reason`` ("" when complete), from the reply and, when the data
    has them, its finish reason, completeness flag and extracted answer."""

    name = "completeness"
    cli_alias = "complete"
    Params = CompletenessParams
    reads_shape = True
    explanation = (
        "Each response is flagged complete unless it was cut off: a reasoning or solution block that "
        "opens and never closes, a finish reason of 'length', a false `is_reasoning_complete`, or (where "
        "answers were checked) no final answer. Incomplete responses are excluded from selection."
    )
    fields = {
        COMPLETE: Field(Value("bool"), "whether the response is whole (not cut off); null when unreadable"),
        INCOMPLETE_REASON: Field(Value("string"), "why the response is incomplete (empty when it is complete)"),
    }
    params: CompletenessParams

    def __init__(self, params: CompletenessParams | None = None, *, shape: Shape | None = None, **options: Any) -> None:
        self.shape, self.params = configure(type(self), params, shape, options)

    def input_columns(self) -> list[str]:
        return self.shape.columns(with_prompt=False)

    def optional_columns(self) -> list[str]:
        p = self.params
        return [*super().optional_columns(), *p.finish_columns, p.complete_column, p.extracted_column]

    @property
    def records_errors(self) -> bool:
        return False  # an unreadable reply is recorded in incomplete_reason

    def features(self) -> dict[str, Any]:
        return {name: f.feature for name, f in self.fields.items()}

    def config(self) -> dict[str, Any]:
        return {
            "score": self.name,
            **as_config(self.shape),
            **as_config(self.params),
            "rules": "open reasoning/solution block; finish reason 'length'; is_reasoning_complete false; "
            "answers checked and none found",
            "hf_select_version": __version__,
        }

    def describe(self) -> str:
        return "completeness"

    def compute(self, rows: list[dict[str, Any]], log: RowLog) -> list[dict[str, Any]]:
        out = []
        for row in rows:
            try:
                reason = self.incomplete(row)
            except ScoringInputError as err:
                reason = "unreadable: " + "".join(str(part) for part in err.args)
                out.append({COMPLETE: None, INCOMPLETE_REASON: reason})
            else:
                out.append({COMPLETE: not reason, INCOMPLETE_REASON: reason})
        return out

    def _empty_turn(self, row: dict[str, Any]) -> bool:
        """Whether the assistant turn a chat row scores is empty (which reading it refuses as unreadable)."""
        if self.shape.format == "text":
            return False
        try:
            replies = [m for m in self.shape.conversation(row, with_prompt=False) if m["role"] == "assistant"]
        except ScoringInputError:
            return False
        content = replies[-1]["content"] if replies else "not empty"
        return content is None or isinstance(content, str) and not content.strip()

    def incomplete(self, row: dict[str, Any]) -> str:
        """Why the row's response is incomplete ("" when it is complete)."""
        p = self.params
        value = row[self.shape.response_column]
        if self.shape.reasoning_beside(row):
            value = row[self.shape.reasoning_column]  # whatever its answer, `shape.reply` has the trace
        if value is None or isinstance(value, str) and not value.strip() or self._empty_turn(row):
            return "empty response"  # nothing was generated: incomplete (never unknown), whatever the shape
        reasons = []
        trace = parse_trace(self.shape.reply(row))
        if trace.incomplete:
            reasons.append(trace.incomplete)
        for column in p.finish_columns:
            value = row.get(column)  # one reason, or a list of them (vLLM's outputs, OpenR1's finish_reasons)
            if value == TRUNCATED_FINISH or isinstance(value, (list, tuple)) and TRUNCATED_FINISH in value:
                reasons.append(f"{column} is {value!r}: generation hit its token limit")
        if row.get(p.complete_column) is False:
            reasons.append(f"{p.complete_column} is false")
        if p.extracted_column in row and row[p.extracted_column] is None and not trace.cut_off:
            reasons.append("answers were checked and no final answer was found")
        return "; ".join(reasons)
