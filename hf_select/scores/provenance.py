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

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from datasets import List, Value

from hf_select import citations
from hf_select.columns import PROV_DIVERGENCE, PROV_TEACHER_FRACTION, Field, Shade
from hf_select.config import as_config, option
from hf_select.engine_io import ScoringRequest, TokenScores
from hf_select.errors import ConfigError
from hf_select.formats import Shape
from hf_select.layout import Layout, encode_context, prompt_prefix, token_owners
from hf_select.models import ScoringModel
from hf_select.scores.base import ScoreParams, Scorer
from hf_select.scores.naturalness import LAYOUT_HELP
from hf_select.scoring import CompositeScore, MapPass, PassParams, RowLog, configure
from hf_select.steps import describe_splitter, split_steps, splitter_name
from hf_select.version import __version__

TEACHER, STUDENT, PRE_EXISTING, BOOSTED = "teacher_originated", "student_originated", "pre_existing", "boosted"
CATEGORY_RULE = (
    "Per sentence, with t, s, d the teacher's, student's and distilled model's log-probability per character "
    "and m the margin: teacher_originated if t - s > m; student_originated if s - t > m; otherwise "
    "pre_existing, or boosted when a distilled model is given and d - max(t, s) > m."
)
Role = Literal["teacher", "student", "distilled"]


@dataclass(frozen=True, eq=False)
class AttributedRequest(ScoringRequest):
    """A request over a whole response that also knows its sentences and which sentence owns each token."""

    spans: list[tuple[int, int]] = field(default_factory=list)
    sentence_of_token: np.ndarray | None = None


def _margin() -> Any:
    return option(
        "Per-character log-probability difference (nats) beyond which a sentence is teacher- or student-originated.",
        0.1,
    )


def _splitter() -> Any:
    return option(
        "How a response is split into sentences: sentence, line, paragraph, or a function text -> spans.",
        "sentence",
        describe=splitter_name,
    )


@dataclass(frozen=True)
class ProvenanceParams(ScoreParams):
    margin: float = _margin()
    splitter: str | Callable[[str], Sequence[tuple[int, int]]] = _splitter()
    layout: Layout = option(LAYOUT_HELP, "auto")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not math.isfinite(self.margin) or self.margin < 0:
            raise ConfigError(f"margin must be a non-negative number (nats per character), not {self.margin!r}")
        if self.column_suffix is not None:
            raise ConfigError("provenance columns are named prov_*; column_suffix is not supported")
        describe_splitter(self.splitter)


@dataclass(frozen=True)
class SentenceParams(ScoreParams):
    role: Role = option("Which model this pass runs: teacher, student or distilled.", "student")
    splitter: str | Callable[[str], Sequence[tuple[int, int]]] = _splitter()
    layout: Layout = option(LAYOUT_HELP, "auto")


