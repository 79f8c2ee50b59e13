"""`CheckAnswers`: a `Dataset.map` transform marking each response correct or not against its reference.

Correctness filtering has to happen before picking the best response per prompt, so this runs over whole
datasets, batched or not, in worker processes. It therefore holds only plain settings (it pickles with dill
for `num_proc>1`, and its pickled state changes whenever anything that decides the output changes, which keeps
`datasets`' map cache honest) and grades with math-verify directly (`hf_select.answers.verify`), which keeps no
state, so threads and forked workers need no lock.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from datasets import Value

from hf_select.answers.verify import fingerprint, grade
from hf_select.columns import ERROR_COLUMN, IS_CORRECT
from hf_select.config import as_config, option
from hf_select.errors import ConfigError, ScoringInputError
from hf_select.formats import Shape
from hf_select.scoring import MapPass, PassParams, RowLog, configure
from hf_select.traces import answer_text
from hf_select.version import __version__

EXTRACTION_ORDER = "last \\boxed{...} > last 'the answer is X' / 'answer: X' / '#### X' > last number"
GRADED = (
    "the answer of a reasoning trace (after </think>, or the <|begin_of_solution|> section), else the whole "
    "response; a trace cut off inside its reasoning is incorrect"
)


@dataclass(frozen=True)
class AnswerParams(PassParams):
    answer_column: str = option("The column holding each row's reference answer.", "answer")
    output_column: str = option("Where the verdict goes (bool).", "is_correct")
    extracted_column: str = option("Where the extracted final answer goes.", "extracted_answer")
    note_column: str = option("Where the reason a response has no answer goes (empty otherwise).", "answer_note")
    timeout_seconds: int | None = option("Seconds math-verify may spend on one comparison (None: no limit).", 5)

    def __post_init__(self) -> None:
        super().__post_init__()
        names = [self.answer_column, self.output_column, self.extracted_column, self.note_column]
        if len(set(names)) != len(names):
            raise ConfigError(f"CheckAnswers column names must be distinct strings, got {names}")
        if self.timeout_seconds is not None and self.timeout_seconds < 0:
            # signal.alarm takes whole seconds; anything else would make every parse fail quietly.
            raise ConfigError(f"timeout_seconds must be a non-negative int or None, got {self.timeout_seconds!r}")


class CheckAnswers(MapPass):
    """Add `output_column` (bool), `extracted_column` (str or None) and `note_column` to a batch or a single row.

    With ``on_error="nan"`` a row whose response or reference cannot be checked gets null in both columns and
    a message in ``hf_select_error`` instead of stopping the run. Also a pass for `hf_select.score`, which
    caches it and records its configuration like a score's."""

    name = "answer_check"
    cli_alias = "answers"
    Params = AnswerParams
    reads_shape = True
    columns = (IS_CORRECT,)
    explanation = (
        "Each response's final answer (the last `\\boxed{}`, else 'the answer is X', else the last "
        "number) is compared with the reference answer by math-verify. "
        "In reasoning traces only the answer is graded (the text after `</think>`, or the solution); a "
        "trace cut off inside its reasoning is incorrect, and `answer_note` says so."
    )
    params: AnswerParams

    def __init__(self, params: AnswerParams | None = None, *, shape: Shape | None = None, **options: Any) -> None:
        self.shape, self.params = configure(type(self), params, shape, options)
        if self.shape.response_column in (
            self.params.output_column,
            self.params.extracted_column,
            self.params.note_column,
            self.params.answer_column,
        ):
            raise ConfigError(
                f"CheckAnswers column names must be distinct strings: the response column "
                f"{self.shape.response_column!r} is also an answer column"
            )
        # Part of the pickled state on purpose: `datasets` fingerprints the transform by pickling it.
        self._grader = fingerprint()

    def config(self) -> dict[str, Any]:
        """JSON-safe description of everything that changes the output, for cache keys and dataset cards."""
        return {
            "transform": "hf_select.answers.CheckAnswers",
            "format": self.shape.format,
            "response_column": self.shape.response_column,
            **as_config(self.params),
            "threaded_timeout_seconds": None,  # math-verify cannot time out off the main thread
            "extraction": EXTRACTION_ORDER,
            "graded_text": GRADED,
            **self._grader,
            "hf_select_version": __version__,
        }

    def column_specs(self):
        return (IS_CORRECT.renamed(self.params.output_column),)

    def field_docs(self) -> dict[str, str]:
        docs = super().field_docs()
        docs[self.params.extracted_column] = "the final answer found in the response, as compared (null: none found)"
        docs[self.params.note_column] = "why a response has no answer to grade (empty otherwise)"
        return docs

    def input_columns(self) -> list[str]:
        return [*self.shape.columns(with_prompt=False), self.params.answer_column]

    def non_null_columns(self) -> list[str]:
        return [self.params.answer_column] if self.params.on_error == "raise" else []

    def features(self) -> dict[str, Any]:
        p = self.params
        features = {p.output_column: Value("bool"), p.extracted_column: Value("string"), p.note_column: Value("string")}
        if self.records_errors:
            features[ERROR_COLUMN] = Value("string")
        return features

    def describe(self) -> str:
        return "answer check (math-verify)"

    def __repr__(self) -> str:
        return f"CheckAnswers({self.params!r}, shape={self.shape!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "progress"}

    def compute(self, rows: list[dict[str, Any]], log: RowLog) -> list[dict[str, Any]]:
        p = self.params
        # "" rather than null notes: a plain ds.map infers the type from the first rows
        out = [{p.output_column: None, p.extracted_column: None, p.note_column: ""} for _ in rows]
        for i, row in enumerate(rows):
            got = log.attempt(i, lambda row=row: (answer_text(self._reply(row)), self._reference(row[p.answer_column])))
            if got is None:
                continue
            (graded, why), reference = got
            out[i][p.note_column] = why or ""
            if graded is None:
                out[i][p.output_column] = False  # nothing to grade: incorrect, and the note says why
                continue
            graded_row = log.attempt(i, lambda graded=graded, reference=reference: self._grade(graded, reference))
            if graded_row is not None:
                out[i][p.output_column], out[i][p.extracted_column] = graded_row
                if graded_row[1] is None:
                    out[i][p.note_column] = "no final answer found in the response"
        return out

    def _grade(self, graded: str, reference: str) -> tuple[bool, str | None]:
        try:
            return grade(graded, reference, self.params.timeout_seconds)
        except ValueError as error:  # a reference math-verify cannot read
            raise ScoringInputError(self.params.answer_column, str(error)) from None

    def _reply(self, row: dict[str, Any]) -> str:
        """The text to grade; an empty text response is a response without an answer (incorrect), not an error."""
        value = row[self.shape.response_column]
        if (
            self.shape.format == "text"
            and isinstance(value, str)
            and not value.strip()
            and not self.shape.reasoning_beside(row)
        ):
            return value
        return self.shape.reply(row)

    def _reference(self, value: Any) -> str:
        column = self.params.answer_column
        if isinstance(value, str):
            if not value.strip():
                raise ScoringInputError(column, "the reference answer is empty; fix or filter that row.")
            return value
        is_number = isinstance(value, (numbers.Real, Decimal)) and not isinstance(value, bool)
        if is_number and math.isfinite(value):
            return str(value)
        raise ScoringInputError(
            column,
            f"the reference answer must be a string or a finite number, got "
            f"{type(value).__name__} {value!r}. Fix or filter rows without a usable "
            "reference.",
        )
