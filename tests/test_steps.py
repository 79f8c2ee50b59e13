"""Tests for step segmentation: the partition contract on arbitrary text, then each tricky case."""

from __future__ import annotations

import functools
import json
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hf_select.steps import MODES, approx_token_count, describe_splitter, split_sentences, split_steps
from hf_select.traces import MARKERS

# Pieces that exercise every rule: terminators, abbreviations, math delimiters, odd whitespace, unicode.
FRAGMENTS = [
    ".",
    ". ",
    "! ",
    "? ",
    "...",
    "… ",
    "\n",
    "\r\n",
    "\n\n",
    "\n \t\n",
    "\t",
    "  ",
    "\u00a0",
    "\u2028",
    "\x0b",
    "$",
    "$$",
    "\\(",
    "\\)",
    "\\[",
    "\\]",
    "\\begin{align}",
    "\\end{align}",
    "\\\\",
    "\\$",
    "e.g. ",
    "Dr. ",
    "3.5",
    "1. ",
    "J. ",
    "No. 5",
    "word",
    "Word ",
    "x = 1",
    "ü",
    "数学。",
    "”",
    ")",
    '"',
    "**",
    "- ",
    "A",
    "a",
    "5! ",
]
TEXTS = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=40).map("".join)
MATH_FREE = st.lists(st.sampled_from([f for f in FRAGMENTS if "$" not in f and "\\" not in f]), max_size=40)
FAST = settings(max_examples=100, deadline=None, database=None)


def pieces(text: str, mode="sentence", **kw) -> list[str]:
    return [text[s:e] for s, e in split_steps(text, mode, **kw)]


def assert_partition(text: str, spans) -> None:
    assert isinstance(spans, list) and all(type(s) is int and type(e) is int for s, e in spans)
    if not text:
        assert spans == []
        return
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(s < e for s, e in spans), "empty span"
    assert all(e == s2 for (_, e), (s2, _) in zip(spans, spans[1:], strict=False)), "gap or overlap"
    assert "".join(text[s:e] for s, e in spans) == text
    if text.isspace():
        assert spans == [(0, len(text))]
    else:
        assert not any(text[s:e].isspace() for s, e in spans), "whitespace-only step"
        # Each step owns the whitespace that follows it, so only the first step may start with whitespace.
        assert not any(text[s].isspace() for s, _ in spans[1:])


# --- properties --------------------------------------------------------------------------------------


@FAST
@given(text=TEXTS, mode=st.sampled_from(MODES), cap=st.integers(1, 30))
def test_every_mode_partitions_arbitrary_text(text, mode, cap):
    assert_partition(text, split_steps(text, mode, max_step_tokens=cap))


@FAST
@given(text=TEXTS)
def test_split_sentences_partitions_and_matches_sentence_mode(text):
    spans = split_sentences(text)
    assert_partition(text, spans)
    assert spans == split_steps(text, "sentence")


@FAST
@given(text=TEXTS)
def test_line_mode_gives_one_step_per_non_blank_line(text):
    steps = pieces(text, "line")
    non_blank = [line for line in text.split("\n") if line.strip()]
    assert len(steps) == len(non_blank) or (text.isspace() and len(steps) == 1)
    assert all("\n" not in step.strip() for step in steps)


@FAST
@given(text=TEXTS)
def test_paragraph_mode_under_the_cap_splits_only_at_blank_lines(text):
    steps = pieces(text, "paragraph", max_step_tokens=10**9)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    assert [s.strip() for s in steps if s.strip()] == paragraphs


@FAST
@given(text=TEXTS, cap=st.integers(1, 12))
def test_paragraph_cap_splits_exactly_the_long_paragraphs_into_sentences(text, cap):
    expected = []
    for start, end in split_steps(text, "paragraph", max_step_tokens=10**9):
        paragraph = text[start:end]
        if approx_token_count(paragraph) > cap:
            expected += [(start + s, start + e) for s, e in split_sentences(paragraph)]
        else:
            expected.append((start, end))
    assert split_steps(text, "paragraph", max_step_tokens=cap) == expected


@FAST
@given(parts=MATH_FREE)
def test_sentence_boundaries_include_every_line_break_outside_math(parts):
    text = "".join(parts)
    line_cuts = {s for s, _ in split_steps(text, "line")}
    assert line_cuts <= {s for s, _ in split_sentences(text)}


