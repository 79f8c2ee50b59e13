"""Answer accuracy: extract a response's final answer and check it against a reference with math-verify.

An `evaluate` module shipped inside `hf_select` and loaded with `evaluate.load(<path to this file>)`, so
checking correctness never touches the network. It must stay self-contained (imports only installed
libraries): `evaluate` copies this single file into its modules cache before importing it.
"""

from __future__ import annotations

import re
import threading

import datasets
import evaluate
from math_verify import parse, verify

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
Fraction of responses whose final answer is mathematically equal to the reference answer.

The final answer is extracted from the full response text, in this order:
1. the content of the LAST `\\boxed{...}` (nested braces such as `\\boxed{\\frac{1}{2}}` are handled);
   if that last `\\boxed{` is never closed (truncated response) there is no answer at all;
2. otherwise the LAST explicit "the (final) answer is X" / "answer: X" / "#### X";
3. otherwise the LAST number in the text.
The extracted answer and the reference are both parsed with math-verify (as `\\boxed{...}`) and compared
with `math_verify.verify`, so `\\frac{1}{2}`, `1/2` and `0.5` match, as do `12.50` and `12.5`.

Timeouts: math-verify bounds parsing and comparison with `signal.alarm`, which only works in the main
thread. Off the main thread this module passes `parsing_timeout=None` / `timeout_seconds=None` (math-verify's
documented way to run threaded), so there is no time bound there. A comparison that times out counts as
incorrect (math-verify logs a warning). In the main thread math-verify sets and then cancels its own
SIGALRM alarm, so it also cancels any alarm the caller had pending (e.g. a signal-based test timeout).
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

_BOXED_START = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_IS = re.compile(r"(?:\banswer\s*(?:is\b|:)|####)\s*:?\s*(?P<span>[^\n]+)", re.IGNORECASE)
# A number: thousands groups, decimals or a simple fraction; not glued to a preceding letter or digit.
_NUMBER = r"-?(?:\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?(?:/\d+)?)"
_LAST_NUMBER = re.compile(rf"(?<![\w.]){_NUMBER}")
_LEADING_NUMBER = re.compile(rf"\\?\$?(?P<num>{_NUMBER})(?:\s+[A-Za-z].*)?")
_MATH_SPAN = re.compile(r"\$\$?(?P<a>.+?)\$\$?|\\\((?P<b>.+?)\\\)|\\\[(?P<c>.+?)\\\]")
_SENTENCE_END = re.compile(r"\.(?:\s|$)")


def _last_boxed(text: str) -> str | None | bool:
    """Content of the last `\\boxed{...}`; False if there is none, None if it is never closed."""
    starts = list(_BOXED_START.finditer(text))
    if not starts:
        return False
    i, depth = starts[-1].end(), 1
    begin = i
    while i < len(text):
        char = text[i]
        if char == "\\":  # `\{` and `\}` are literal braces (sets), not grouping.
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[begin:i].strip()
        i += 1
    return None


def _clean_span(span: str) -> str:
    """Reduce the text after "the answer is" to the answer itself (drop prose, markup, punctuation)."""
    end = _SENTENCE_END.search(span)
    span = (span[: end.start()] if end else span).strip().strip("*").strip()
    math = _MATH_SPAN.search(span)
    if math:
        return next(group for group in math.groups() if group is not None).strip()
    span = span.rstrip(".,;:!").strip()
    leading = _LEADING_NUMBER.fullmatch(span)
    return leading.group("num").replace(",", "") if leading else span


def extract_final_answer(response: str) -> str | None:
    """The response's final answer as a string, or None when it states none."""
    boxed = _last_boxed(response)
    if boxed is not False:
        return boxed or None
    explicit = list(_ANSWER_IS.finditer(response))
    if explicit:
        answer = _clean_span(explicit[-1].group("span"))
        if answer:
            return answer
    numbers = _LAST_NUMBER.findall(response)
    return numbers[-1].replace(",", "") if numbers else None


def _parse_answer(answer: str, timeout: int | None) -> list:
    """Parse a bare answer as math-verify would parse a boxed one (boxed has the highest priority)."""
    return parse(f"\\boxed{{{answer}}}", parsing_timeout=timeout)


def _effective_timeout(timeout_seconds: int | None) -> int | None:
    """math-verify's signal.alarm timeout raises off the main thread; disable it there."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return timeout_seconds


def _input_error(position: int, name: str, value: str | None, why: str) -> ValueError:
    error = ValueError(
        f"{name} at position {position} ({value!r}) {why}; fix or filter that row before checking answers."
    )
    error.position = position  # lets callers map the position back to a dataset row
    return error


def _parse_reference(reference: str | None, position: int, timeout: int | None) -> list:
    """Parse a reference answer; one that cannot be parsed would silently mark every response wrong."""
    text = (reference or "").strip()
    boxed = _last_boxed(text)
    if boxed is not False:
        text = boxed or ""
    wrapped = _MATH_SPAN.fullmatch(text)
    if wrapped:
        text = next(group for group in wrapped.groups() if group is not None).strip()
    if not text:
        raise _input_error(position, "reference", reference, "is empty")
    gold = _parse_answer(text, timeout)
    if not gold:
        raise _input_error(position, "reference", reference, "cannot be parsed by math-verify (or timed out)")
    return gold


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class AnswerAccuracy(evaluate.Metric):
    """Final-answer accuracy with math-verify equivalence, for filtering responses by correctness."""

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
        timeout = _effective_timeout(timeout_seconds)
        correct: list[bool] = []
        extracted: list[str | None] = []
        for position, (prediction, reference) in enumerate(zip(predictions, references, strict=True)):
            if prediction is None:
                raise _input_error(position, "prediction", prediction, "is None (pass '' for no response)")
            gold = _parse_reference(reference, position, timeout)
            answer = extract_final_answer(prediction)
            extracted.append(answer)
            correct.append(
                answer is not None and verify(gold, _parse_answer(answer, timeout), timeout_seconds=timeout)
            )
        accuracy = sum(correct) / len(correct) if correct else float("nan")
        return {"accuracy": accuracy, "correct": correct, "extracted": extracted}
