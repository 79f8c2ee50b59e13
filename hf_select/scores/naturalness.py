"""Global and local naturalness: how likely the student finds a response, as a whole or step by step.

Global naturalness is the student's mean token log-probability of the whole response given the prompt
(the GRAPE-style baseline). Local naturalness (arXiv 2510.03988, "LALP" in its v2) splits the response
into reasoning steps and scores each step given only the ``window`` steps before it, re-encoded from their
own start; the response's score is the mean of its step scores. Across several teachers and long traces,
the local score keeps tracking downstream quality where the global one stops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from datasets import List, Value

from hf_select import citations
from hf_select.columns import GLOBAL_NATURALNESS, LOCAL_NATURALNESS, Field, Shade
from hf_select.config import option
from hf_select.engine_io import ScoringRequest, TokenScores
from hf_select.errors import ConfigError
from hf_select.layout import Layout, TextRequest, prompt_prefix
from hf_select.scores.base import ScoreParams, Scorer, mean_logprob
from hf_select.steps import describe_splitter, split_steps, splitter_name

LAYOUT_HELP = (
    "How the prompt precedes the response: chat (the student's chat template), plain (prompt + blank "
    "line), auto (chat when the student has a template)."
)


@dataclass(frozen=True)
class PromptedParams(ScoreParams):
    """The parameters of a score whose request is the response given the prompt (`response_given_prompt`)."""

    layout: Layout = option(LAYOUT_HELP, "auto")


GLOBAL_FIELDS = {
    "global_logprob_sum": Field(
        Value("float64"), "sum of the response tokens' log-probabilities (re-normalise as you like)"
    ),
    "global_num_tokens": Field(Value("int64"), "number of response tokens scored"),
}


def response_given_prompt(score: Scorer, row: dict[str, Any]) -> list[TextRequest]:
    """Each scored turn given everything before it, laid out as in supervised fine-tuning (``params.layout``).
    Global naturalness, rank-surprisal and IFD's first half all make this request, so when they run together
    the engine feeds it once (`hf_select.run_scores` shares equal requests)."""
    tokenizer = score.model.tokenizer
    requests = []
    for turn in score.shape.read(row):
        prefix, special = prompt_prefix(tokenizer, turn.context, score.params.layout)
        requests.append(TextRequest(prefix + turn.before, special, turn.text))
    return requests


def global_columns(results: list[TokenScores]) -> dict[str, Any]:
    """The ``global_*`` columns from the results of `response_given_prompt`."""
    mean, total, count = mean_logprob(np.concatenate([r.logprobs for r in results]))
    return {"global_naturalness": mean, "global_logprob_sum": total, "global_num_tokens": count}


class GlobalNaturalness(Scorer):
    """Adds ``global_naturalness`` (mean token log-prob of the response given the prompt),
    ``global_logprob_sum`` and ``global_num_tokens`` (so you can re-normalise)."""

    name = "global_naturalness"
    cli_alias = "global"
    Params = PromptedParams
    columns = (GLOBAL_NATURALNESS,)
    explanation = (
        "The student's mean log-probability of each response token given the prompt, laid out as in supervised "
        "fine-tuning. Higher means the student finds the whole response more natural. Across many teachers and "
        "long traces it favours short, simple responses (the baseline that local naturalness improves on)."
    )
    fields = GLOBAL_FIELDS
    params: PromptedParams

    def requests_for(self, row: dict[str, Any]) -> list[TextRequest]:
        return response_given_prompt(self, row)

    def columns_for(
        self, row: dict[str, Any], requests: list[ScoringRequest], results: list[TokenScores]
    ) -> dict[str, Any]:
        return global_columns(results)


@dataclass(frozen=True)
class LocalNaturalnessParams(ScoreParams):
    window: int = option("Steps of context before each step (re-encoded from their own start; 0: none).", 2)
    include_prompt: bool = option("Condition every step on the prompt too (the paper: no).", False)
    splitter: str | Callable[[str], Sequence[tuple[int, int]]] = option(
        "How a response is split into steps: paragraph, sentence (sentences and every line break), line, aslec (after "
        "every '. ' and '? '), or a function text -> spans.",
        "paragraph",
        describe=splitter_name,
    )
    max_step_tokens: int | None = option(
        "paragraph splitter: paragraphs longer than this many (approximate) tokens "
        "are split into sentences; default 80.",
        None,
    )
    layout: Layout | None = option(f"With include_prompt: {LAYOUT_HELP} Default auto.", None)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.window < 0:
            raise ConfigError(f"window must be a non-negative integer (steps of context), not {self.window!r}")
        if self.max_step_tokens is not None and self.splitter != "paragraph":
            raise ConfigError(f"max_step_tokens applies to the paragraph splitter only, not to {self.splitter!r}")
        if self.layout is not None and not self.include_prompt:
            raise ConfigError("layout applies with include_prompt=True only: without the prompt nothing is laid out")
        if self.splitter == "paragraph" and self.max_step_tokens is None:
            object.__setattr__(self, "max_step_tokens", 80)
        if self.include_prompt and self.layout is None:
            object.__setattr__(self, "layout", "auto")
        # a bad splitter or cap fails here, not on row one (0 is a value, not "unset": `or 80` once hid it)
        describe_splitter(self.splitter, 80 if self.max_step_tokens is None else self.max_step_tokens)


class LocalNaturalness(Scorer):
    """Adds ``local_naturalness`` (mean over steps of each step's mean token log-prob given only the
    previous ``window`` steps), ``local_step_scores`` (one float per step) and ``local_num_steps``.

    Steps come from `hf_select.split_steps` with ``splitter`` (default: paragraphs, long ones split into
    sentences). Step 0 is conditioned on the BOS token alone, or on the prompt with ``include_prompt=True``.
    """

    name = "local_naturalness"
    cli_alias = "local"
    Params = LocalNaturalnessParams
    columns = (LOCAL_NATURALNESS,)
    explanation = (
        "The response is split into short reasoning steps; each step is scored by the student's mean token "
        "log-probability given only the few steps before it (re-encoded from their own start), and the response's "
        "score is the mean over steps (arXiv 2510.03988). Higher is better; it keeps tracking downstream quality "
        "when responses come from several teachers and get long."
    )
    citation = citations.LOCAL_NATURALNESS
    fields = {
        "local_step_scores": Field(
            List(Value("float64")), "each reasoning step's mean token log-probability, in order"
        ),
        "local_step_spans": Field(
            List(List(Value("int64"))),
            "each step's [turn, start, end]: its characters in the scored text of that scored turn (0: the first)",
        ),
        "local_num_steps": Field(Value("int64"), "number of reasoning steps the response was split into"),
    }
    shades = (
        Shade(
            "steps",
            "local_step_spans",
            "local_step_scores",
            "local naturalness of each step (mean token log-prob; low: unnatural)",
            "step",
        ),
    )
    params: LocalNaturalnessParams

    def input_columns(self) -> list[str]:
        return self.shape.columns(with_prompt=self.params.include_prompt)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """The reasoning steps of a text, as this score splits them: (start, end) of each."""
        p = self.params
        return split_steps(text, p.splitter, max_step_tokens=p.max_step_tokens or 80)

    def steps(self, text: str) -> list[str]:
        """The reasoning steps of a text, as this score splits them."""
        return [text[s:e] for s, e in self.spans(text)]

    def requests_for(self, row: dict[str, Any]) -> list[TextRequest]:
        """Each step of each scored turn, given only the ``window`` steps before it in that turn (and the prompt
        with ``include_prompt``)."""
        tokenizer, p = self.model.tokenizer, self.params
        requests = []
        for turn in self.shape.read(row, with_prompt=p.include_prompt):
            prefix, special = prompt_prefix(tokenizer, turn.context, p.layout) if p.include_prompt else ("", True)
            steps = self.steps(turn.text)
            requests += [
                TextRequest(prefix + "".join(steps[max(0, i - p.window) : i]), special, step)
                for i, step in enumerate(steps)
            ]
        return requests

    def columns_for(
        self, row: dict[str, Any], requests: list[ScoringRequest], results: list[TokenScores]
    ) -> dict[str, Any]:
        step_scores = [mean_logprob(r.logprobs)[0] for r in results]
        spans = [
            [turn, start, end]
            for turn, scored in enumerate(self.shape.read(row, with_prompt=False))
            for start, end in self.spans(scored.text)
        ]
        return {
            "local_naturalness": mean_logprob(np.asarray(step_scores))[0],
            "local_step_scores": step_scores,
            "local_step_spans": spans,
            "local_num_steps": len(step_scores),
        }
