"""The columns hf_select adds, what each means and which direction is better. Imports nothing.

Scores record the same facts in a dataset's metadata when they run (see `hf_select.metadata`); this table
is the fallback for data whose metadata was lost on the way (e.g. loaded back from parquet), so that
``select_best(by="rsr")`` still picks the lowest RSR. Scores that come from elsewhere join it through
`hf_select.scores.register_score`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

ERROR_COLUMN = "hf_select_error"  # why a row got NaN scores (``on_error="nan"``), or that it was truncated
TRUNCATED = "truncated to the model's"  # how a truncation reads in ERROR_COLUMN (cards count these)
COMPLETE, INCOMPLETE_REASON = "complete", "incomplete_reason"  # see hf_select.completeness


@dataclass(frozen=True)
class Column:
    """A score column: its name, its direction (None: not a quantity to rank by), a plain definition and, for
    a ratio, how a teacher's score aggregates: ``(numerator, denominator)`` columns whose means are divided
    (the teacher-level Rank-Surprisal Ratio is the mean rank over the mean surprisal, not a mean of ratios).
    ``correctness``: the column says whether a response's answer is right (rankings report it as accuracy).
    ``select_max``: selection keeps only rows at or below this value unless told otherwise (IFD: 1, where the
    prompt makes the response *less* likely, which Cherry drops before taking the highest)."""

    name: str
    higher_is_better: bool | None
    definition: str
    aggregate: tuple[str, str] | None = None
    correctness: bool = False
    select_max: float | None = None

    def renamed(self, name: str) -> Column:
        return dataclasses.replace(self, name=name)

    def suffixed(self, suffix: str) -> Column:
        """The column as a score with ``column_suffix=suffix`` names it (its aggregate's columns too)."""
        aggregate = tuple(f"{c}_{suffix}" for c in self.aggregate) if self.aggregate else None
        return dataclasses.replace(self, name=f"{self.name}_{suffix}", aggregate=aggregate)


@dataclass(frozen=True)
class Shade:
    """What a score with spans lets the viewer shade: each span of a scored reply, by a value. A new score
    declares its own and is shaded with no change to the viewer.

    ``spans`` names a column holding, per row, ``[turn, start, end]`` for each span (character offsets into the
    scored text of the row's ``turn``-th scored turn; ``[start, end]``: its last scored turn); ``values`` a column
    of one value per span; ``categories`` (optional) one label per span. ``scale`` is ``"sequential"`` (colours
    from the data's 5th to 95th percentile) or ``"diverging"`` (symmetric around 0); ``unit`` names one span
    ("step")."""

    name: str
    spans: str
    values: str
    label: str
    unit: str
    scale: str = "sequential"
    categories: str | None = None

    def suffixed(self, suffix: str) -> Shade:
        """The declaration of a score with ``column_suffix=suffix`` (its layer and columns suffixed)."""
        return dataclasses.replace(
            self,
            name=f"{self.name}_{suffix}",
            spans=f"{self.spans}_{suffix}",
            values=f"{self.values}_{suffix}",
            categories=f"{self.categories}_{suffix}" if self.categories else None,
        )


@dataclass(frozen=True)
class Field:
    """A column a pass adds that is not ranked by: its type (a `datasets` feature) and what it holds."""

    feature: object
    doc: str


GLOBAL_NATURALNESS = Column(
    "global_naturalness",
    True,
    "mean log-probability the student assigns to the response's tokens, given the prompt laid out as in SFT",
)
LOCAL_NATURALNESS = Column(
    "local_naturalness",
    True,
    "mean over reasoning steps of each step's mean token log-probability under the student, given only the few "
    "steps before it",
)
RSR = Column(
    "rsr",
    False,
    "Rank-Surprisal Ratio: the mean rank (clipped) of the response's tokens under the student divided by their "
    "mean surprisal (negative log-probability); lower means informative yet aligned with the student",
    aggregate=("rsr_mean_rank", "rsr_mean_surprisal"),
)
PROV_DIVERGENCE = Column(
    "prov_divergence",
    True,
    "mean over sentences of the per-character log-probability difference teacher minus student: how much more "
    "likely the teacher finds this content than the student does",
)
PROV_TEACHER_FRACTION = Column(
    "prov_frac_teacher_originated",
    True,
    "share of the response's sentences that the teacher finds likelier than the student by more than the margin",
)
IFD = Column(
    "ifd",
    True,
    "Instruction-Following Difficulty: the response's mean token loss given the prompt over its mean loss alone; "
    "near 1, the prompt hardly helps the student (the paper keeps the highest at or below 1; low-IFD selection the "
    "lowest)",
    select_max=1.0,
)
ASLEC_DROP = Column(
    "aslec_drop",
    True,
    "mean log-probability of the response's tokens under the student given the prompt, leaving out the first "
    "token(s) of every reasoning step, whose low probability otherwise favours long steps",
)
ASLEC_CASL = Column(
    "aslec_casl",
    True,
    "mean token log-probability of the response minus the effect of its share of step-initial tokens, fitted by a "
    "regression over the whole pool (causal debiasing of step length)",
)
IS_CORRECT = Column(
    "is_correct", True, "whether the response's final answer equals the reference (math-verify)", correctness=True
)

_KNOWN: dict[str, Column] = {}
_SHADES: dict[str, Shade] = {}


def register(*columns: Column) -> None:
    """Make these columns' direction and aggregate known without the data's metadata."""
    for column in columns:
        if column.higher_is_better is not None:
            _KNOWN[column.name] = column


def register_shades(*shades: Shade) -> None:
    """Make these shading declarations known without the data's metadata (the viewer of data read back bare)."""
    for shade in shades:
        _SHADES[shade.name] = shade


def known_shades(columns: list[str]) -> list[Shade]:
    """The known declarations whose span and value columns are among ``columns``."""
    return [s for s in _SHADES.values() if s.spans in columns and s.values in columns]


def known_direction(name: str) -> bool | None:
    """The direction of a column hf_select knows by name, else None."""
    return _KNOWN[name].higher_is_better if name in _KNOWN else None


def known_aggregate(name: str) -> tuple[str, str] | None:
    return _KNOWN[name].aggregate if name in _KNOWN else None


def known_select_max(name: str) -> float | None:
    return _KNOWN[name].select_max if name in _KNOWN else None


register(
    GLOBAL_NATURALNESS,
    LOCAL_NATURALNESS,
    RSR,
    PROV_DIVERGENCE,
    PROV_TEACHER_FRACTION,
    IFD,
    ASLEC_DROP,
    ASLEC_CASL,
    IS_CORRECT,
)
