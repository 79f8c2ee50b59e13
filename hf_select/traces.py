"""Reasoning traces: where a response's reasoning and its final answer are, and whether it was cut off.

Two public conventions are understood:

- DeepSeek-R1 (OpenR1-Math, Mixture-of-Thoughts, s1K, Nemotron): ``<think> reasoning </think> answer``. Many sets
  drop the opening tag (the chat template adds it), so without ``<think>`` the text before ``</think>`` is the
  reasoning; without either tag, the whole text is the answer.
- OpenThoughts / Bespoke-Stratos: ``<|begin_of_thought|> reasoning <|end_of_thought|>`` then
  ``<|begin_of_solution|> answer <|end_of_solution|>``.

Reasoning kept beside the answer (a message's ``reasoning_content`` or ``thinking``, typed content parts, a reasoning
column) is written inline in the R1 form (`inline_trace`), the way Qwen3's and DeepSeek's chat templates render a
reasoning turn, so everything that reads traces reads it the same way.

A trace that opens a block and never closes it was cut off, usually at the generation's token limit: it has no
answer (reasoning cut off) or only part of one (solution cut off). The markers themselves are neither reasoning
nor answer, and never a reasoning step of their own (`hf_select.steps` joins them to a neighbouring step).
"""

from __future__ import annotations

from dataclasses import dataclass

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
THOUGHT_OPEN, THOUGHT_CLOSE = "<|begin_of_thought|>", "<|end_of_thought|>"
SOLUTION_OPEN, SOLUTION_CLOSE = "<|begin_of_solution|>", "<|end_of_solution|>"
CLOSING_MARKERS = frozenset({THINK_CLOSE, THOUGHT_CLOSE, SOLUTION_CLOSE})
MARKERS = frozenset({THINK_OPEN, THOUGHT_OPEN, SOLUTION_OPEN}) | CLOSING_MARKERS


@dataclass(frozen=True)
class Trace:
    """Character offsets of a trace's reasoning and answer.

    ``answer_start`` is None when the reasoning was cut off (no answer at all); ``incomplete`` says why a trace
    is not whole (None when it is); ``has_reasoning`` whether it has a reasoning block at all."""

    reasoning_start: int
    reasoning_end: int
    answer_start: int | None
    answer_end: int
    has_reasoning: bool
    incomplete: str | None = None

    @property
    def cut_off(self) -> bool:
        """The reasoning never closed: there is no answer."""
        return self.answer_start is None


def parse_trace(text: str) -> Trace:
    """Find the reasoning and the answer of a response in either convention (see the module docstring)."""
    if THOUGHT_OPEN in text or THOUGHT_CLOSE in text or SOLUTION_OPEN in text:
        return _thought_solution(text)
    opening = text.find(THINK_OPEN)
    closing = text.find(THINK_CLOSE, opening + len(THINK_OPEN) if opening >= 0 else 0)
    start = opening + len(THINK_OPEN) if opening >= 0 else 0
    if closing >= 0:
        return Trace(start, closing, closing + len(THINK_CLOSE), len(text), True)
    if opening >= 0:
        return Trace(start, len(text), None, len(text), True, f"reasoning cut off: {THINK_OPEN} without {THINK_CLOSE}")
    return Trace(0, 0, 0, len(text), False)


def _thought_solution(text: str) -> Trace:
    opening = text.find(THOUGHT_OPEN)
    start = opening + len(THOUGHT_OPEN) if opening >= 0 else 0
    closing = text.find(THOUGHT_CLOSE, start)
    if closing < 0 and opening >= 0:
        return Trace(
            start, len(text), None, len(text), True, f"reasoning cut off: {THOUGHT_OPEN} without {THOUGHT_CLOSE}"
        )
    after = closing + len(THOUGHT_CLOSE) if closing >= 0 else 0
    solution = text.find(SOLUTION_OPEN, after)
    answer_start = solution + len(SOLUTION_OPEN) if solution >= 0 else after
    end = text.find(SOLUTION_CLOSE, answer_start)
    incomplete = f"solution cut off: {SOLUTION_OPEN} without {SOLUTION_CLOSE}" if solution >= 0 and end < 0 else None
    reasoning_end = closing if closing >= 0 else 0
    return Trace(
        start if closing >= 0 else 0,
        reasoning_end,
        answer_start,
        end if end >= 0 else len(text),
        closing >= 0,
        incomplete,
    )


def has_trace(text: str) -> bool:
    """Whether ``text`` holds a trace marker (an inline reasoning block, whole or cut off)."""
    return any(marker in text for marker in MARKERS)


def inline_trace(reasoning: str, answer: str | None) -> str:
    """Reasoning kept apart, written before its answer as ``<think>\n{reasoning}\n</think>\n\n{answer}`` (newlines at
    the reasoning's edges and before the answer trimmed, as Qwen3's template does); no answer: ``<think>\n{reasoning}``,
    a trace cut off in its reasoning (a reasoning parser puts the whole text in the reasoning field then)."""
    opened = f"{THINK_OPEN}\n{reasoning.strip(chr(10))}"
    if answer is None or not answer.strip():
        return opened
    return f"{opened}\n{THINK_CLOSE}\n\n{answer.lstrip(chr(10))}"


def answer_text(text: str) -> tuple[str | None, str | None]:
    """(the part of a response to grade, why there is none): the answer of a trace (the text after ``</think>``,
    or the solution), the whole text when there is no reasoning block, None when the reasoning was cut off."""
    trace = parse_trace(text)
    if trace.cut_off:
        return None, f"{trace.incomplete}, so there is no final answer"
    return text[trace.answer_start : trace.answer_end], None
