"""Provenance tracing (Liu et al., "Where Did This Sentence Come From?", arXiv 2512.20908).

For every sentence of a response, compare the log-probability the teacher, the original student and
(optionally) a distilled student assign to it under the same context, sort the sentence by origin, and
measure the row's teacher-student divergence.

How the numbers stay comparable across tokenizers: each model runs one forward pass over prompt +
response with its own tokenizer, and each response token is attributed to the sentence that holds its
first non-whitespace character (a whitespace-only token to the sentence holding its first character).
A sentence's log-probability is the sum over its tokens, i.e. the log-probability of its text given the
prompt and all previous text: a property of the text, not of the tokenisation. Per-token averages are
not comparable across vocabularies; per-character ones are, which is what the categories use.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from datasets import List, Value

from hf_select import citations
from hf_select.columns import PROV_DIVERGENCE, PROV_TEACHER_FRACTION
from hf_select.engine import ScoringRequest, TokenScores
from hf_select.errors import ConfigError
from hf_select.formats import Format, Part, RowReader
from hf_select.layout import Layout, check_layout, encode_context, prompt_prefix
from hf_select.models import ScoringModel
from hf_select.scores.base import OnError, OnOverflow, Scorer
from hf_select.scoring import MapPass
from hf_select.steps import Splitter, describe_splitter, split_steps
from hf_select.version import __version__

TEACHER, STUDENT, PRE_EXISTING, BOOSTED = "teacher_originated", "student_originated", "pre_existing", "boosted"
CATEGORY_RULE = (
    "Per sentence, with t, s, d the teacher's, student's and distilled model's log-probability per character "
    "and m the margin: teacher_originated if t - s > m; student_originated if s - t > m; otherwise "
    "pre_existing, or boosted when a distilled model is given and d - max(t, s) > m."
)


@dataclass(frozen=True, eq=False)
class AttributedRequest(ScoringRequest):
    """A request over a whole response that also knows its sentences and which sentence owns each token."""

    spans: list[tuple[int, int]] = field(default_factory=list)
    sentence_of_token: np.ndarray | None = None


def attribute_tokens(text: str, offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> np.ndarray:
    """Sentence index of each token: the sentence holding the token's first non-whitespace character."""
    starts = [start for start, _ in spans]
    owners = np.empty(len(offsets), dtype=np.int64)
    for i, (start, end) in enumerate(offsets):
        piece = text[start:end]
        anchor = start + (len(piece) - len(piece.lstrip())) if piece.strip() else start
        owners[i] = max(0, bisect.bisect_right(starts, min(anchor, len(text) - 1)) - 1)
    return owners


