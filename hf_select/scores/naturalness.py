"""Global and local naturalness: how likely the student finds a response, as a whole or step by step.

Global naturalness is the student's mean token log-probability of the whole response given the prompt
(the GRAPE-style baseline). Local naturalness (arXiv 2510.03988, "LALP" in its v2) splits the response
into reasoning steps and scores each step given only the ``window`` steps before it, re-encoded from their
own start; the response's score is the mean of its step scores. Across several teachers and long traces,
the local score keeps tracking downstream quality where the global one stops.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from datasets import List, Value

from hf_select import citations
from hf_select.columns import GLOBAL_NATURALNESS, LOCAL_NATURALNESS
from hf_select.engine import ScoringRequest, TokenScores
from hf_select.errors import ConfigError
from hf_select.formats import Format, Part, RowReader, Turns
from hf_select.layout import Layout, check_layout, encode_context, encode_target, prompt_prefix
from hf_select.models import ScoringModel
from hf_select.scores.base import OnError, OnOverflow, Scorer, mean_logprob
from hf_select.steps import Splitter, describe_splitter, split_steps


class GlobalNaturalness(Scorer):
    """Adds ``global_naturalness`` (mean token log-prob of the response given the prompt),
    ``global_logprob_sum`` and ``global_num_tokens`` (so you can re-normalise)."""

    name = "global_naturalness"
    cli_alias = "global"
    columns = (GLOBAL_NATURALNESS,)
    explanation = (
        "The student's mean log-probability of each response token given the prompt, laid out as in supervised "
        "fine-tuning. Higher means the student finds the whole response more natural. Across many teachers and "
        "long traces it favours short, simple responses (the baseline that local naturalness improves on).")
    fields = {"global_logprob_sum": "sum of the response tokens' log-probabilities (re-normalise as you like)",
              "global_num_tokens": "number of response tokens scored"}

    def __init__(self, model: ScoringModel, *, prompt_column: str | None = None, response_column: str | None = None,
                 format: Format = "text", turns: Turns = "last", part: Part = "all", layout: Layout = "auto",
                 on_error: OnError = "raise", on_overflow: OnOverflow = "error", column_suffix: str | None = None):
        super().__init__(model, on_error=on_error, on_overflow=on_overflow, column_suffix=column_suffix)
        self.reader = RowReader(format, prompt_column, response_column, turns, part)
        self.prompt_column, self.response_column = self.reader.prompt_column, self.reader.response_column
        self.layout = check_layout(layout)

    def input_columns(self) -> list[str]:
        return self.reader.columns()

    def output_features(self) -> dict[str, Any]:
        return {"global_naturalness": Value("float64"), "global_logprob_sum": Value("float64"),
                "global_num_tokens": Value("int64")}

    def score_config(self) -> dict[str, Any]:
        return {**self.reader.config(), "layout": self.layout}

    def requests_for(self, row: dict[str, Any]) -> list[ScoringRequest]:
        tokenizer = self.model.tokenizer
        requests = []
        for turn in self.reader.read(row):
            prefix, special = prompt_prefix(tokenizer, turn.context, self.layout)
            requests.append(ScoringRequest(encode_context(tokenizer, prefix + turn.before, special),
                                           encode_target(tokenizer, turn.text)))
        return requests

    def columns_for(self, row: dict[str, Any], requests: list[ScoringRequest],
                    results: list[TokenScores]) -> dict[str, Any]:
        mean, total, count = mean_logprob(np.concatenate([r.logprobs for r in results]))
        return {"global_naturalness": mean, "global_logprob_sum": total, "global_num_tokens": count}


class LocalNaturalness(Scorer):
    """Adds ``local_naturalness`` (mean over steps of each step's mean token log-prob given only the
    previous ``window`` steps), ``local_step_scores`` (one float per step) and ``local_num_steps``.

    Steps come from `hf_select.split_steps` with ``splitter`` (default: paragraphs, long ones split into
    sentences). Step 0 is conditioned on the BOS token alone, or on the prompt with ``include_prompt=True``.
    """

    name = "local_naturalness"
    cli_alias = "local"
    columns = (LOCAL_NATURALNESS,)
    explanation = (
        "The response is split into short reasoning steps; each step is scored by the student's mean token "
        "log-probability given only the few steps before it (re-encoded from their own start), and the response's "
        "score is the mean over steps (arXiv 2510.03988). Higher is better; it keeps tracking downstream quality "
        "when responses come from several teachers and get long.")
    citation = citations.LOCAL_NATURALNESS
    fields = {"local_step_scores": "each reasoning step's mean token log-probability, in order",
              "local_num_steps": "number of reasoning steps the response was split into"}

    def __init__(self, model: ScoringModel, *, response_column: str | None = None, window: int = 2,
                 include_prompt: bool = False, prompt_column: str | None = None, splitter: Splitter = "paragraph",
                 max_step_tokens: int = 80, format: Format = "text", turns: Turns = "last", part: Part = "all",
                 layout: Layout = "auto", on_error: OnError = "raise", on_overflow: OnOverflow = "error",
                 column_suffix: str | None = None):
        super().__init__(model, on_error=on_error, on_overflow=on_overflow, column_suffix=column_suffix)
        if isinstance(window, bool) or not isinstance(window, int) or window < 0:
            raise ConfigError(f"window must be a non-negative integer (steps of context), not {window!r}")
        self.reader = RowReader(format, prompt_column, response_column, turns, part)
        self.prompt_column, self.response_column = self.reader.prompt_column, self.reader.response_column
        self.window, self.include_prompt = window, include_prompt
        self.splitter, self.max_step_tokens = splitter, max_step_tokens
        self.layout = check_layout(layout)
        describe_splitter(splitter, max_step_tokens)  # a bad splitter fails here, not on the first row

    def input_columns(self) -> list[str]:
        return self.reader.columns(with_prompt=self.include_prompt)

    def output_features(self) -> dict[str, Any]:
        return {"local_naturalness": Value("float64"), "local_step_scores": List(Value("float64")),
                "local_num_steps": Value("int64")}

    def score_config(self) -> dict[str, Any]:
        config = {**self.reader.config(), "window": self.window, "include_prompt": self.include_prompt,
                  "splitter": describe_splitter(self.splitter, self.max_step_tokens)}
        if self.include_prompt:
            config["layout"] = self.layout
        else:
            config.pop("prompt_column")
        return config

    def requests_for(self, row: dict[str, Any]) -> list[ScoringRequest]:
        """Each step of each scored turn, given only the ``window`` steps before it in that turn (and the prompt
        with ``include_prompt``)."""
        tokenizer = self.model.tokenizer
        requests = []
        for turn in self.reader.read(row, with_prompt=self.include_prompt):
            prefix, special = prompt_prefix(tokenizer, turn.context, self.layout) if self.include_prompt else ("", True)
            text = turn.text
            steps = [text[s:e] for s, e in split_steps(text, self.splitter, max_step_tokens=self.max_step_tokens)]
            requests += [ScoringRequest(encode_context(tokenizer, prefix + "".join(steps[max(0, i - self.window):i]),
                                                       special), encode_target(tokenizer, step))
                         for i, step in enumerate(steps)]
        return requests

    def columns_for(self, row: dict[str, Any], requests: list[ScoringRequest],
                    results: list[TokenScores]) -> dict[str, Any]:
        step_scores = [mean_logprob(r.logprobs)[0] for r in results]
        return {"local_naturalness": mean_logprob(np.asarray(step_scores))[0], "local_step_scores": step_scores,
                "local_num_steps": len(step_scores)}
