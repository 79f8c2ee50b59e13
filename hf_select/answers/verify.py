"""Grade a response's final answer against a reference with math-verify, called directly.

The final answer is extracted from the text, in this order: the content of the LAST `\\boxed{...}` (nested braces
handled; a last `\\boxed{` never closed, as in a cut-off response, means no answer at all), else the LAST explicit
"the (final) answer is X" / "answer: X" / "#### X", else the LAST number. The answer and the reference are both
parsed by math-verify (as `\\boxed{...}`) and compared with `math_verify.verify`, so `\\frac{1}{2}`, `1/2` and
`0.5` match, as do `12.50` and `12.5`.

Timeouts: math-verify bounds parsing and comparison with `signal.alarm`, which works in the main thread only; off
it, `timeout=None` is passed (math-verify's documented way to run threaded), so there is no bound there. A
comparison that times out counts as incorrect.
"""

from __future__ import annotations

import hashlib
import re
import threading
from importlib import metadata
from pathlib import Path

from math_verify import parse, verify

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


def _input_error(position: int | None, name: str, value: str | None, why: str) -> ValueError:
    where = f" at position {position}" if position is not None else ""
    error = ValueError(f"{name}{where} ({value!r}) {why}; fix or filter that row before checking answers.")
    error.position = position  # lets callers map the position back to a dataset row
    return error


def parse_reference(reference: str | None, position: int | None, timeout: int | None) -> list:
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


def effective_timeout(timeout_seconds: int | None) -> int | None:
    """math-verify's signal.alarm timeout raises off the main thread: no bound there."""
    return timeout_seconds if threading.current_thread() is threading.main_thread() else None


def grade(
    prediction: str,
    reference: str,
    timeout_seconds: int | None = 5,
    *,
    position: int | None = None,
) -> tuple[bool, str | None]:
    """(whether the final answer of ``prediction`` equals ``reference``, the answer extracted). Raises ValueError
    (with a ``position`` attribute) for a reference that is empty or that math-verify cannot parse: it would
    silently mark every response wrong."""
    timeout = effective_timeout(timeout_seconds)
    gold = parse_reference(reference, position, timeout)
    answer = extract_final_answer(prediction)
    return answer is not None and verify(gold, _parse_answer(answer, timeout), timeout_seconds=timeout), answer


def fingerprint() -> dict[str, str]:
    """What, besides the caller's settings, decides a grade: this module's source and the parsers' versions."""
    return {
        "answer_grader": __name__,
        "grader_sha256": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
        "math_verify_version": metadata.version("math-verify"),
        "latex2sympy2_extended_version": metadata.version("latex2sympy2_extended"),
        "sympy_version": metadata.version("sympy"),
    }