class SentenceLogprobs(Scorer):
    """One model's pass for provenance: adds ``prov_logprob_<role>`` (each sentence's total log-prob given
    the prompt and all previous text), plus ``prov_sentence_spans`` and ``prov_sentence_chars``."""

    explanation = (
        "One forward pass of this model over prompt + response with its own tokenizer; each token is attributed "
        "to the sentence holding its first non-whitespace character, and a sentence's log-probability is the sum "
        "over its tokens (comparable across tokenizers).")
    fields = {"prov_sentence_spans": "[start, end) character span of each sentence of the response",
              "prov_sentence_chars": "number of characters of each sentence",
              **{f"prov_logprob_{role}": f"each sentence's total log-probability under the {role} model, given the "
                 "prompt and all previous text" for role in ("teacher", "student", "distilled")}}

    def __init__(self, model: ScoringModel, role: str, *, response_column: str | None = None,
                 prompt_column: str | None = None, format: Format = "text", part: Part = "all",
                 splitter: Splitter = "sentence", layout: Layout = "auto", on_error: OnError = "raise",
                 on_overflow: OnOverflow = "error"):
        super().__init__(model, on_error=on_error, on_overflow=on_overflow)
        self.reader = RowReader(format, prompt_column, response_column, "last", part)  # one turn: sentence spans
        self.role = role
        self.response_column, self.prompt_column = self.reader.response_column, self.reader.prompt_column
        self.splitter, self.layout = splitter, check_layout(layout)
        self.name = f"provenance_{role}"
        describe_splitter(splitter)

    def input_columns(self) -> list[str]:
        return self.reader.columns()

    def output_features(self) -> dict[str, Any]:
        return {"prov_sentence_spans": List(List(Value("int64"))), "prov_sentence_chars": List(Value("int64")),
                f"prov_logprob_{self.role}": List(Value("float64"))}

    def score_config(self) -> dict[str, Any]:
        return {"role": self.role, **self.reader.config(), "splitter": describe_splitter(self.splitter),
                "layout": self.layout,
                "attribution": "token -> sentence holding its first non-whitespace character"}

    def requests_for(self, row: dict[str, Any]) -> list[ScoringRequest]:
        (turn,) = self.reader.read(row)
        tokenizer = self.model.tokenizer
        prefix, special = prompt_prefix(tokenizer, turn.context, self.layout)
        encoded = tokenizer(turn.text, add_special_tokens=False, return_offsets_mapping=True)
        spans = split_steps(turn.text, self.splitter)
        owners = attribute_tokens(turn.text, encoded["offset_mapping"], spans)
        context = encode_context(tokenizer, prefix + turn.before, special)
        return [AttributedRequest(context, list(encoded["input_ids"]), spans, owners)]

    def columns_for(self, row: dict[str, Any], requests: list[ScoringRequest],
                    results: list[TokenScores]) -> dict[str, Any]:
        spans, owners = requests[0].spans, requests[0].sentence_of_token
        logprobs = results[0].logprobs.astype(np.float64)
        sums = np.zeros(len(spans))
        np.add.at(sums, owners, logprobs)  # NaN (a token dropped by truncation) makes its sentence NaN
        sums[np.bincount(owners, minlength=len(spans)) == 0] = math.nan  # owns no token: text shared with a neighbour
        return {"prov_sentence_spans": [list(s) for s in spans],
                "prov_sentence_chars": [end - start for start, end in spans],
                f"prov_logprob_{self.role}": sums.tolist()}


def categorize(teacher: np.ndarray, student: np.ndarray, distilled: np.ndarray | None, margin: float) -> list:
    """Category per sentence from per-character log-probs (see `CATEGORY_RULE`); None where one is NaN."""
    out: list[str | None] = []
    for i, (t, s) in enumerate(zip(teacher, student, strict=True)):
        d = None if distilled is None else distilled[i]
        if math.isnan(t) or math.isnan(s) or (d is not None and math.isnan(d)):
            out.append(None)
        elif t - s > margin:
            out.append(TEACHER)
        elif s - t > margin:
            out.append(STUDENT)
        elif d is not None and d - max(t, s) > margin:
            out.append(BOOSTED)
        else:
            out.append(PRE_EXISTING)
    return out


EXPLANATION = (
    "Provenance tracing (arXiv 2512.20908): each sentence is classified by comparing the per-character "
    "log-probabilities the teacher, the student (and a distilled student) give it under the same context. "
    "`prov_divergence` is the mean teacher-minus-student difference: content the teacher finds much likelier "
    "than the student does.")


