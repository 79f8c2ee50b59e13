"""Answer accuracy as an `evaluate` module: hf_select's answer grading (`hf_select.answers.verify`) for evaluation
loops that use `evaluate`, loaded offline from its shipped path:

    from hf_select.answers import load_answer_metric
    load_answer_metric().compute(predictions=["so $\\boxed{\\frac{1}{2}}$"], references=["0.5"])["accuracy"]  # 1.0

hf_select itself calls math-verify directly (`CheckAnswers`); this module only wraps the same `grade`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing evaluate takes seconds; only this module's users need it
    import evaluate

METRIC_PATH = Path(__file__).resolve().parent / "answer_accuracy" / "answer_accuracy.py"


def load_answer_metric() -> evaluate.EvaluationModule:
    """The `answer_accuracy` module, loaded by `evaluate.load` from its shipped path (no Hub lookup)."""
    import evaluate

    # keep_in_memory: no Arrow cache files or file locks on disk for a per-batch computation.
    return evaluate.load(str(METRIC_PATH), keep_in_memory=True)
