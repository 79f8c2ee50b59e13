"""The base of every model-backed score: a batch of rows in, score columns out, through the engine.

A concrete score is one parameter dataclass (``Params``, on `ScoreParams`) and two methods: which requests a
row needs (`requests_for`) and how to turn their per-token results into columns (`columns_for`), as datatrove's
filters only say ``filter(doc)``. The base owns the rest: reading rows through the data's `Shape`, the one row
loop of `MapPass` (single rows and batches, row and column in every message, ``on_error``), ``on_overflow``,
progress, and the configuration that keys the cache and is written into dataset cards.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from datasets import Value

from hf_select.columns import ERROR_COLUMN, TRUNCATED
from hf_select.config import as_config, option
from hf_select.engine_io import ScoringRequest, TokenScores
from hf_select.errors import Arg, ScoringInputError
from hf_select.formats import Shape
from hf_select.layout import TextRequest, encode_requests, reasoning_rendering
from hf_select.models import ScoringModel
from hf_select.scoring import MapPass, PassParams, RowLog, SuffixParams, configure
from hf_select.version import __version__

if TYPE_CHECKING:  # the engine (PyTorch) is imported on the first forward pass, not to check a recipe
    from hf_select.engine import ScoringEngine


@dataclass(frozen=True)
class ScoreParams(SuffixParams):
    """The parameters every model-backed score takes; a score's own parameters subclass this."""

    on_overflow: Literal["error", "truncate_left", "nan"] = option(
        "A row longer than the model accepts: error; truncate_left (drop the oldest tokens, which are not scored, "
        "and say so in `hf_select_error`); nan.",
        "error",
    )


