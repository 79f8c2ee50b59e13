"""`CheckAnswers`: a `Dataset.map` transform marking each response correct or not against its reference.

Correctness filtering has to happen before picking the best response per prompt, so this runs over whole
datasets, batched or not, in worker processes. It therefore holds only plain settings (it pickles with dill
for `num_proc>1`, and its pickled state changes whenever anything that decides the output changes, which keeps
`datasets`' map cache honest) and loads the evaluate module lazily in whichever process calls it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hf_select.answers.metric import compute_answers, metric_fingerprint
from hf_select.columns import ERROR_COLUMN, IS_CORRECT
from hf_select.errors import ConfigError, ScoringInputError
from hf_select.formats import Format, RowReader, answer_text, wrong_type_advice
from hf_select.scoring import MapPass

EXTRACTION_ORDER = "last \\boxed{...} > last 'the answer is X' / 'answer: X' / '#### X' > last number"
GRADED = "the text after </think> (an R1 trace), else the whole response; a trace cut off inside <think> is incorrect"


@dataclass
class _BadRow(Exception):
    """One row's input cannot be checked (raised, or recorded with ``on_error="nan"``)."""

    position: int
    column: str
    problem: str


class CheckAnswers(MapPass):
    """Add `output_column` (bool) and `extracted_column` (str or None) to a batch or a single row.

    With ``on_error="nan"`` a row whose response or reference cannot be checked gets null in both columns and
    a message in ``hf_select_error`` instead of stopping the run. Also a pass for `hf_select.score`, which
    caches it and records its configuration like a score's."""

    name = "answer_check"
    cli_alias = "answers"
    model_roles: tuple[str, ...] = ()
    columns = (IS_CORRECT,)
    explanation = ("Each response's final answer (the last `\\boxed{}`, else 'the answer is X', else the last "
                   "number) is compared with the reference answer by math-verify, through a local `evaluate` module. "
                   "In R1-style traces only the text after `</think>` is graded; a trace cut off inside its "
                   "reasoning is incorrect, and `answer_note` says so.")

    def __init__(
        self,
        response_column: str | None = None,
        answer_column: str = "answer",
        output_column: str = "is_correct",
        extracted_column: str = "extracted_answer",
        note_column: str = "answer_note",
        timeout_seconds: int | None = 5,
        format: Format = "text",
        on_error: str = "raise",
    ) -> None:
        self.reader = RowReader(format, None, response_column)
        response_column = self.reader.response_column
        names = [response_column, answer_column, output_column, extracted_column, note_column]
        if not all(isinstance(name, str) for name in names) or len(set(names)) != len(names):
            raise ConfigError(f"CheckAnswers column names must be distinct strings, got {names}")
        if timeout_seconds is not None and (type(timeout_seconds) is not int or timeout_seconds < 0):
            # signal.alarm takes whole seconds; anything else would make every parse fail quietly.
            raise ConfigError(f"timeout_seconds must be a non-negative int or None, got {timeout_seconds!r}")
        if on_error not in ("raise", "nan"):
            raise ConfigError(f"on_error must be 'raise' or 'nan', not {on_error!r}")
        self.response_column = response_column
        self.answer_column = answer_column
        self.output_column = output_column
        self.extracted_column = extracted_column
        self.note_column = note_column
        self.timeout_seconds = timeout_seconds
        self.on_error = on_error
        # Part of the pickled state on purpose: `datasets` fingerprints the transform by pickling it.
        self._fingerprint = self.config()

    def config(self) -> dict[str, Any]:
        """JSON-safe description of everything that changes the output, for cache keys and dataset cards."""
        return {
            "transform": "hf_select.answers.CheckAnswers",
            "response_column": self.response_column,
            "answer_column": self.answer_column,
            "output_column": self.output_column,
            "extracted_column": self.extracted_column,
            "note_column": self.note_column,
            "format": self.reader.format,
            "timeout_seconds": self.timeout_seconds,
            "threaded_timeout_seconds": None,  # math-verify cannot time out off the main thread
            "extraction": EXTRACTION_ORDER,
            "graded_text": GRADED,
            **({"on_error": self.on_error} if self.on_error != "raise" else {}),
            **metric_fingerprint(),
        }

    def column_specs(self):
        return (IS_CORRECT.renamed(self.output_column),)

    def field_docs(self) -> dict[str, str]:
        docs = super().field_docs()
        docs[self.extracted_column] = "the final answer found in the response, as compared (null: none found)"
        docs[self.note_column] = "why a response has no answer to grade (empty otherwise)"
        return docs

    def input_columns(self) -> list[str]:
        return [self.response_column, self.answer_column]

    def features(self) -> dict[str, Any]:
        from datasets import Value

        features = {self.output_column: Value("bool"), self.extracted_column: Value("string"),
                    self.note_column: Value("string")}
        if self.on_error == "nan":
            features[ERROR_COLUMN] = Value("string")
        return features

    def describe(self) -> str:
        return "answer check (math-verify)"

    def __repr__(self) -> str:
        return (
            f"CheckAnswers(response_column={self.response_column!r}, answer_column={self.answer_column!r}, "
            f"output_column={self.output_column!r}, extracted_column={self.extracted_column!r}, "
            f"note_column={self.note_column!r}, timeout_seconds={self.timeout_seconds!r}, "
            f"format={self.reader.format!r}, on_error={self.on_error!r})"
        )

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "progress"}

    def __call__(self, batch: Mapping[str, Any], indices: int | Sequence[int] | None = None) -> dict[str, Any]:
        self.check_columns(batch.keys())
        batched, rows = self.split_batch(dict(batch), [*self.input_columns(), *self.optional_columns(),
                                                       ERROR_COLUMN])
        if not batched:
            indices = None if indices is None else [indices]
        labels = [_row_label(i, indices, batched) for i in range(len(rows))]
        correct: list[bool | None] = [None] * len(rows)
        extracted: list[str | None] = [None] * len(rows)
        notes: list[str] = [""] * len(rows)  # "" rather than null: a plain ds.map infers the type from the first rows
        errors: list[str | None] = [None] * len(rows)
        todo: list[tuple[int, str, str]] = []
        for i, row in enumerate(rows):
            try:
                graded, why = answer_text(self._response(row, i))
                notes[i] = why or ""
                reference = self._reference(row[self.answer_column], i)
                if graded is None:
                    correct[i] = False  # nothing to grade: incorrect, and the note says why
                else:
                    todo.append((i, graded, reference))
            except _BadRow as bad:
                errors[i] = self._fail(bad, labels)
        while todo:
            try:
                result = compute_answers([p for _, p, _ in todo], [g for _, _, g in todo], self.timeout_seconds)
            except ValueError as error:
                position = getattr(error, "position", None)
                if position is None:
                    raise
                i = todo.pop(position)[0]
                errors[i] = self._fail(_BadRow(i, self.answer_column, str(error)), labels)
                continue
            for (i, _, _), ok, answer in zip(todo, result["correct"], result["extracted"], strict=True):
                correct[i], extracted[i] = ok, answer
                if answer is None:
                    notes[i] = "no final answer found in the response"
            break
        out: dict[str, Any] = {self.output_column: correct, self.extracted_column: extracted, self.note_column: notes}
        if self.on_error == "nan":
            out[ERROR_COLUMN] = ["; ".join(e for e in (row.get(ERROR_COLUMN), error) if e) or None
                                 for row, error in zip(rows, errors, strict=True)]
        return out if batched else {name: values[0] for name, values in out.items()}

    def _fail(self, bad: _BadRow, labels: list[str]) -> str:
        """The message for a row that cannot be checked: raised, or returned to record it."""
        message = f"{labels[bad.position]}, column {bad.column!r}: {bad.problem}"
        if self.on_error == "raise":
            hint = (" (map with with_indices=True to report dataset row indices)"
                    if "of this batch" in labels[bad.position] else "")
            raise ScoringInputError(bad.column, message, hint)
        return f"{self.name}: {message}"

    def _response(self, row: Mapping[str, Any], position: int) -> str:
        """The text to grade: the response (the last assistant turn of chat data)."""
        value = row[self.response_column]
        if self.reader.format == "text":
            if isinstance(value, str):
                return value
            advice = wrong_type_advice(self.response_column, value)
            raise _BadRow(position, self.response_column, advice or (
                f"the response must be a string (the full model text), got {type(value).__name__} {value!r}. "
                "Fill missing responses with '' (counted as incorrect) or filter those rows out."))
        try:
            return self.reader.read(row, with_prompt=False)[-1].text
        except ScoringInputError as err:
            raise _BadRow(position, self.response_column, "".join(str(p) for p in err.args)) from None

    def _reference(self, value: Any, position: int) -> str:
        if isinstance(value, str):
            if not value.strip():
                raise _BadRow(position, self.answer_column, "the reference answer is empty; fix or filter that row.")
            return value
        is_number = isinstance(value, (numbers.Real, Decimal)) and not isinstance(value, bool)
        if is_number and math.isfinite(value):
            return str(value)
        raise _BadRow(position, self.answer_column,
                      f"the reference answer must be a string or a finite number, got {type(value).__name__} "
                      f"{value!r}. Fix or filter rows without a usable reference.")


def _row_label(i: int, indices: Sequence[int] | None, batched: bool) -> str:
    if indices is not None:
        return f"row {indices[i]}"
    return f"row {i} of this batch" if batched else "this row"
