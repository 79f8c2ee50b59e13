"""Answer checking: is a response's final answer equal to the reference? (math-verify through `evaluate`).

Users keep only correct responses before picking the best one per prompt:

    ds = ds.map(CheckAnswers(), batched=True)          # adds `is_correct` and `extracted_answer`
    ds = ds.filter(lambda row: row["is_correct"])

The evaluate module ships at `answer_accuracy/answer_accuracy.py` and is loaded from that path (offline).
"""

from hf_select.answers.check import CheckAnswers
from hf_select.answers.metric import METRIC_PATH, load_answer_metric
from hf_select.errors import MissingColumnError

__all__ = ["METRIC_PATH", "CheckAnswers", "MissingColumnError", "load_answer_metric"]