class Scorer(MapPass):
    """Base of every model-backed score: ``Scorer(model, **options)``, the options being the score's parameters
    (``Params``) and the data's shape (`Shape` fields, or ``shape=``).

    Class attributes (what the registry, recipes, the CLI and cards read): `name` (the recipe ``type``),
    `cli_alias` (``hf-select score --scores``), `explanation`, `columns` (the columns to rank by, float64) and
    `fields` (the other columns, with their types), `model_roles` (the model arguments)."""

    Params: ClassVar[type] = ScoreParams
    model_roles: ClassVar[tuple[str, ...]] = ("model",)
    reads_shape: ClassVar[bool] = True
    with_ranks: ClassVar[bool] = False  # whether `columns_for` needs token ranks from the engine
    params: ScoreParams
    shape: Shape

    def __init__(
        self, model: ScoringModel, params: ScoreParams | None = None, *, shape: Shape | None = None, **options: Any
    ) -> None:
        self.model = model
        self.shape, self.params = configure(type(self), params, shape, options)
        self._engine: ScoringEngine | None = None
        self.progress = None

    # -- what a score defines -----------------------------------------------------------------------------
    @abstractmethod
    def requests_for(self, row: dict[str, Any]) -> list[ScoringRequest | TextRequest]:
        """The engine requests one row needs, as token ids or as text (a batch's text requests are tokenised
        together, which a fast tokenizer spreads over its threads). Raise `ScoringInputError` for bad input."""

    @abstractmethod
    def columns_for(
        self, row: dict[str, Any], requests: list[ScoringRequest], results: list[TokenScores]
    ) -> dict[str, Any]:
        """The row's output columns from its requests and their results (tokens left unscored by
        ``on_overflow="truncate_left"`` are NaN)."""

    def output_features(self) -> dict[str, Any]:
        """The columns this score adds, as `datasets` feature types: its `columns` (float64) and its `fields`."""
        return {
            **{c.name: Value("float64") for c in self.base_column_specs()},
            **{name: f.feature for name, f in self.fields.items()},
        }

    def input_columns(self) -> list[str]:
        return self.shape.columns()

    # -- shared ---------------------------------------------------------------------------------------------
    @property
    def engine(self) -> ScoringEngine:
        if self._engine is None:
            from hf_select.engine import ScoringEngine

            self._engine = ScoringEngine(self.model, **self.model.engine_options)
        return self._engine

    def config(self) -> dict[str, Any]:
        return {
            "score": self.name,
            "model": self.model.name,
            "model_hub_id": self.model.hub_id,
            "model_identity": self.model.identity,
            **as_config(self.shape),
            **as_config(self.params),
            "reasoning_rendering": reasoning_rendering(
                self.model.tokenizer, getattr(self.params, "layout", None) or "auto"
            ),
            "hf_select_version": __version__,
        }

    def describe(self) -> str:
        return f"{self.key} ({self.model.name})"

    @property
    def records_errors(self) -> bool:
        return self.params.on_error == "nan" or self.params.on_overflow in ("nan", "truncate_left")

    def raises(self, error: ScoringInputError) -> bool:
        if error.overflow and self.params.on_overflow == "nan":
            return False
        return self.params.on_error == "raise"

    def features(self) -> dict[str, Any]:
        features = {self.column(name): feature for name, feature in self.output_features().items()}
        if self.records_errors:
            features[ERROR_COLUMN] = Value("string")
        return features

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_engine": None, "progress": None}  # each worker builds its own engine

    def compute(self, rows: list[dict[str, Any]], log: RowLog) -> list[dict[str, Any]]:
        """Plan every row's requests, run them through the engine together, and turn results into columns."""
        return run_together([self], rows, [log], self.progress)[0]

    def plan_rows(self, rows: list[dict[str, Any]], log: RowLog) -> list[list[tuple[Any, Any, int]] | None]:
        """Each row's requests as (asked, fitted to the model's length, target tokens dropped), None for a row that
        cannot be scored (`log` raised or recorded why); truncations are noted in `log`."""
        limit = 0  # the model's length limit, read once a row has requests (a batch of bad rows loads nothing)

        def plan(requests: list[ScoringRequest]) -> list[tuple[ScoringRequest, ScoringRequest, int]]:
            nonlocal limit
            limit = limit or self.model.max_length
            return [(request, *self._fit(request, limit)) for request in requests]

        asked = self.tokenise([log.attempt(i, lambda row=row: self.requests_for(row)) for i, row in enumerate(rows)])
        plans = [None if a is None else log.attempt(i, lambda a=a: plan(a)) for i, a in enumerate(asked)]
        for i, planned in enumerate(plans):
            dropped = sum(d for _, _, d in planned or [])
            if dropped:
                total = sum(len(asked.target) for asked, _, _ in planned)
                log.note(
                    i,
                    f"{self.key}: {log.label(i)}, column {self._overflow_column()!r}: {TRUNCATED} {limit} "
                    f"tokens; {dropped} of {total} scored tokens were dropped (on_overflow='truncate_left')",
                )
        return plans

    def tokenise(self, asked: list[list | None]) -> list[list[ScoringRequest] | None]:
        """Each row's requests with every `TextRequest` of the batch tokenised in one call (`encode_requests`)."""
        texts = [r for requests in asked if requests for r in requests if isinstance(r, TextRequest)]
        if not texts:
            return asked
        encoded = iter(encode_requests(self.model.tokenizer, texts))
        return [
            None
            if requests is None
            else [ScoringRequest(*next(encoded)) if isinstance(r, TextRequest) else r for r in requests]
            for requests in asked
        ]

    def columns_of(self, rows: list[dict[str, Any]], plans: list, results: list[list[TokenScores]]) -> list[dict]:
        """The output columns of each row from its plan and its requests' results (NaN/null where unscorable)."""
        outputs = []
        for row, planned, scores in zip(rows, plans, results, strict=True):
            if planned is None:
                out = {name: _unscored(feature) for name, feature in self.output_features().items()}
            else:
                out = self.columns_for(
                    row,
                    [asked for asked, _, _ in planned],
                    [_unfit(result, dropped) for (_, _, dropped), result in zip(planned, scores, strict=True)],
                )
            outputs.append({self.column(name): value for name, value in out.items()})
        return outputs

    def _fit(self, request: ScoringRequest, limit: int) -> tuple[ScoringRequest, int]:
        """Apply ``on_overflow`` to a request longer than the model accepts; return it and the dropped targets."""
        if len(request) <= limit:
            return request, 0
        if self.params.on_overflow != "truncate_left":
            raise ScoringInputError(
                self._overflow_column(),
                f"the sequence is {len(request)} tokens but the model accepts at most {limit}. Shorten the text, or "
                "pass ",
                Arg("on_overflow", "truncate_left"),
                " (drop the oldest tokens) or ",
                Arg("on_overflow", "nan"),
                ".",
                overflow=True,
            )
        sequence = list(request.context) + list(request.target)
        kept_target = min(len(request.target), limit - 1)  # at least one context token stays
        context = sequence[len(sequence) - limit : len(sequence) - kept_target]
        return ScoringRequest(context, list(request.target)[-kept_target:]), len(request.target) - kept_target

    def _overflow_column(self) -> str:
        return self.input_columns()[0]


