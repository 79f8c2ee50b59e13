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
from decimal import Decimal
from typing import Any

from hf_select.answers.metric import compute_answers, metric_fingerprint

EXTRACTION_ORDER = "last \\boxed{...} > last 'the answer is X' / 'answer: X' / '#### X' > last number"


class MissingColumnError(KeyError, ValueError):
    """A required column is absent; catchable as KeyError or ValueError, printed without KeyError's quotes."""

    def __str__(self) -> str:
        return str(self.args[0])


class CheckAnswers:
    """Add `output_column` (bool) and `extracted_column` (str or None) to a batch or a single row.

    Also a step for `hf_select.score`, which caches it and records its configuration like a score's."""

    name = "answer_check"
    higher_is_better: dict[str, bool] = {}
    model = None

    def __init__(
        self,
        response_column: str = "response",
        answer_column: str = "answer",
        output_column: str = "is_correct",
        extracted_column: str = "extracted_answer",
        timeout_seconds: int | None = 5,
    ) -> None:
        names = [response_column, answer_column, output_column, extracted_column]
        if not all(isinstance(name, str) for name in names) or len(set(names)) != len(names):
            raise ValueError(f"CheckAnswers column names must be distinct strings, got {names}")
        if timeout_seconds is not None and (type(timeout_seconds) is not int or timeout_seconds < 0):
            # signal.alarm takes whole seconds; anything else would make every parse fail quietly.
            raise ValueError(f"timeout_seconds must be a non-negative int or None, got {timeout_seconds!r}")
        self.response_column = response_column
        self.answer_column = answer_column
        self.output_column = output_column
        self.extracted_column = extracted_column
        self.timeout_seconds = timeout_seconds
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
            "timeout_seconds": self.timeout_seconds,
            "threaded_timeout_seconds": None,  # math-verify cannot time out off the main thread
            "extraction": EXTRACTION_ORDER,
            **metric_fingerprint(),
        }

    @property
    def definitions(self) -> dict[str, str]:
        return {self.output_column: "whether the response's final answer equals the reference (math-verify)"}

    def features(self) -> dict[str, Any]:
        from datasets import Value

        return {self.output_column: Value("bool"), self.extracted_column: Value("string")}

    def describe(self) -> str:
        return "answer check (math-verify)"

    def __repr__(self) -> str:
        return (
            f"CheckAnswers(response_column={self.response_column!r}, answer_column={self.answer_column!r}, "
            f"output_column={self.output_column!r}, extracted_column={self.extracted_column!r}, "
            f"timeout_seconds={self.timeout_seconds!r})"
        )

    def __call__(
        self, batch: Mapping[str, Any], indices: int | Sequence[int] | None = None
    ) -> dict[str, Any]:
        for column in (self.response_column, self.answer_column):
            if column not in batch:
                raise MissingColumnError(
                    f"CheckAnswers needs column {column!r}, which is missing; available columns: "
                    f"{sorted(batch.keys())}. Pass response_column=/answer_column= to match your dataset."
                )
        responses, references = batch[self.response_column], batch[self.answer_column]
        batched = isinstance(responses, (list, tuple))
        if batched != isinstance(references, (list, tuple)):
            raise ValueError(
                f"columns {self.response_column!r} and {self.answer_column!r} must both be lists (batched) "
                f"or both scalars (one row); got {type(responses).__name__} and {type(references).__name__}"
            )
        if not batched:
            responses, references = [responses], [references]
            indices = None if indices is None else [indices]
        if len(responses) != len(references):
            raise ValueError(
                f"columns {self.response_column!r} and {self.answer_column!r} have different lengths "
                f"({len(responses)} and {len(references)}) in this batch"
            )
        labels = [_row_label(i, indices, batched) for i in range(len(responses))]
        try:
            predictions = [self._response(responses[i], label) for i, label in enumerate(labels)]
            golds = [self._reference(references[i], label) for i, label in enumerate(labels)]
            result = self._compute(predictions, golds, labels)
        except ValueError as error:
            if indices is None and isinstance(getattr(error, "row_label", None), str):
                hint = "(map with with_indices=True to report dataset row indices)"
                raise ValueError(f"{error} {hint}") from error
            raise
        if not batched:
            return {self.output_column: result["correct"][0], self.extracted_column: result["extracted"][0]}
        return {self.output_column: result["correct"], self.extracted_column: result["extracted"]}

    def _compute(self, predictions: list[str], golds: list[str], labels: list[str]) -> dict[str, list]:
        if not predictions:  # an empty batch: evaluate has nothing to add; keep the columns typed as lists.
            return {"correct": [], "extracted": []}
        try:
            return compute_answers(predictions, golds, self.timeout_seconds)
        except ValueError as error:
            position = getattr(error, "position", None)
            if position is None:
                raise
            raise _row_error(labels[position], self.answer_column, str(error)) from error

    def _response(self, value: Any, label: str) -> str:
        if isinstance(value, str):
            return value
        raise _row_error(
            label,
            self.response_column,
            f"the response must be a string (the full model text), got {type(value).__name__} {value!r}. "
            "Fill missing responses with '' (counted as incorrect) or filter those rows out; if responses "
            "are chat messages, take the assistant text first.",
        )

    def _reference(self, value: Any, label: str) -> str:
        if isinstance(value, str):
            return value
        is_number = isinstance(value, (numbers.Real, Decimal)) and not isinstance(value, bool)
        if is_number and math.isfinite(value):
            return str(value)
        raise _row_error(
            label,
            self.answer_column,
            f"the reference answer must be a string or a finite number, got {type(value).__name__} "
            f"{value!r}. Fix or filter rows without a usable reference.",
        )


def _row_label(i: int, indices: Sequence[int] | None, batched: bool) -> str:
    if indices is not None:
        return f"row {indices[i]}"
    return f"row {i} of this batch" if batched else "this row"


def _row_error(label: str, column: str, message: str) -> ValueError:
    error = ValueError(f"{label}, column {column!r}: {message}")
    error.row_label = label  # marks errors about one row, so __call__ can add the with_indices hint
    return error