class SentenceLogprobs(Scorer):
    """One model's pass for provenance: adds ``prov_logprob_<role>`` (each sentence's total log-prob given
    the prompt and all previous text), plus ``prov_sentence_spans`` and ``prov_sentence_chars``."""

    name = "provenance_sentences"
    Params = SentenceParams
    explanation = (
        "One forward pass of this model over prompt + response with its own tokenizer; each token is attributed "
        "to the sentence holding its first non-whitespace character, and a sentence's log-probability is the sum "
        "over its tokens (comparable across tokenizers)."
    )
    fields = {
        "prov_sentence_spans": Field(
            List(List(Value("int64"))), "[start, end) character span of each sentence of the response"
        ),
        "prov_sentence_chars": Field(List(Value("int64")), "number of characters of each sentence"),
    }
    role_doc: ClassVar[str] = (
        "each sentence's total log-probability under the {role} model, given the prompt and all previous text"
    )
    params: SentenceParams

    def __init__(
        self, model: ScoringModel, params: SentenceParams | None = None, *, shape: Shape | None = None, **options: Any
    ) -> None:
        super().__init__(model, params, shape=shape, **options)
        if self.shape.turns != "last":
            raise ConfigError("provenance scores one reply per row (its sentence spans); turns='all' is not supported")

    @property
    def key(self) -> str:
        return f"provenance_{self.params.role}"

    def output_features(self) -> dict[str, Any]:
        return {
            **{name: f.feature for name, f in self.fields.items()},
            f"prov_logprob_{self.params.role}": List(Value("float64")),
        }

    def field_docs(self) -> dict[str, str]:
        role = self.params.role
        return {**super().field_docs(), f"prov_logprob_{role}": self.role_doc.format(role=role)}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "attribution": "token -> sentence holding its first non-whitespace character"}

    def requests_for(self, row: dict[str, Any]) -> list[ScoringRequest]:
        (turn,) = self.shape.read(row)
        tokenizer = self.model.tokenizer
        prefix, special = prompt_prefix(tokenizer, turn.context, self.params.layout)
        encoded = tokenizer(turn.text, add_special_tokens=False, return_offsets_mapping=True)
        spans = split_steps(turn.text, self.params.splitter)
        owners = token_owners(turn.text, encoded["offset_mapping"], spans)
        context = encode_context(tokenizer, prefix + turn.before, special)
        return [AttributedRequest(context, list(encoded["input_ids"]), spans, owners)]

    def columns_for(
        self, row: dict[str, Any], requests: list[ScoringRequest], results: list[TokenScores]
    ) -> dict[str, Any]:
        spans, owners = requests[0].spans, requests[0].sentence_of_token
        logprobs = results[0].logprobs.astype(np.float64)
        sums = np.zeros(len(spans))
        np.add.at(sums, owners, logprobs)  # NaN (a token dropped by truncation) makes its sentence NaN
        sums[np.bincount(owners, minlength=len(spans)) == 0] = math.nan  # owns no token: text shared with a neighbour
        return {
            "prov_sentence_spans": [list(s) for s in spans],
            "prov_sentence_chars": [end - start for start, end in spans],
            f"prov_logprob_{self.params.role}": sums.tolist(),
        }


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
    "than the student does."
)


@dataclass(frozen=True)
class CategoryParams(PassParams):
    margin: float = _margin()
    with_distilled: bool = option("Whether a distilled model's pass ran (adds the boosted category).", False)