def run_together(
    scores: Sequence[Scorer], rows: list[dict[str, Any]], logs: Sequence[RowLog], progress: Any = None
) -> list[list[dict[str, Any]]]:
    """The columns of several scores on one model for the same rows, each from one engine run over its requests,
    and a run shared by the scores that ask exactly the same requests: global naturalness, RSR, IFD's conditional
    half and ASLEC all ask for the prompt + response, which runs once.

    Why not one run over the distinct requests of all of them: the engine agrees with a batch-1 forward to float
    precision, not to the last bit, so a request batched beside another score's requests would get other bits than
    when its score runs alone; and a resumed run (some scores of a chunk cached, others not) or a recipe with one
    score more would then not give a clean run's numbers. Here a score's numbers depend on its own requests only."""
    plans = [score.plan_rows(rows, log) for score, log in zip(scores, logs, strict=True)]
    asked = [[[fitted for _, fitted, _ in planned or []] for planned in planned_rows] for planned_rows in plans]
    # one score alone needs no (costly) key to find scores that ask the same
    keys = [
        tuple((tuple(r.context), tuple(r.target)) for row in requests for r in row) if len(scores) > 1 else 0
        for requests in asked
    ]
    runs: dict[tuple | int, list[TokenScores]] = {}  # a list of requests -> the engine's results for it
    outputs = []
    for score, planned_rows, requests, key in zip(scores, plans, asked, keys, strict=True):
        if key not in runs:
            flat = [request for row in requests for request in row]
            owner = [row for row, row_requests in enumerate(requests) for _ in row_requests]
            ranks = any(other.with_ranks for other, other_key in zip(scores, keys, strict=True) if other_key == key)
            done = _reporter(progress, owner, flat, len(rows), 1 / len(set(keys)), first=not runs)
            runs[key] = score.engine.score(flat, ranks=ranks, on_done=done) if flat else []
        results = iter(runs[key])
        outputs.append(score.columns_of(rows, planned_rows, [[next(results) for _ in row] for row in requests]))
    if progress is not None:  # rows without requests (unscorable) are done too
        progress.advance(sum(1 for row in zip(*asked, strict=True) if not any(row)))
    return outputs


class OverColumns(MapPass):
    """A model-free pass over a score's columns (IFD's ratio, ASLEC-CASL), named with that score's suffix. A row
    the model pass could not score is NaN here, its message already in ``hf_select_error``."""

    Params = SuffixParams
    params: SuffixParams

    def __init__(self, params: SuffixParams | None = None, **options: Any) -> None:
        _, self.params = configure(type(self), params, None, options)

    @property
    def records_errors(self) -> bool:
        return False