MATH_BODY = (
    st.lists(
        st.sampled_from(["x", "A", " ", ". ", "! ", "? ", "\n", "1.", "= ", "Then ", "e.g. ", "\\\\", "\n- "]),
        min_size=1,
        max_size=15,
    )
    .map("".join)
    .filter(lambda body: not re.search(r"\n\s*\n", body))
)  # math never spans a blank line


@FAST
@given(
    before=st.lists(st.sampled_from(["Word. ", "So ", "\n", "A? ", "x"]), max_size=6).map("".join),
    body=MATH_BODY,
    after=st.lists(st.sampled_from([" Next. ", "\nWord", ". Then", " and"]), max_size=4).map("".join),
    delims=st.sampled_from([("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("\\begin{align}", "\\end{align}")]),
)
def test_no_boundary_inside_display_or_inline_math(before, body, after, delims):
    opener, closer = delims
    text = before + opener + body + closer + after
    start = len(before)
    end = start + len(opener) + len(body) + len(closer)
    for mode in MODES:
        cuts = [s for s, _ in split_steps(text, mode, max_step_tokens=1)]
        # "line" cuts at line breaks by definition; "aslec" is the ASLEC authors' textual split (". " and "? "
        # wherever they are, math included), reproduced as their code does it
        if mode not in ("line", "aslec"):
            assert not any(start < c < end for c in cuts), (mode, text)


@FAST
@given(text=TEXTS)
def test_callable_mode_round_trips_a_valid_partition_given_as_lists(text):
    expected = split_sentences(text)
    assert split_steps(text, lambda t: [list(span) for span in split_sentences(t)]) == expected


@FAST
@given(a=TEXTS, b=TEXTS)
def test_approx_token_count_is_additive_across_whitespace_and_zero_only_for_blank(a, b):
    assert approx_token_count(a + " " + b) == approx_token_count(a) + approx_token_count(b)
    assert (approx_token_count(a) == 0) == (not a.strip())


# --- sentence rules ----------------------------------------------------------------------------------

SENTENCE_CASES = {
    "decimals and versions": (
        "It costs 3.5 dollars. Then 1,000.25 more. Version v1.2.3 ships!",
        ["It costs 3.5 dollars. ", "Then 1,000.25 more. ", "Version v1.2.3 ships!"],
    ),
    "number ends a sentence": (
        "The answer is 3.5. Next we check.",
        ["The answer is 3.5. ", "Next we check."],
    ),
    "terminators": ("Really? Yes! Fine?! Ok.", ["Really? ", "Yes! ", "Fine?! ", "Ok."]),
    "initials": ("By J. K. Rowling. The end.", ["By J. K. Rowling. ", "The end."]),
    "dotted acronyms": (
        "In the U.S. Army at 5 p.m. Then we met.",
        ["In the U.S. Army at 5 p.m. Then we met."],
    ),
    "titles are case-sensitive": ("It took 5 ms. Then it ended.", ["It took 5 ms. ", "Then it ended."]),
    "No. only before a number": (
        "Lemma No. 5 holds. The answer is no. Good.",
        ["Lemma No. 5 holds. ", "The answer is no. ", "Good."],
    ),
    "lowercase never starts a sentence": (
        "There are approx. three. We use the eqn. below. Done.",
        ["There are approx. three. ", "We use the eqn. below. ", "Done."],
    ),
    "continuing punctuation": ("So 5! = 120. And 3! + 2. Done.", ["So 5! = 120. ", "And 3! + 2. ", "Done."]),
    "closing quotes and brackets": (
        'He said "Stop." Then left. (Really.) Ok. **Answer: 5.** Next',
        ['He said "Stop." ', "Then left. ", "(Really.) ", "Ok. ", "**Answer: 5.** ", "Next"],
    ),
    "ellipses": (
        "Wait... let me think. Hmm... Let me redo. So it is... 42. Hmm… Yes.",
        ["Wait... let me think. ", "Hmm... ", "Let me redo. ", "So it is... 42. ", "Hmm… ", "Yes."],
    ),
    "enumerations stay with their line": (
        "1. First item. Second one.\n2. Next item\n3) Third\niv. Roman\n- 4. Nested",
        ["1. First item. ", "Second one.\n", "2. Next item\n", "3) Third\n", "iv. Roman\n", "- 4. Nested"],
    ),
    "line breaks are boundaries": ("Steps:\n- a\n* b\n# c", ["Steps:\n", "- a\n", "* b\n", "# c"]),
    "sentence starters": (
        "One. 2 is next. $x$ is. \\(y\\) too. [a] b. 'q' r. #tag.",
        ["One. ", "2 is next. ", "$x$ is. ", "\\(y\\) too. ", "[a] b. ", "'q' r. ", "#tag."],
    ),
    "inline math": (
        "We have $x = 1. Y$ here. Then \\(a. B\\) holds.",
        ["We have $x = 1. Y$ here. ", "Then \\(a. B\\) holds."],
    ),
    "display math over lines": (
        "Consider\n$$\nx = 1.\nY = 2.\n$$\nThus done.",
        ["Consider\n", "$$\nx = 1.\nY = 2.\n$$\n", "Thus done."],
    ),
    "bracket display math over lines": (
        "So \\[\na. B\n\\] Next. Ok.",
        ["So \\[\na. B\n\\] Next. ", "Ok."],
    ),
    "align environment": (
        "Now\n\\begin{align}\na &= 1. \\\\\nB &= 2.\n\\end{align}\nSo that. Ok.",
        ["Now\n", "\\begin{align}\na &= 1. \\\\\nB &= 2.\n\\end{align}\n", "So that. ", "Ok."],
    ),
    "nested environments": (
        "\\begin{cases}\n\\begin{cases}\nA. B\n\\end{cases}\nC. D\n\\end{cases}\nNext.",
        ["\\begin{cases}\n\\begin{cases}\nA. B\n\\end{cases}\nC. D\n\\end{cases}\n", "Next."],
    ),
    "sentence ends inside closing math": (
        "The value is $$x = 1.$$ Then we stop. So \\[y = 2!\\] Fine. And $$z$$ Next.",
        ["The value is $$x = 1.$$ ", "Then we stop. ", "So \\[y = 2!\\] ", "Fine. ", "And $$z$$ Next."],
    ),
    "currency is not math": (
        "It costs $5 today. Then $10 tomorrow. Fine.",
        ["It costs $5 today. ", "Then $10 tomorrow. ", "Fine."],
    ),
    "a closing dollar precedes no digit": (
        "It was $3. Now$4 is the price.",
        ["It was $3. ", "Now$4 is the price."],
    ),
    "escaped dollar and latex line break are not delimiters": (
        "\\$x. Then y$. Done. Row \\\\[2pt] Next. End.",
        ["\\$x. ", "Then y$. ", "Done. ", "Row \\\\[2pt] Next. ", "End."],
    ),
    "unclosed math stops at a blank line": (
        "\\[ a. B\n\nNew para. Next $x. Here.",
        ["\\[ a. B\n\n", "New para. ", "Next $x. ", "Here."],
    ),
    "cjk": ("数学很难。我们试试！好吗？OK", ["数学很难。", "我们试试！", "好吗？", "OK"]),
    "crlf": (
        "First.\r\nSecond. Third.\r\n\r\nFourth.",
        ["First.\r\n", "Second. ", "Third.\r\n\r\n", "Fourth."],
    ),
    "whitespace ownership": ("  \n\nHello. World.\n\n  ", ["  \n\nHello. ", "World.\n\n  "]),
}


@pytest.mark.parametrize("text, expected", SENTENCE_CASES.values(), ids=SENTENCE_CASES.keys())
def test_sentence_rules(text, expected):
    assert pieces(text, "sentence") == expected


@pytest.mark.parametrize(
    "abbreviation",
    [
        "e.g.",
        "i.e.",
        "etc.",
        "vs.",
        "Vs.",
        "Dr.",
        "Mr.",
        "Mrs.",
        "Ms.",
        "Prof.",
        "Fig.",
        "fig.",
        "Eq.",
        "eq.",
        "approx.",
        "Approx.",
        "No. 5",
        "St.",
        "cf.",
        "Cf.",
        "et al.",
        "E.g.",
    ],
)
def test_abbreviations_do_not_end_a_sentence(abbreviation):
    text = f"See {abbreviation} Smith for this. Next one."
    assert pieces(text) == [f"See {abbreviation} Smith for this. ", "Next one."]


# --- paragraph and line modes ------------------------------------------------------------------------


def test_paragraph_mode_keeps_short_paragraphs_whole_and_splits_long_ones_into_sentences():
    long = " ".join(f"Sentence number {i} is here." for i in range(30))  # 6 tokens each, 180 in all
    text = f"Short one. Two sentences.\n\n{long}\n\nTail para. Also short."
    steps = [text[s:e] for s, e in split_steps(text)]  # the default: paragraphs, capped at 80
    assert steps[0] == "Short one. Two sentences.\n\n"
    assert steps[-1] == "Tail para. Also short."
    assert steps[1:-1] == [f"Sentence number {i} is here. " for i in range(29)] + ["Sentence number 29 is here.\n\n"]


def test_paragraph_cap_is_strict_and_never_splits_inside_a_sentence():
    text = "Aa bb. Cc dd."  # 6 tokens
    assert approx_token_count(text) == 6
    assert pieces(text, "paragraph", max_step_tokens=6) == [text]
    assert pieces(text, "paragraph", max_step_tokens=5) == ["Aa bb. ", "Cc dd."]
    one_sentence = "word " * 200 + "end."
    assert pieces(one_sentence, "paragraph", max_step_tokens=5) == [one_sentence]


def test_paragraph_and_line_modes_on_blank_lines():
    text = "\n\na\n\n\nb\r\n \r\nc \n d"
    assert pieces(text, "paragraph") == ["\n\na\n\n\n", "b\r\n \r\n", "c \n d"]
    assert pieces(text, "line") == ["\n\na\n\n\n", "b\r\n \r\n", "c \n ", "d"]


@pytest.mark.parametrize("mode", [*MODES, lambda t: [(0, len(t))]])
def test_empty_and_whitespace_only_text(mode):
    assert split_steps("", mode) == []
    assert split_steps(" \n\n\t ", mode) == [(0, 5)]


def test_empty_text_does_not_call_the_splitter():
    def boom(text):
        raise AssertionError("called")

    assert split_steps("", boom) == []


# --- validation --------------------------------------------------------------------------------------

TEXT = "Hello. World."  # length 13


@pytest.mark.parametrize(
    "spans, message",
    [
        ([(0, 5), (7, 13)], "a gap (text[5:7] is in no span) at index 1: (7, 13)"),
        ([(2, 13)], "a gap (text[0:2] is in no span) at index 0: (2, 13)"),
        ([(0, 7), (5, 13)], "an overlap with the previous span at index 1: (5, 13)"),
        ([(0, 7), (7, 7), (7, 13)], "an empty span at index 1: (7, 7)"),
        ([(0, 7), (13, 7)], "a reversed span at index 1: (13, 7)"),
        ([(0, 7)], "not covering the text: they end at 7, the text at 13 (last span (0, 7))"),
        ([], "not covering the text: they end at 0, the text at 13 (no spans)"),
        ([(0, 7), (7, 20)], "a span past the end of the text (length 13) at index 1: (7, 20)"),
        ([(-1, 13)], "a span starting before 0 at index 0: (-1, 13)"),
        ([(0, 6), (6, 7), (7, 13)], "a whitespace-only span"),
        ([(0, 7), (7, 13, 1)], "a malformed span at index 1: (7, 13, 1)"),
        ([(0, 7), ("7", 13)], "a malformed span at index 1: ('7', 13)"),
        (None, "returned NoneType, not a sequence of spans"),
    ],
)
def test_callable_output_is_validated(spans, message):
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        split_steps(TEXT, lambda t: spans)
    assert f"{__name__}.test_callable_output_is_validated.<locals>.<lambda>" in str(error.value)


def test_callable_output_accepts_lists_and_tuples():
    assert split_steps(TEXT, lambda t: [[0, 7], [7, 13]]) == [(0, 7), (7, 13)]
    assert split_steps(TEXT, lambda t: ((0, 13),)) == [(0, 13)]


@pytest.mark.parametrize("mode", ["paragraphs", "Sentence", "", 3, None])
def test_unknown_modes_list_the_valid_ones(mode):
    with pytest.raises(ValueError, match="'paragraph', 'line', 'sentence'"):
        split_steps("text", mode)
    with pytest.raises(ValueError, match="'paragraph', 'line', 'sentence'"):
        describe_splitter(mode)


@pytest.mark.parametrize("cap", [0, -3, 2.5, True, None])
def test_bad_caps_are_rejected(cap):
    with pytest.raises(ValueError, match="max_step_tokens"):
        split_steps("text", max_step_tokens=cap)


# --- approx_token_count and describe_splitter --------------------------------------------------------


@pytest.mark.parametrize(
    "text, count",
    [("", 0), (" \n\t", 0), ("Hello, world!", 4), ("x_1 = 3.5", 5), ("数学 ok", 2), ("$\\frac{a}{b}$", 10)],
)
def test_approx_token_count(text, count):
    assert approx_token_count(text) == count


def module_splitter(text):
    return [(0, len(text))]


class CallableSplitter:
    def __call__(self, text):
        return [(0, len(text))]


def test_describe_splitter():
    assert describe_splitter("paragraph") == "paragraph(max_step_tokens=80)"
    assert describe_splitter("paragraph", 40) == "paragraph(max_step_tokens=40)"
    assert describe_splitter("sentence", 40) == "sentence"
    assert describe_splitter("line") == "line"
    assert describe_splitter(module_splitter).startswith(f"{__name__}.module_splitter#")
    assert describe_splitter(CallableSplitter()).startswith(f"{__name__}.CallableSplitter#")
    assert describe_splitter(lambda t: []).startswith(f"{__name__}.test_describe_splitter.<locals>.<lambda>#")
    partial = functools.partial(split_steps, mode="line")
    assert describe_splitter(partial).startswith("functools.partial(hf_select.steps.split_steps, mode='line')#")
    for mode in [*MODES, module_splitter, partial]:
        description = describe_splitter(mode)
        assert json.loads(json.dumps(description)) == description == describe_splitter(mode)


def _window_splitter(size):
    return lambda text: [(i, min(i + size, len(text))) for i in range(0, len(text), size)]


def test_callable_splitters_are_described_by_their_code_and_closure():
    """Two lambdas (or one factory called twice) that split differently never share a cache key; the same
    code and closure always gives the same description."""
    first, second = (lambda t: [(0, len(t))]), (lambda t: [(0, 1), (1, len(t))] if len(t) > 1 else [(0, len(t))])
    assert describe_splitter(first) != describe_splitter(second)
    assert describe_splitter(_window_splitter(3)) != describe_splitter(_window_splitter(5))
    assert describe_splitter(_window_splitter(3)) == describe_splitter(_window_splitter(3))


def test_a_splitter_that_cannot_be_hashed_is_never_cached():
    import sqlite3

    connection = sqlite3.connect(":memory:")  # an unpicklable closure: no stable identity

    def locked(text):
        assert connection is not None
        return [(0, len(text))]

    with pytest.warns(UserWarning, match="never served from the cache"):
        first = describe_splitter(locked)
    with pytest.warns(UserWarning):
        assert describe_splitter(locked) != first


# --- performance -------------------------------------------------------------------------------------

PATHOLOGICAL = {
    "dots": "." * 50_000,
    "sentences": "Word e.g. 3.5 here. " * 2_500,
    "currency": "$5 " * 16_000,
    "unclosed environments": "\\begin{x} a. B " * 3_000,
    "unclosed brackets": "\\[ a. B " * 6_000,
    "whitespace": " \n" * 25_000,
    "mixed": "A $x$. Then \\[y\\]\n\n" * 2_500,
}


@pytest.mark.parametrize("text", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_long_traces_split_in_linear_time(text):
    start = time.perf_counter()
    for mode in MODES:
        assert_partition(text, split_steps(text, mode))
    assert time.perf_counter() - start < 1.5  # quadratic scanning of 50K characters takes minutes


# --- reasoning-trace markers -----------------------------------------------------------------------------------
MARKED = st.lists(
    st.one_of(st.sampled_from(sorted(MARKERS)), st.sampled_from(FRAGMENTS), st.just("\n\n")), max_size=30
).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=MARKED, mode=st.sampled_from(MODES))
def test_a_marker_is_never_a_step_of_its_own(text, mode):
    spans = split_steps(text, mode)
    assert "".join(text[s:e] for s, e in spans) == text and all(s < e for s, e in spans)
    only_markers = [text[s:e] for s, e in spans if text[s:e].split() and set(text[s:e].split()) <= MARKERS]
    assert not only_markers or len(spans) == 1  # unless the text holds nothing else


def test_opening_markers_join_the_next_step_and_closing_ones_the_previous():
    text = (
        "<|begin_of_thought|>\n\nFirst idea.\n\nSecond idea.\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n"
        "The answer is 4.\n\n<|end_of_solution|>"
    )
    assert [text[s:e] for s, e in split_steps(text)] == [
        "<|begin_of_thought|>\n\nFirst idea.\n\n",
        "Second idea.\n\n<|end_of_thought|>\n\n",
        "<|begin_of_solution|>\n\nThe answer is 4.\n\n<|end_of_solution|>",
    ]
    r1 = "<think>\nFirst, 6 * 7 = 42.\n</think>\n\nSo 42."
    assert [r1[s:e] for s, e in split_steps(r1, "sentence")] == ["<think>\nFirst, 6 * 7 = 42.\n</think>\n\n", "So 42."]