class ProvenanceCategories(MapPass):
    """The model-free last pass: categories, per-row fractions and teacher-student divergence from the
    ``prov_logprob_*`` columns. ``prov_divergence`` is the mean over sentences of the per-character
    log-prob difference teacher - student (higher: content the teacher finds likelier than the student)."""

    name = "provenance"
    Params = CategoryParams
    columns = (PROV_DIVERGENCE, PROV_TEACHER_FRACTION)
    explanation = EXPLANATION
    citation = citations.PROVENANCE
    fields = {
        "prov_category": Field(
            List(Value("string")), "origin category of each sentence (null where a model could not score it)"
        ),
        "prov_sentence_margins": Field(
            List(Value("float64")), "each sentence's log-probability per character, teacher minus student"
        ),
        **{
            f"prov_frac_{c}": Field(Value("float64"), f"share of the response's sentences in category {c}")
            for c in (TEACHER, STUDENT, PRE_EXISTING, BOOSTED)
        },
    }
    shades = (
        Shade(
            "sentences",
            "prov_sentence_spans",
            "prov_sentence_margins",
            "provenance: teacher minus student log-prob per character (high: teacher-originated, low: the "
            "student's own)",
            "sentence",
            "diverging",
            categories="prov_category",
        ),
    )
    params: CategoryParams

    def __init__(self, params: CategoryParams | None = None, **options: Any) -> None:
        _, self.params = configure(type(self), params, None, options)

    @property
    def roles(self) -> list[str]:
        return ["teacher", "student"] + (["distilled"] if self.params.with_distilled else [])

    @property
    def categories(self) -> list[str]:
        return [TEACHER, STUDENT, PRE_EXISTING] + ([BOOSTED] if self.params.with_distilled else [])

    @property
    def records_errors(self) -> bool:
        return False  # rows a model pass could not score are NaN here too, with that pass's message

    def features(self) -> dict[str, Any]:
        return {
            "prov_category": List(Value("string")),
            "prov_sentence_margins": List(Value("float64")),
            "prov_divergence": Value("float64"),
            **{f"prov_frac_{c}": Value("float64") for c in self.categories},
        }

    def config(self) -> dict[str, Any]:
        return {"score": self.name, **as_config(self.params), "rule": CATEGORY_RULE, "hf_select_version": __version__}

    def input_columns(self) -> list[str]:
        return ["prov_sentence_chars", *(f"prov_logprob_{role}" for role in self.roles)]

    def describe(self) -> str:
        return f"provenance categories (margin {self.params.margin})"

    def is_batch(self, batch: dict[str, Any]) -> bool:
        if not isinstance(batch, dict):  # inside Dataset.map: datasets says which it is
            return super().is_batch(batch)
        chars = batch["prov_sentence_chars"]  # a row: a list of ints (or None); a batch: a list of those
        return not (chars is None or (len(chars) > 0 and isinstance(chars[0], int)))

    def compute(self, rows: list[dict[str, Any]], log: RowLog) -> list[dict[str, Any]]:
        return [self._row(row) for row in rows]

    def _row(self, row: dict[str, Any]) -> dict[str, Any]:
        if row["prov_sentence_chars"] is None or any(row.get(f"prov_logprob_{r}") is None for r in self.roles):
            return {
                "prov_category": None,
                "prov_sentence_margins": None,
                "prov_divergence": math.nan,
                **{f"prov_frac_{c}": math.nan for c in self.categories},
            }  # a pass could not score this row
        chars = np.asarray(row["prov_sentence_chars"], dtype=np.float64)
        per_char = {r: np.asarray(row[f"prov_logprob_{r}"], dtype=np.float64) / chars for r in self.roles}
        labels = categorize(per_char["teacher"], per_char["student"], per_char.get("distilled"), self.params.margin)
        labelled = [c for c in labels if c is not None]
        difference = per_char["teacher"] - per_char["student"]
        divergence = float(np.nanmean(difference)) if np.isfinite(difference).any() else math.nan
        margins = [float(d) if np.isfinite(d) else None for d in difference]
        return {
            "prov_category": labels,
            "prov_sentence_margins": margins,
            "prov_divergence": divergence,
            **{
                f"prov_frac_{c}": (labelled.count(c) / len(labelled) if labelled else math.nan) for c in self.categories
            },
        }


class Provenance(CompositeScore):
    """Provenance columns for ``ds.map(Provenance(teacher=..., student=...), batched=True)``.

    ``hf_select.score(ds, Provenance(...))`` runs each model's pass as its own cached map, one model at a
    time (a model given by name is loaded for its pass and released after it), then the categories.
    Calling it directly runs every pass on each batch. The models may use different tokenizers.
    """

    name = "provenance"
    Params = ProvenanceParams
    model_roles = ("teacher", "student", "distilled")
    reads_shape = True
    columns = ProvenanceCategories.columns
    shades = ProvenanceCategories.shades
    explanation = EXPLANATION
    citation = citations.PROVENANCE
    params: ProvenanceParams

    def __init__(
        self,
        teacher: ScoringModel,
        student: ScoringModel,
        distilled: ScoringModel | None = None,
        params: ProvenanceParams | None = None,
        *,
        shape: Shape | None = None,
        **options: Any,
    ) -> None:
        self.shape, self.params = configure(type(self), params, shape, options)
        p = self.params
        common = {
            "shape": self.shape,
            "splitter": p.splitter,
            "layout": p.layout,
            "on_error": p.on_error,
            "on_overflow": p.on_overflow,
        }
        models = {"teacher": teacher, "student": student, **({"distilled": distilled} if distilled else {})}
        self.model_passes = [SentenceLogprobs(model, role=role, **common) for role, model in models.items()]
        self.categories = ProvenanceCategories(margin=p.margin, with_distilled=distilled is not None)
        self.parts = [*self.model_passes, self.categories]