class SharedPass(MapPass):
    """Several scores on one model as one ``Dataset.map``: each row's requests of all of them go to the engine once
    (`run_together`). Its columns are each member's own, under ``<i>:<column>``, so that each member's own map (and
    cache) takes them from here (`TakeColumns`); a member's ``hf_select_error`` holds only its own messages."""

    name = "shared"

    def __init__(self, members: list[Scorer]) -> None:
        self.members, self.model = members, members[0].model
        self.params = PassParams()

    @property
    def key(self) -> str:
        return "+".join(member.key for member in self.members)

    def describe(self) -> str:
        return f"{', '.join(member.key for member in self.members)} ({self.model.name})"

    def input_columns(self) -> list[str]:
        return list(dict.fromkeys(c for member in self.members for c in member.input_columns()))

    def optional_columns(self) -> list[str]:
        return list(dict.fromkeys(c for member in self.members for c in member.optional_columns()))

    def features(self) -> dict[str, Any]:
        return {
            f"{i}:{name}": feature
            for i, member in enumerate(self.members)
            for name, feature in member.features().items()
        }

    def config(self) -> dict[str, Any]:
        return {"score": self.name, "members": [member.config() for member in self.members]}

    def compute(self, rows: list[dict[str, Any]], log: RowLog) -> list[dict[str, Any]]:
        logs = [RowLog(member, log.indices, log.batched, len(rows)) for member in self.members]
        outputs: list[dict[str, Any]] = [{} for _ in rows]
        for i, (member, member_log, columns) in enumerate(
            zip(self.members, logs, run_together(self.members, rows, logs, self.progress), strict=True)
        ):
            for out, new, error in zip(outputs, columns, member_log.errors, strict=True):
                out.update({f"{i}:{name}": value for name, value in new.items()})
                if member.records_errors:
                    out[f"{i}:{ERROR_COLUMN}"] = error
        return outputs


class TakeColumns:
    """A member's map over the rows a `SharedPass` scored: its columns (and messages), read back by row, exactly
    what its own pass would have returned."""

    def __init__(self, member: Scorer, slot: int, shared: Any) -> None:
        self.member, self.slot, self.shared = member, slot, shared

    def __call__(self, batch: dict[str, Any], indices: list[int]) -> dict[str, Any]:
        taken = self.shared.select(indices).to_dict()
        return {name: taken[f"{self.slot}:{name}"] for name in self.member.features()}


def _reporter(
    progress: Any, owner: list[int], requests: list[ScoringRequest], rows: int, weight: float = 1.0, first: bool = True
):
    """A callback for the engine that moves the progress bar as requests finish (each request is its row's share
    of ``weight``: the part of the rows' work this engine run is, when several run for the same rows)."""
    if progress is None:
        return None
    per_row = np.bincount(owner, minlength=rows)
    share = [weight / per_row[row] for row in owner]
    progress.plan(int((per_row > 0).sum()) if first else 0, sum(len(r.target) for r in requests))

    def done(request_indices: Sequence[int]) -> None:
        progress.advance(sum(share[r] for r in request_indices), sum(len(requests[r].target) for r in request_indices))

    return done


def _unfit(scores: TokenScores, dropped: int) -> TokenScores:
    """Pad a truncated request's results back to full target length with NaN for the unscored tokens."""
    if not dropped:
        return scores
    logprobs = np.concatenate([np.full(dropped, np.nan, dtype=np.float32), scores.logprobs])
    ranks = None if scores.ranks is None else np.concatenate([np.full(dropped, -1), scores.ranks])
    return TokenScores(logprobs, ranks)


def _unscored(feature: Any) -> Any:
    """The value of an unscorable row: NaN for float scores, None (null) otherwise; never a silent 0."""
    return math.nan if isinstance(feature, Value) and feature.dtype.startswith("float") else None


def mean_logprob(logprobs: np.ndarray) -> tuple[float, float, int]:
    """(mean, sum, count) over the scored tokens, in float64; NaN mean when nothing was scored."""
    scored = logprobs[~np.isnan(logprobs)].astype(np.float64)
    if scored.size == 0:
        return math.nan, math.nan, 0
    total = float(scored.sum())
    return total / scored.size, total, int(scored.size)
