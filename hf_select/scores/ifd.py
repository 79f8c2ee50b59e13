"""Instruction-Following Difficulty (Cherry LLM, Li et al., arXiv 2308.12032).

IFD(prompt, response) = s(response | prompt) / s(response): the student's mean token loss (negative log-probability)
on the response given the prompt, over its mean loss on the response alone (after the BOS token, no prompt). Near 1:
the prompt hardly helps the student produce the response; low: the prompt makes the response easy. The paper keeps
the samples with the *highest* IFD (the instructions the student finds hardest to follow, excluding IFD > 1, where
the prompt makes the response less likely); the column records that direction, and selection can take either end
(``higher_is_better=False``), as later work (Superfiltering, low-IFD filtering) does.

Three passes: the conditional loss (the same request as global naturalness: computed once with it when both run),
the unconditional loss (its own requests), and the ratio, from their columns.

Long responses, as Cherry handles them: ``max_tokens=N`` scores the same first N response tokens in both halves
(Cherry truncates to 512), so the ratio compares like with like. ``on_overflow="truncate_left"`` is refused: it
drops the prompt first, the very tokens IFD measures, and a response longer than the model's window then gives two
identical requests and an IFD of exactly 1. Selection keeps IFD <= 1 by default, as the paper does (the column
records the bound, `hf_select.columns.IFD`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from datasets import Value

from hf_select import citations
from hf_select.columns import IFD, Field
from hf_select.config import as_config, option
from hf_select.engine_io import ScoringRequest, TokenScores
from hf_select.errors import ConfigError
from hf_select.formats import Shape
from hf_select.layout import TextRequest
from hf_select.models import ScoringModel
from hf_select.scores.base import OverColumns, Scorer, mean_logprob
from hf_select.scores.naturalness import PromptedParams, response_given_prompt
from hf_select.scoring import CompositeScore, RowLog, configure
from hf_select.version import __version__

EXPLANATION = (
    "Instruction-Following Difficulty (arXiv 2308.12032): the student's mean token loss on the response given the "
    "prompt, divided by its mean loss on the response alone. Near 1: the prompt hardly helps; low: the prompt makes "
    "the response easy. The paper keeps the highest IFD (below 1); low-IFD selection takes the other end."
)


@dataclass(frozen=True)
class IfdParams(PromptedParams):
    max_tokens: int | None = option(
        "Score only the first N response tokens, in both halves (Cherry: 512); default: the whole response.", None
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_tokens is not None and (
            isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) or self.max_tokens < 1
        ):
            raise ConfigError(
                f"max_tokens must be a positive integer (or null for the whole response), not {self.max_tokens!r}"
            )
        if self.on_overflow == "truncate_left":
            raise ConfigError(
                "IFD cannot use on_overflow='truncate_left': it drops the prompt first, so both halves "
                "score the same tokens and IFD is exactly 1. Use max_tokens=512 (the same response "
                "prefix in both halves, as Cherry does) or on_overflow='nan'"
            )


class _ResponsePrefix:
    """Both halves score the response's first ``max_tokens`` tokens (a mixin over a `Scorer`)."""

    params: IfdParams

    def tokenise(self, asked: list[list | None]) -> list[list[ScoringRequest] | None]:
        requests = super().tokenise(asked)  # type: ignore[misc]
        keep = self.params.max_tokens
        if keep is None:
            return requests
        return [
            None if row is None else [ScoringRequest(r.context, list(r.target)[:keep]) for r in row] for row in requests
        ]


class IfdConditional(_ResponsePrefix, Scorer):
    """The response's mean token loss given the prompt (the request global naturalness makes)."""

    name = "ifd_conditional"
    Params = IfdParams
    explanation = (
        "IFD's first half: the student's mean token loss on the response given the prompt (the request "
        "global naturalness makes)."
    )
    fields = {
        "ifd_conditional_loss": Field(
            Value("float64"), "mean token loss (negative log-probability) of the response given the prompt"
        )
    }

    def requests_for(self, row: dict[str, Any]) -> list[TextRequest]:
        return response_given_prompt(self, row)

    def columns_for(
        self, row: dict[str, Any], requests: list[ScoringRequest], results: list[TokenScores]
    ) -> dict[str, Any]:
        return {"ifd_conditional_loss": -mean_logprob(np.concatenate([r.logprobs for r in results]))[0]}


class IfdUnconditional(_ResponsePrefix, Scorer):
    """The response's mean token loss with no prompt: after the BOS token (EOS without one), as IFD defines it."""

    name = "ifd_unconditional"
    Params = IfdParams
    explanation = "IFD's second half: the student's mean token loss on the response alone, with no prompt."
    fields = {
        "ifd_unconditional_loss": Field(Value("float64"), "mean token loss of the response alone, with no prompt")
    }

    def input_columns(self) -> list[str]:
        return self.shape.columns(with_prompt=False)

    def requests_for(self, row: dict[str, Any]) -> list[TextRequest]:
        return [TextRequest("", True, turn.text) for turn in self.shape.read(row, with_prompt=False)]

    def columns_for(
        self, row: dict[str, Any], requests: list[ScoringRequest], results: list[TokenScores]
    ) -> dict[str, Any]:
        return {"ifd_unconditional_loss": -mean_logprob(np.concatenate([r.logprobs for r in results]))[0]}


class IfdRatio(OverColumns):
    """``ifd`` from the two loss columns (NaN where either is)."""

    name = "ifd"
    columns = (IFD,)
    explanation = EXPLANATION
    citation = citations.IFD

    def input_columns(self) -> list[str]:
        return [self.column("ifd_conditional_loss"), self.column("ifd_unconditional_loss")]

    def features(self) -> dict[str, Any]:
        return {self.column("ifd"): Value("float64")}

    def config(self) -> dict[str, Any]:
        return {
            "score": self.name,
            **as_config(self.params),
            "definition": "ifd_conditional_loss / ifd_unconditional_loss",
            "hf_select_version": __version__,
        }

    def compute(self, rows: list[dict[str, Any]], log: RowLog) -> list[dict[str, Any]]:
        out = []
        conditional_column, unconditional_column = self.input_columns()
        for row in rows:
            conditional, unconditional = row[conditional_column], row[unconditional_column]
            ok = all(v is not None and math.isfinite(v) for v in (conditional, unconditional)) and unconditional > 0
            out.append({self.column("ifd"): conditional / unconditional if ok else math.nan})
        return out


class Ifd(CompositeScore):
    """Adds ``ifd``, ``ifd_conditional_loss`` and ``ifd_unconditional_loss`` (see the module docstring)."""

    name = "ifd"
    cli_alias = "ifd"
    Params = IfdParams
    model_roles = ("model",)
    reads_shape = True
    columns = (IFD,)
    explanation = EXPLANATION
    citation = citations.IFD
    params: IfdParams

    def __init__(
        self, model: ScoringModel, params: IfdParams | None = None, *, shape: Shape | None = None, **options: Any
    ) -> None:
        self.shape, self.params = configure(type(self), params, shape, options)
        self.model = model
        common = {
            "shape": self.shape,
            **{
                f: getattr(self.params, f) for f in ("layout", "on_error", "on_overflow", "column_suffix", "max_tokens")
            },
        }
        self.parts = [
            IfdConditional(model, **common),
            IfdUnconditional(model, **common),
            IfdRatio(column_suffix=self.params.column_suffix),
        ]
