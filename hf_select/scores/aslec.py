"""ASLEC: naturalness corrected for step length (Wang et al., "On the Step Length Confounding in LLM Reasoning Data
Selection", arXiv 2604.06834, ACL 2026).

Averaging a response's token log-probabilities favours long reasoning steps: the first token of a step, where the
reasoning branches, is the least likely, and a long step dilutes it. Both corrections start from the student's
log-probabilities of the response given the prompt (the request global naturalness makes: one forward pass for
both when they run together), with each token in the reasoning step that holds its first non-whitespace character:

- ASLEC-DROP, ``aslec_drop``: the mean log-probability of every token but the first ``skip_tokens`` of each step;
- ASLEC-CASL, ``aslec_casl``: the mean log-probability of all tokens minus gamma * F, F being the share of
  step-initial tokens and gamma its coefficient in a least-squares regression of the mean on the mean of the
  step-initial tokens, the mean of the other tokens and F, with an intercept. As the authors' code does
  (``merge_cal_limo_ours.py``), the regression is fitted **per teacher** (``gamma="per_teacher"``, the default:
  each teacher's step-length habit is its own) and teachers are merged only to pick per question;
  ``gamma="pooled"`` fits one over the split. The fit is a second pass over the scored columns (no model), the
  same to the last bit in any row order (rows are sorted before the fit); its inputs, like every score, agree across
  batch sizes to float precision.

Where the authors' public code and the paper differ, the choice is a parameter. Steps: the authors' split by
default (``splitter="aslec"``: a step ends after every ". " and "? ", nothing else; 3.4 steps per bundled
response), since the regression and the dropped tokens are defined on their steps; ``"sentence"`` also cuts at
every line break, "!" and "..." (7.1 steps per bundled response: twice the step-initial tokens). Skipped tokens:
the paper drops each step's *first* token (``skip_tokens=1``, the default); the code's driver skips 2. The code
fits an intercept and subtracts only gamma * F, as here; a constant would change no ranking anyway.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np
from datasets import Value

from hf_select import citations
from hf_select.columns import ASLEC_CASL, ASLEC_DROP, ERROR_COLUMN, Field
from hf_select.config import as_config, option
from hf_select.engine_io import ScoringRequest, TokenScores
from hf_select.errors import Arg, ConfigError, ScoringInputError, WrongTypeError
from hf_select.formats import Shape
from hf_select.layout import encode_context, prompt_prefix, token_owners
from hf_select.models import ScoringModel
from hf_select.scores.base import OverColumns, Scorer
from hf_select.scores.naturalness import PromptedParams
from hf_select.scoring import CompositeScore, RowLog, SuffixParams, configure
from hf_select.steps import describe_splitter, split_steps, splitter_name
from hf_select.version import __version__

EXPLANATION = (
    "ASLEC (arXiv 2604.06834): naturalness corrected for step length. Averaged token log-probabilities favour long "
    "reasoning steps, because each step's first token is the least likely and long steps dilute it. `aslec_drop` "
    "averages every token but the first of each step; `aslec_casl` removes the effect of the share of step-initial "
    "tokens with a least-squares fit. As in the authors' code, steps end after '. ' and '? ' (splitter `aslec`) "
    "and the fit is made per teacher (gamma `per_teacher`; `pooled` fits one over the split); the parameters "
    "below say which were used here."
)
PARTS = ("aslec_mean", "aslec_rest_mean", "aslec_first_mean", "aslec_first_share")  # what the regression reads


@dataclass(frozen=True)
class AslecStepParams(PromptedParams):
    """What the model pass needs (a change here recomputes the forward pass; the fit's options do not)."""

    splitter: str | Callable[[str], Sequence[tuple[int, int]]] = option(
        "How a response is split into reasoning steps: aslec (the authors' code: after every '. ' and '? '), "
        "sentence (sentences and every line break), paragraph, line, or a function text -> spans.",
        "aslec",
        describe=splitter_name,
    )
    skip_tokens: int = option(
        "Tokens at the start of each step left out by ASLEC-DROP and counted as step-initial "
        "by ASLEC-CASL (the paper: the first token, 1; the authors' code: 2).",
        1,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.skip_tokens, bool) or not isinstance(self.skip_tokens, int) or self.skip_tokens < 1:
            raise ConfigError(f"skip_tokens must be a positive integer, not {self.skip_tokens!r}")
        describe_splitter(self.splitter)


@dataclass(frozen=True)
class CaslParams(SuffixParams):
    gamma: Literal["per_teacher", "pooled"] = option(
        "ASLEC-CASL's regression: per_teacher (the authors' code: one fit per teacher) or pooled (one over the split).",
        "per_teacher",
    )
    teacher_column: str | None = option(
        "The column naming each response's teacher, for gamma='per_teacher' "
        "(default: `teacher` when the data has it; without one the split is one "
        "group).",
        None,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.gamma not in ("per_teacher", "pooled"):
            raise ConfigError(f"gamma must be 'per_teacher' or 'pooled', not {self.gamma!r}")
        if self.teacher_column is not None and self.gamma == "pooled":
            raise ConfigError("teacher_column applies to gamma='per_teacher' only (a pooled fit reads no teacher)")


@dataclass(frozen=True)
class AslecParams(AslecStepParams, CaslParams):
    """Every option of the score: the model pass's and the fit's."""


@dataclass(frozen=True, eq=False)
class StepRequest(ScoringRequest):
    """A request for a response that also knows the reasoning step of each of its tokens."""

    step_of_token: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


class AslecSteps(Scorer):
    """The model pass: the response's token log-probabilities given the prompt, summarised by step position."""

    name = "aslec_steps"
    Params = AslecStepParams
    explanation = (
        "ASLEC's model pass: the student's log-probability of each response token given the prompt, "
        "averaged apart for each step's first token(s) and the rest; `aslec_drop` is the mean of the rest."
    )
    columns = (ASLEC_DROP,)
    fields = {
        "aslec_mean": Field(Value("float64"), "mean log-probability of all the response's tokens"),
        "aslec_rest_mean": Field(Value("float64"), "mean log-probability of the tokens after each step's first"),
        "aslec_first_mean": Field(Value("float64"), "mean log-probability of each step's first token(s)"),
        "aslec_first_share": Field(Value("float64"), "share of the response's tokens that start a step"),
        "aslec_num_steps": Field(Value("int64"), "number of reasoning steps"),
        "aslec_num_tokens": Field(Value("int64"), "number of response tokens scored"),
    }
    params: AslecStepParams

    def requests_for(self, row: dict[str, Any]) -> list[ScoringRequest]:
        tokenizer = self.model.tokenizer
        requests = []
        for turn in self.shape.read(row):
            prefix, special = prompt_prefix(tokenizer, turn.context, self.params.layout)
            encoded = tokenizer(turn.text, add_special_tokens=False, return_offsets_mapping=True)
            owners = token_owners(turn.text, encoded["offset_mapping"], split_steps(turn.text, self.params.splitter))
            requests.append(
                StepRequest(
                    encode_context(tokenizer, prefix + turn.before, special), list(encoded["input_ids"]), owners
                )
            )
        if requests and all(_step_initial(r.step_of_token, self.params.skip_tokens).all() for r in requests):
            tokens = sum(len(r.step_of_token) for r in requests)
            raise ScoringInputError(
                self.shape.response_column,
                (
                    f"every token of the reply ({tokens}) is among the first {self.params.skip_tokens} of its step: "
                    "ASLEC-DROP, the mean of the other tokens, has none to average. Drop the row or pass "
                ),
                Arg("on_error", "nan"),
                ".",
            )
        return requests

    def columns_for(
        self, row: dict[str, Any], requests: list[ScoringRequest], results: list[TokenScores]
    ) -> dict[str, Any]:
        logprobs = np.concatenate([r.logprobs for r in results]).astype(np.float64)
        first = np.concatenate([_step_initial(r.step_of_token, self.params.skip_tokens) for r in requests])
        scored = ~np.isnan(logprobs)
        steps = sum(len(np.unique(r.step_of_token)) for r in requests)
        rest = _mean(logprobs[scored & ~first])
        return {
            "aslec_drop": rest,
            "aslec_mean": _mean(logprobs[scored]),
            "aslec_rest_mean": rest,
            "aslec_first_mean": _mean(logprobs[scored & first]),
            "aslec_first_share": float((scored & first).sum() / scored.sum()) if scored.any() else math.nan,
            "aslec_num_steps": steps,
            "aslec_num_tokens": int(scored.sum()),
        }


def _step_initial(owners: np.ndarray, skip: int) -> np.ndarray:
    """Whether each token is among the first ``skip`` tokens of its step (tokens come in text order)."""
    if not len(owners):
        return np.zeros(0, dtype=bool)
    starts = np.r_[0, np.flatnonzero(owners[1:] != owners[:-1]) + 1]
    first_of_step = np.repeat(starts, np.diff(np.r_[starts, len(owners)]))
    return np.arange(len(owners)) - first_of_step < skip


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else math.nan


class AslecCasl(OverColumns):
    """The pool-level pass: fits the regression (`prepare`: per teacher, or over the split), then ``aslec_casl``."""

    name = "aslec"
    Params = CaslParams
    columns = (ASLEC_CASL,)
    explanation = EXPLANATION
    citation = citations.ASLEC
    pooled = True
    MIN_ROWS = 5  # fewer rows than this cannot fit four coefficients with any confidence
    POOL = "all rows"  # the fit's name when the split is one group
    params: CaslParams

    def __init__(self, params: CaslParams | None = None, **options: Any) -> None:
        super().__init__(params, **options)
        self.fit: dict[str, dict[str, float]] | None = None
        self.teacher: str | None = None  # the teacher column the fit read, once `prepare` has seen the data

    def input_columns(self) -> list[str]:
        return [self.column(c) for c in PARTS] + ([self.params.teacher_column] if self.params.teacher_column else [])

    def optional_columns(self) -> list[str]:
        return ["teacher"] if self.params.gamma == "per_teacher" and self.params.teacher_column is None else []

    @property
    def records_errors(self) -> bool:
        return self.params.on_error == "nan"

    def features(self) -> dict[str, Any]:
        return {
            self.column("aslec_casl"): Value("float64"),
            **({ERROR_COLUMN: Value("string")} if self.records_errors else {}),
        }

    def prepare(self, ds: Any) -> None:
        """Fit the regression on every row of the split (rows with a NaN part are left out), per teacher or over
        the split. Rows are sorted first, so the coefficients are the same whatever the row order. A group with
        fewer than `MIN_ROWS` usable rows cannot be fitted: an error before any row is written, or, with
        ``on_error="nan"``, NaN for its rows and the reason in ``hf_select_error``."""
        from datasets import Dataset

        if not isinstance(ds, Dataset):
            raise WrongTypeError(
                "ASLEC-CASL fits a regression over the whole split: score a Dataset, not a stream "
                "(materialise it first)"
            )
        parts = np.column_stack([np.asarray(ds[c], dtype=np.float64) for c in self.input_columns()[: len(PARTS)]])
        self.teacher = self._teacher_column(ds.column_names)
        groups = [str(t) for t in ds[self.teacher]] if self.teacher else [self.POOL] * len(ds)
        self.fit = {}
        for name in sorted(set(groups)):
            self.fit[name] = casl_fit(parts[np.array([g == name for g in groups])])
            if self.fit[name]["rows"] < self.MIN_ROWS and self.params.on_error == "raise":
                who = f"teacher {name!r}" if self.teacher else "the split"
                raise ScoringInputError(
                    self.column("aslec_casl"),
                    (
                        f"ASLEC-CASL fits gamma on at least {self.MIN_ROWS} scored rows, and {who} has "
                        f"{self.fit[name]['rows']}. "
                    )
                    + ("Fit one gamma over the split with " if self.teacher else "Score more rows, or pass "),
                    *((Arg("gamma", "pooled"), ", or pass ") if self.teacher else ()),
                    Arg("on_error", "nan"),
                    " (NaN for those rows, with the reason).",
                )

    def _teacher_column(self, columns: list[str]) -> str | None:
        if self.params.gamma == "pooled":
            return None
        return self.params.teacher_column or ("teacher" if "teacher" in columns else None)

    def config(self) -> dict[str, Any]:
        return {
            "score": self.name,
            **as_config(self.params),
            "regression": "mean ~ rest_mean + first_mean + "
            "first_share + intercept, per teacher or over the split; aslec_casl = mean - gamma * first_share",
            "fitted_per": self.teacher or ("split" if self.fit is not None else None),
            "fit": self.fit,
            "hf_select_version": __version__,
        }

    def compute(self, rows: list[dict[str, Any]], log: RowLog) -> list[dict[str, Any]]:
        if self.fit is None:
            raise ConfigError(
                "ASLEC-CASL is fitted over the whole split: run it with hf_select.score (or call "
                "prepare(ds) first), not Dataset.map alone"
            )
        mean, share, out = self.column("aslec_mean"), self.column("aslec_first_share"), []
        for i, row in enumerate(rows):
            fit = self.fit[str(row[self.teacher]) if self.teacher else self.POOL]
            value = math.nan
            if fit["rows"] < self.MIN_ROWS:
                log.attempt(i, lambda fit=fit: _too_few(self.column("aslec_casl"), fit["rows"], self.MIN_ROWS))
            elif row[mean] is not None and row[share] is not None:
                value = row[mean] - fit["gamma"] * row[share]
            out.append({self.column("aslec_casl"): value})
        return out


def _too_few(column: str, rows: int, needed: int) -> None:
    raise ScoringInputError(
        column, f"ASLEC-CASL could not fit gamma: this row's group has {rows} scored rows, and the fit needs {needed}"
    )


def casl_fit(parts: np.ndarray) -> dict[str, float]:
    """Least squares of the mean on (rest mean, first mean, first share, 1) over rows of ``PARTS`` without NaN,
    sorted first (order-free to the last bit). NaN coefficients below `AslecCasl.MIN_ROWS` usable rows."""
    usable = parts[np.isfinite(parts).all(axis=1)]
    usable = usable[np.lexsort(usable.T[::-1])]
    if len(usable) < AslecCasl.MIN_ROWS:
        return {
            "beta_rest": math.nan,
            "beta_first": math.nan,
            "gamma": math.nan,
            "intercept": math.nan,
            "rows": int(len(usable)),
        }
    design = np.column_stack([usable[:, 1], usable[:, 2], usable[:, 3], np.ones(len(usable))])
    coef, *_ = np.linalg.lstsq(design, usable[:, 0], rcond=None)
    return {
        "beta_rest": float(coef[0]),
        "beta_first": float(coef[1]),
        "gamma": float(coef[2]),
        "intercept": float(coef[3]),
        "rows": int(len(usable)),
    }


class Aslec(CompositeScore):
    """Adds ``aslec_drop`` and ``aslec_casl`` and the parts they come from (see the module docstring)."""

    name = "aslec"
    cli_alias = "aslec"
    Params = AslecParams
    model_roles = ("model",)
    reads_shape = True
    columns = (ASLEC_DROP, ASLEC_CASL)
    explanation = EXPLANATION
    citation = citations.ASLEC
    params: AslecParams

    def __init__(
        self, model: ScoringModel, params: AslecParams | None = None, *, shape: Shape | None = None, **options: Any
    ) -> None:
        self.shape, self.params = configure(type(self), params, shape, options)
        self.model = model
        steps = AslecSteps(
            model,
            AslecStepParams(**{f.name: getattr(self.params, f.name) for f in fields(AslecStepParams)}),
            shape=self.shape,
        )
        self.parts = [
            steps,
            AslecCasl(
                column_suffix=self.params.column_suffix,
                gamma=self.params.gamma,
                teacher_column=self.params.teacher_column,
                on_error=self.params.on_error,
            ),
        ]
