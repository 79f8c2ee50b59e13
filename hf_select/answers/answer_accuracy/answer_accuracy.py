"""Answer accuracy: the share of responses whose final answer equals the reference, graded by
`hf_select.answers.verify` (math-verify). An `evaluate` module shipped inside hf_select and loaded with
`evaluate.load(<path to this file>)` (`hf_select.answers.load_answer_metric`), so it never touches the network.
`evaluate` copies this single file into its modules cache before importing it: it imports installed packages only.
"""

from __future__ import annotations

import datasets
import evaluate

from hf_select.answers.verify import grade

_CITATION = """\
@misc{kydlicek2025mathverify,
  author = {Kydl{\\'\\i}{\\v{c}}ek, Hynek},
  title = {{Math-Verify: Math Verification Library}},
  year = {2025},
  publisher = {Hugging Face},
  howpublished = {\\url{https://github.com/huggingface/math-verify}}
}
"""

_DESCRIPTION = """\
Fraction of responses whose final answer is mathematically equal to the reference answer (see
`hf_select.answers.verify` for how the answer is found and compared).
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions (`list` of `str`): full model responses.
    references (`list` of `str`): reference answers, e.g. "42", "3/4", "\\\\frac{1}{2}", "12.5".
    timeout_seconds (`int` or `None`, default 5): per-parse and per-comparison bound in the main thread;
        `None` or `0` disables it. Ignored (always `None`) off the main thread.
Returns:
    accuracy (`float`): mean of `correct`.
    correct (`list` of `bool`): whether each response's final answer equals its reference.
    extracted (`list` of `str` or `None`): the final answer found in each response, `None` if none.
Raises:
    ValueError: a reference is empty or math-verify cannot parse it (the error has a `position` attribute).
Examples:
    >>> metric = evaluate.load(path_to_this_file)  # hf_select.answers.METRIC_PATH
    >>> metric.compute(predictions=["so $\\\\boxed{\\\\frac{1}{2}}$"], references=["0.5"])["accuracy"]
    1.0
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class AnswerAccuracy(evaluate.Metric):
    """Final-answer accuracy with math-verify equivalence."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            codebase_urls=["https://github.com/huggingface/math-verify"],
            reference_urls=["https://github.com/huggingface/math-verify"],
        )

    def _compute(
        self, predictions: list[str], references: list[str], timeout_seconds: int | None = 5
    ) -> dict[str, object]:
        if timeout_seconds is not None and (type(timeout_seconds) is not int or timeout_seconds < 0):
            # signal.alarm takes whole seconds; anything else would make every parse fail quietly.
            raise ValueError(f"timeout_seconds must be a non-negative int or None, got {timeout_seconds!r}")
        correct: list[bool] = []
        extracted: list[str | None] = []
        for position, (prediction, reference) in enumerate(zip(predictions, references, strict=True)):
            if prediction is None:
                raise ValueError(f"prediction at position {position} is None (pass '' for no response)")
            ok, answer = grade(prediction, reference, timeout_seconds, position=position)
            correct.append(ok)
            extracted.append(answer)
        accuracy = sum(correct) / len(correct) if correct else float("nan")
        return {"accuracy": accuracy, "correct": correct, "extracted": extracted}