class ProvenanceCategories(MapPass):
    """The model-free last pass: categories, per-row fractions and teacher-student divergence from the
    ``prov_logprob_*`` columns. ``prov_divergence`` is the mean over sentences of the per-character
    log-prob difference teacher - student (higher: content the teacher finds likelier than the student)."""

    name = "provenance"
    columns = (PROV_DIVERGENCE, PROV_TEACHER_FRACTION)
    explanation = EXPLANATION
    citation = citations.PROVENANCE
    fields = {"prov_category": "origin category of each sentence (null where a model could not score it)",
              **{f"prov_frac_{c}": f"share of the response's sentences in category {c}"
                 for c in (TEACHER, STUDENT, PRE_EXISTING, BOOSTED)}}

    def __init__(self, margin: float = 0.1, with_distilled: bool = False):
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not math.isfinite(margin) or margin < 0:
            raise ConfigError(f"margin must be a non-negative number (nats per character), not {margin!r}")
        self.margin, self.with_distilled = float(margin), with_distilled

    @property
    def categories(self) -> list[str]:
        return [TEACHER, STUDENT, PRE_EXISTING] + ([BOOSTED] if self.with_distilled else [])

    def features(self) -> dict[str, Any]:
        return {"prov_category": List(Value("string")), "prov_divergence": Value("float64"),
                **{f"prov_frac_{c}": Value("float64") for c in self.categories}}

    def config(self) -> dict[str, Any]:
        return {"score": self.name, "margin": self.margin, "with_distilled": self.with_distilled,
                "rule": CATEGORY_RULE, "hf_select_version": __version__}

    def input_columns(self) -> list[str]:
        return ["prov_sentence_chars"]

    def describe(self) -> str:
        return f"provenance categories (margin {self.margin})"

    def __call__(self, batch: dict[str, Any], indices=None) -> dict[str, Any]:
        chars = batch["prov_sentence_chars"]  # a row: list of ints (or None); a batch: list of those
        single = chars is None or (len(chars) > 0 and isinstance(chars[0], int))
        keys = [k for k in batch if k.startswith("prov_")]
        rows = [batch] if single else [dict(zip(keys, values, strict=True))
                                       for values in zip(*(batch[k] for k in keys), strict=True)]
        outs = [self._row(row) for row in rows]
        if single:
            return outs[0]
        return {name: [o[name] for o in outs] for name in self.features()}

    def _row(self, row: dict[str, Any]) -> dict[str, Any]:
        roles = ["teacher", "student"] + (["distilled"] if self.with_distilled else [])
        if row["prov_sentence_chars"] is None or any(row.get(f"prov_logprob_{r}") is None for r in roles):
            return {"prov_category": None, "prov_divergence": math.nan,
                    **{f"prov_frac_{c}": math.nan for c in self.categories}}  # a pass could not score this row
        chars = np.asarray(row["prov_sentence_chars"], dtype=np.float64)
        per_char = {r: np.asarray(row[f"prov_logprob_{r}"], dtype=np.float64) / chars for r in roles}
        labels = categorize(per_char["teacher"], per_char["student"], per_char.get("distilled"), self.margin)
        labelled = [c for c in labels if c is not None]
        difference = per_char["teacher"] - per_char["student"]
        divergence = float(np.nanmean(difference)) if np.isfinite(difference).any() else math.nan
        return {"prov_category": labels, "prov_divergence": divergence,
                **{f"prov_frac_{c}": (labelled.count(c) / len(labelled) if labelled else math.nan)
                   for c in self.categories}}


class Provenance(MapPass):
    """Provenance columns for ``ds.map(Provenance(teacher=..., student=...), batched=True)``.

    ``hf_select.score(ds, Provenance(...))`` runs each model's pass as its own cached map, one model at a
    time (a model given by name is loaded for its pass and released after it), then the categories.
    Calling it directly runs every pass on each batch. The models may use different tokenizers.
    """

    name = "provenance"
    cli_alias = None
    model_roles = ("teacher", "student", "distilled")
    columns = ProvenanceCategories.columns
    explanation = EXPLANATION
    citation = citations.PROVENANCE

    def __init__(self, teacher: ScoringModel, student: ScoringModel, distilled: ScoringModel | None = None, *,
                 response_column: str | None = None, prompt_column: str | None = None, format: Format = "text",
                 part: Part = "all", splitter: Splitter = "sentence", margin: float = 0.1, layout: Layout = "auto",
                 on_error: OnError = "raise", on_overflow: OnOverflow = "error"):
        common = {"response_column": response_column, "prompt_column": prompt_column, "format": format,
                  "part": part, "splitter": splitter, "layout": layout, "on_error": on_error,
                  "on_overflow": on_overflow}
        self.model_passes = [SentenceLogprobs(teacher, "teacher", **common),
                             SentenceLogprobs(student, "student", **common)]
        if distilled is not None:
            self.model_passes.append(SentenceLogprobs(distilled, "distilled", **common))
        self.categories = ProvenanceCategories(margin, with_distilled=distilled is not None)

    def passes(self) -> list[MapPass]:
        return [*self.model_passes, self.categories]

    def config(self) -> dict[str, Any]:
        return {p.name: p.config() for p in self.passes()}

    def features(self) -> dict[str, Any]:
        return {name: feature for p in self.passes() for name, feature in p.features().items()}

    def input_columns(self) -> list[str]:
        return self.model_passes[0].input_columns()

    def __call__(self, batch: dict[str, Any], indices=None) -> dict[str, Any]:
        batch = dict(batch)
        out: dict[str, Any] = {}
        for map_pass in self.passes():
            new = map_pass(batch, indices)
            batch.update(new)
            out.update(new)
        return out
