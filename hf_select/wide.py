"""Wide data: several responses per row (a list column of generations, or one column per teacher).

`explode` makes wide data long (one row per response, with ``prompt_id`` and ``generation_index``), which is
what scores, rankings and selection work on; `fold` folds long rows back. Both work on `Dataset` and
`DatasetDict`; `explode` also on streams. Public sets hold nulls where a value is unknown: a null aligned list
(OpenR1-Math's ``finish_reasons`` or ``correctness_llama`` in many rows) means "unknown" for every generation of
its row, and a null response is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hf_select.errors import ConfigError, DataFormatError
from hf_select.metadata import record_score
from hf_select.traces import inline_trace

PROMPT_ID, GENERATION_INDEX = "prompt_id", "generation_index"


def _response_spec(responses: Any) -> tuple[str | None, dict[str, Any] | None]:
    """(list column, None) or (None, {teacher: column or {"reasoning": col, "answer": col}})."""
    if isinstance(responses, str):
        return responses, None
    if isinstance(responses, Mapping):
        return None, dict(responses)
    if isinstance(responses, Sequence) and responses and all(isinstance(c, str) for c in responses):
        return None, {column: column for column in responses}
    raise ConfigError(
        "responses must be a list column's name, a list of column names, or "
        "{teacher: column} (a column may be {reasoning: col, answer: col})"
    )


def _join_trace(reasoning: Any, answer: Any) -> str | None:
    """The response of a teacher whose reasoning and answer sit in two columns (`traces.inline_trace`; no
    reasoning: the answer alone, as `Shape(reasoning_column=...)` reads it)."""
    if not isinstance(reasoning, str) or not reasoning.strip():
        return answer
    return inline_trace(reasoning, answer)


def explode(
    ds: Any,
    responses: str | Sequence[str] | Mapping[str, Any],
    *,
    with_columns: Sequence[str] = (),
    teachers: str | None = None,
    response_column: str = "response",
    teacher_column: str = "teacher",
) -> Any:
    """Make wide data long: one row per response, with ``prompt_id`` (the source row) and ``generation_index``.

    ``responses``:
      * a list column (OpenR1-Math's ``generations``): ``with_columns`` are list columns aligned with it
        (``correctness_math_verify``, ``finish_reasons``, ...) and become one value per row (a null list: null
        for every generation); ``teachers`` is a list column naming each generation's teacher, or one teacher
        name for all;
      * ``{teacher: column}`` or a list of columns (one column per teacher, s1K's ``gemini_attempt``,
        ``deepseek_attempt``): the teacher is the key (or the column's name). A column may be
        ``{"reasoning": col, "answer": col}``: the response is then the R1-style trace
        ``<think>\\nreasoning\\n</think>\\n\\nanswer`` (`hf_select.traces.inline_trace`).
    Every other column is repeated on each of its rows; missing (null) responses are skipped. Works on a
    `Dataset`, a `DatasetDict` (per split) and streaming datasets."""
    from datasets import DatasetDict, IterableDatasetDict

    if isinstance(ds, (DatasetDict, IterableDatasetDict)):
        return type(ds)(
            {
                split: explode(
                    part,
                    responses,
                    with_columns=with_columns,
                    teachers=teachers,
                    response_column=response_column,
                    teacher_column=teacher_column,
                )
                for split, part in ds.items()
            }
        )
    names = list(ds.column_names or next(iter(ds)).keys())  # a stream may not know its columns before reading
    rows = _Exploder(*_response_spec(responses), list(with_columns), teachers, names, response_column, teacher_column)
    long = ds.map(rows, batched=True, with_indices=True, remove_columns=names)
    fields = {
        PROMPT_ID: "the row of the wide source this response came from",
        GENERATION_INDEX: "the response's position among its row's responses",
        response_column: "the response",
    }
    if rows.names_teachers:
        fields[teacher_column] = "the teacher (model) that wrote the response"
    config = {"transform": "explode", "responses": responses, "with_columns": list(with_columns), "teachers": teachers}
    return record_score(
        long,
        "explode",
        config,
        {},
        {
            "explanation": "Wide rows (several responses per prompt) were made long: one row per response.",
            "fields": fields,
        },
    )


@dataclass
class _Exploder:
    """The ``Dataset.map`` function of `explode`: a batch of wide rows in, their responses out, one per row."""

    list_column: str | None
    per_teacher: dict[str, Any] | None
    with_columns: list[str]
    teachers: str | None
    names: list[str]
    response_column: str
    teacher_column: str

    def __post_init__(self) -> None:
        used = (
            [self.list_column]
            if self.list_column
            else [c for spec in self.per_teacher.values() for c in ([spec] if isinstance(spec, str) else spec.values())]
        )
        self.teacher_list = self.teachers if isinstance(self.teachers, str) and self.teachers in self.names else None
        self.list_columns = [*used, *self.with_columns, *([self.teacher_list] if self.teacher_list else [])]
        missing = [c for c in self.list_columns if self.names and c not in self.names]
        if missing:
            raise DataFormatError(f"explode: no column {missing[0]!r} in the dataset (columns: {self.names})")
        if self.per_teacher and self.with_columns:
            raise ConfigError(
                "explode: with_columns applies to a list column of generations, not to one column per teacher"
            )

    @property
    def names_teachers(self) -> bool:
        return bool(self.per_teacher) or self.teachers is not None

    def __call__(self, batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        kept = [k for k in batch if k not in self.list_columns]
        out: dict[str, list] = {
            k: []
            for k in [
                *kept,
                self.response_column,
                PROMPT_ID,
                GENERATION_INDEX,
                *([self.teacher_column] if self.names_teachers else []),
                *self.with_columns,
            ]
        }
        for r, prompt_id in enumerate(indices):
            items, aligned = self.responses(batch, r, prompt_id)
            for i, text, teacher in items:
                if text is None:
                    continue
                for k in kept:
                    out[k].append(batch[k][r])
                out[self.response_column].append(text)
                out[PROMPT_ID].append(prompt_id)
                out[GENERATION_INDEX].append(i)
                if self.names_teachers:
                    out[self.teacher_column].append(teacher)
                for c in self.with_columns:
                    out[c].append(aligned[c][i])
        return out

    def responses(self, batch: dict[str, list], r: int, prompt_id: int) -> tuple[list, dict]:
        """(index, text, teacher) of each response of row ``r``, and its aligned values."""
        if not self.list_column:
            return [
                (
                    i,
                    batch[spec][r]
                    if isinstance(spec, str)
                    else _join_trace(batch[spec["reasoning"]][r], batch[spec["answer"]][r]),
                    teacher,
                )
                for i, (teacher, spec) in enumerate(self.per_teacher.items())
            ], {}
        generations = batch[self.list_column][r]
        if generations is None:
            return [], {}
        if not isinstance(generations, list):
            raise DataFormatError(
                f"explode: row {prompt_id}, column {self.list_column!r} holds "
                f"{type(generations).__name__}, not a list of generations"
            )
        aligned = {}
        for c in [*self.with_columns, *([self.teacher_list] if self.teacher_list else [])]:
            values = batch[c][r]
            if values is None:
                values = [None] * len(generations)  # unknown for every generation
            elif not isinstance(values, list) or len(values) != len(generations):
                count = len(values) if isinstance(values, list) else repr(values)
                raise DataFormatError(
                    f"explode: row {prompt_id}, column {c!r} has {count} values for "
                    f"{len(generations)} generations in {self.list_column!r}"
                )
            aligned[c] = values
        names_of = aligned[self.teacher_list] if self.teacher_list else [self.teachers] * len(generations)
        return [(i, text, names_of[i]) for i, text in enumerate(generations)], aligned


def fold(ds: Any, by: str = PROMPT_ID, columns: Sequence[str] | None = None) -> Any:
    """Fold long rows back to one row per ``by`` (the inverse of `explode`): ``columns`` (default: every column
    whose value differs within a group) become lists, in row order; the others keep their single value. Groups
    come out in the order of their first row. Columnar: a group-by in arrow, no loop over rows."""
    from datasets import DatasetDict

    from hf_select._compat import dataset_from_arrow, logical_table

    if isinstance(ds, DatasetDict):
        return DatasetDict({split: fold(part, by, columns) for split, part in ds.items()})
    if by not in ds.column_names:
        raise DataFormatError(f"fold: no column {by!r} to group by (columns: {ds.column_names})")
    table = logical_table(ds)
    keys = table.column(by)
    gid = pc.index_in(keys, value_set=pc.unique(keys)).to_numpy(zero_copy_only=False).astype(np.int64)
    order = np.argsort(gid, kind="stable")  # groups in order of first row, rows in order within each
    offsets = np.r_[0, np.cumsum(np.bincount(gid))].astype(np.int64)
    first = order[offsets[:-1]]
    if columns is None:
        columns = [c for c in ds.column_names if c != by and _varies(table.column(c), gid, first)]
    out = {}
    for name in ds.column_names:
        column = table.column(name)
        if name in columns:
            values = column.take(pa.array(order)).combine_chunks()
            out[name] = (
                pa.LargeListArray.from_arrays(pa.array(offsets), values)
                if len(values) >= 2**31
                else pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)
            )
        else:
            out[name] = column.take(pa.array(first))
    folded = dataset_from_arrow(pa.table(out))
    folded.info.description = ds.info.description
    return folded


def _varies(column: pa.ChunkedArray, gid: np.ndarray, first: np.ndarray) -> bool:
    """Whether any value differs from its group's first value (nulls equal nulls, NaN equals NaN)."""
    reference = column.take(pa.array(first[gid]))
    try:
        same = pc.fill_null(pc.equal(column, reference), False)
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError):  # nested values: compare them as Python objects
        return column.to_pylist() != reference.to_pylist()
    same = pc.or_(same, pc.and_(pc.is_null(column), pc.is_null(reference)))
    if pa.types.is_floating(column.type):
        same = pc.or_(same, pc.fill_null(pc.and_(pc.is_nan(column), pc.is_nan(reference)), False))
    return not pc.all(same).as_py()
