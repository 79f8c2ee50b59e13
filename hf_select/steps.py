"""Split a response into short sequential reasoning steps, as character spans.

Local naturalness scores a trace step by step and provenance tracing works sentence by sentence, so both
need the same, reproducible segmentation. Every splitter returns spans that *partition* the text: they
are contiguous, non-empty, start at 0 and end at ``len(text)``, so ``"".join`` of the pieces gives the
text back and no character is scored twice or dropped. Each step owns the whitespace that follows it
(leading whitespace goes to the first step), so no step is whitespace-only unless the whole text is.

Boundaries depend on the text alone (never on a tokenizer), so every student sees the same steps. A step that
holds nothing but reasoning-trace markers (``<think>``, ``</think>``, ``<|begin_of_thought|>``, ...) is not a
reasoning step: the built-in splitters join it to the step after it (to the one before it at the end of the text).
Everything here is linear in the length of the text and uses only the standard library.
"""

from __future__ import annotations

import bisect
import functools
import operator
import re
from collections.abc import Callable, Iterable, Sequence

from hf_select.errors import ConfigError
from hf_select.traces import CLOSING_MARKERS, MARKERS

Span = tuple[int, int]
Splitter = str | Callable[[str], Sequence[tuple[int, int]]]

MODES = ("paragraph", "line", "sentence", "aslec")

_NON_SPACE = re.compile(r"\S")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_LINE_BREAK = re.compile(r"\n\s*")  # ends where the whitespace run holding the line break ends
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n\s*")
_ASLEC_END = re.compile(r"[.?] \s*")  # the ASLEC authors' code splits on ". " and "? ", and on nothing else
# A terminator run (the lookbehind anchors it at the run's start, which keeps long runs of dots linear),
# then closing quotes/brackets/emphasis, then the whitespace the sentence owns.
_CLOSERS = "\"'”’»)\\]*_"
_SENTENCE_END = re.compile(rf"(?<![.!?…])([.!?…]+)[{_CLOSERS}]*\s+")
_CJK_END = re.compile(r"[。！？]+[」』”’）)\]]*\s*")  # CJK sentences end without a following space
_AFTER_MATH = re.compile(rf"[{_CLOSERS}]*\s+")
# `\\` (a LaTeX line break) and `\$` (a literal dollar) are matched first so they never read as delimiters.
_MATH_TOKEN = re.compile(r"\\\\|\\\$|\\begin\{([^{}\n]*)\}|\\end\{[^{}\n]*\}|\$\$|\$|\\\(|\\\)|\\\[|\\\]|\n[^\S\n]*\n")
_CLOSER_OF = {"$$": "$$", "\\(": "\\)", "\\[": "\\]"}

# A "." after these words does not end a sentence. Titles are case-sensitive ("5 ms." ends one).
_ABBREVIATIONS = {"e.g", "i.e", "etc", "vs", "fig", "figs", "eq", "eqs", "approx", "cf", "al"}
_TITLES = {"Dr", "Mr", "Mrs", "Ms", "Prof", "St"}
_ENUMERATOR = re.compile(r"\d+(?:\.\d+)*|[A-Za-z]|[ivx]{1,4}|[IVX]{1,4}")
_LIST_MARKERS = " \t>#*+-"
# Characters that continue a sentence rather than start one ("5! = 120", "x. , y").
_NO_START = frozenset(",;:=+)]}%/^|&~")


def approx_token_count(text: str) -> int:
    """Count ``\\w+`` runs plus non-space punctuation characters.

    A rough subword-token count that does not depend on any tokenizer, so the paragraph cap (and hence
    the step boundaries) is the same whichever student is scored.
    """
    return _count_tokens(text, 0, len(text))


def _count_tokens(text: str, start: int, end: int) -> int:
    return len(_TOKEN.findall(text, start, end))


def split_steps(text: str, mode: Splitter = "paragraph", *, max_step_tokens: int = 80) -> list[Span]:
    """Split ``text`` into reasoning steps, as ``(start, end)`` spans that partition it.

    ``mode``: ``"paragraph"`` (blank-line separated; a paragraph over ``max_step_tokens`` by
    `approx_token_count` is split into sentences, and a sentence is never split), ``"line"`` (one step per
    non-blank line), ``"sentence"`` (sentences *and* lines: a step ends at ``.``, ``!``, ``?`` or an ellipsis
    before a sentence start, and at every line break outside LaTeX math; see `split_sentences`), ``"aslec"``
    (the ASLEC authors' split, wangbing1416/ASLEC: a step ends after every ``". "`` and ``"? "`` and nowhere
    else, not at line breaks, ``!`` or abbreviations), or a callable ``f(text) -> spans`` whose output is checked
    against the partition contract (``ValueError`` naming the problem and the span).
    """
    _check(mode, max_step_tokens)
    if not text:
        return []
    if mode == "line":
        return _join_markers(text, _spans(text, (m.end() for m in _LINE_BREAK.finditer(text))))
    if mode == "sentence":
        return _join_markers(text, split_sentences(text))
    if mode == "aslec":
        return _join_markers(text, _spans(text, (m.end() for m in _ASLEC_END.finditer(text))))
    if mode == "paragraph":
        steps: list[Span] = []
        for start, end in _spans(text, (m.end() for m in _BLANK_LINE.finditer(text))):
            if _count_tokens(text, start, end) > max_step_tokens:
                steps.extend((start + s, start + e) for s, e in split_sentences(text[start:end]))
            else:
                steps.append((start, end))
        return _join_markers(text, steps)
    return _validated(text, mode(text), describe_splitter(mode))


def _join_markers(text: str, spans: list[Span]) -> list[Span]:
    """Join every step made of trace markers alone to a neighbour: a closing marker (``</think>``) to the step
    before it, an opening one (``<think>``) to the step after it; at either end of the text, to the only
    neighbour there is."""
    groups: list[list[Span]] = []
    waiting: list[Span] = []  # opening markers, for the next step
    for start, end in spans:
        words = text[start:end].split()
        if not (words and all(word in MARKERS for word in words)):
            groups.append([*waiting, (start, end)])
            waiting = []
        elif words[0] in CLOSING_MARKERS and groups and not waiting:
            groups[-1].append((start, end))
        else:
            waiting.append((start, end))
    if waiting and groups:
        groups[-1].extend(waiting)
    elif waiting:
        groups.append(waiting)
    return [(group[0][0], group[-1][1]) for group in groups]


def split_sentences(text: str) -> list[Span]:
    """Split ``text`` into sentences; a line break is also a boundary, except inside LaTeX math.

    A sentence ends at ``.``, ``!``, ``?`` or an ellipsis (optionally followed by closing quotes, brackets
    or markdown emphasis) and whitespace, when the next character may start a sentence: not lowercase and
    not continuing punctuation such as ``=`` or ``,``. After an ellipsis the next word must be capitalised.
    A lone ``.`` does not end a sentence after a known abbreviation (``e.g.``, ``Dr.``, ``et al.``), an
    initial (``J. K. Rowling``), a dotted acronym (``U.S.``), ``No.`` before a number, or a list number at
    the start of a line (``1.``, ``a.``, ``iv.``). Nothing inside ``$..$``, ``$$..$$``, ``\\(..\\)``,
    ``\\[..\\]`` or ``\\begin{env}..\\end{env}`` is a boundary, but math whose content ends in a terminator
    ends the sentence once it closes. CJK terminators (``。！？``) end a sentence without a space.
    """
    n = len(text)
    regions = _math_regions(text)
    starts = [start for start, _, _ in regions]

    def in_math(pos: int) -> bool:
        k = bisect.bisect_right(starts, pos) - 1
        return k >= 0 and pos < regions[k][1]

    cuts = [m.end() for m in _LINE_BREAK.finditer(text) if not in_math(m.start())]
    for m in _SENTENCE_END.finditer(text):
        end, punct = m.end(), m.group(1)
        if end == n or not _may_start(text[end]) or in_math(m.start()):
            continue
        if ".." in punct or "…" in punct:  # an ellipsis ends a sentence only before a capital
            if text[end].isupper():
                cuts.append(end)
        elif punct != "." or not _is_abbreviation(text, m.start(), text[end]):
            cuts.append(end)
    cuts.extend(
        m.end() for m in _CJK_END.finditer(text) if m.end() < n and _may_start(text[m.end()]) and not in_math(m.start())
    )
    for start, end, closer in regions:
        if closer < 0:
            continue
        q = closer
        while q > start and text[q - 1].isspace():
            q -= 1
        after = _AFTER_MATH.match(text, end)
        if text[q - 1] in ".!?…" and after and after.end() < n and _may_start(text[after.end()]):
            cuts.append(after.end())
    return _spans(text, cuts)


def describe_splitter(mode: Splitter, max_step_tokens: int = 80) -> str:
    """A stable, JSON-safe description of a splitter, for cache keys and dataset cards.

    A callable is described by ``module.qualname`` and a hash of its code, closure and the globals it uses
    (what `datasets` hashes ``map`` functions by), so editing a lambda or a local function, or calling a
    factory with other arguments, changes the description and misses the cache. A callable that cannot be
    hashed gets a one-off description: it is never served from the cache (a warning says so).
    """
    _check(mode, max_step_tokens)
    if isinstance(mode, str):
        return f"paragraph(max_step_tokens={max_step_tokens})" if mode == "paragraph" else mode
    return f"{_name(mode)}#{_code_hash(mode)}"


def splitter_name(mode: Splitter) -> str:
    """How a splitter is named in cache keys and cards: a mode by its name, a callable as `describe_splitter`."""
    return mode if isinstance(mode, str) else describe_splitter(mode)


def _name(fn: Callable) -> str:
    if isinstance(fn, functools.partial):
        args = [_name(fn.func), *map(repr, fn.args)] + [f"{k}={v!r}" for k, v in sorted(fn.keywords.items())]
        return f"functools.partial({', '.join(args)})"
    module = getattr(fn, "__module__", None) or type(fn).__module__
    qualname = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{module}.{qualname}"


def _code_hash(fn: Callable) -> str:
    from hf_select._compat import hash_callable

    try:
        return hash_callable(fn)[:16]
    except Exception as err:  # an unpicklable closure: no stable identity, so no caching
        import uuid
        import warnings

        warnings.warn(
            f"The splitter {fn!r} cannot be hashed ({type(err).__name__}), so its scores are never served "
            "from the cache. Use a module-level function to cache them.",
            stacklevel=3,
        )
        return f"uncacheable-{uuid.uuid4().hex}"


def _check(mode: Splitter, max_step_tokens: int) -> None:
    if isinstance(mode, str) and mode not in MODES or not isinstance(mode, str) and not callable(mode):
        raise ConfigError(f"Unknown step splitter {mode!r}: use one of {', '.join(map(repr, MODES))} or a callable")
    if isinstance(max_step_tokens, bool) or not isinstance(max_step_tokens, int) or max_step_tokens < 1:
        raise ConfigError(f"max_step_tokens must be a positive int, not {max_step_tokens!r}")


def _spans(text: str, cuts: Iterable[int]) -> list[Span]:
    """Spans between sorted cut points, dropping cuts that would leave a whitespace-only first step."""
    n = len(text)
    if not n:
        return []
    first = _NON_SPACE.search(text)
    if first is None:
        return [(0, n)]
    bounds = [0, *sorted({cut for cut in cuts if first.start() < cut < n}), n]
    return list(zip(bounds, bounds[1:], strict=False))


def _may_start(char: str) -> bool:
    return not char.islower() and char not in _NO_START


def _is_abbreviation(text: str, dot: int, following: str) -> bool:
    """Whether the ``.`` at ``dot`` closes an abbreviation, an initial or a list number, not a sentence."""
    start = dot
    while start > 0 and dot - start < 32 and (text[start - 1].isalnum() or text[start - 1] in "._"):
        start -= 1
    word = text[start:dot].lstrip(".")
    start = dot - len(word)
    if not word:
        return False
    if word.lower() in _ABBREVIATIONS or word in _TITLES or len(word) == 1 and word.isupper():
        return True
    if word.lower() == "no" and following.isdigit():
        return True
    if "." in word and all(len(part) == 1 and part.isalpha() for part in word.split(".")):
        return True  # U.S., a.m.
    if _ENUMERATOR.fullmatch(word):
        while start > 0 and dot - start < 48 and text[start - 1] in _LIST_MARKERS:
            start -= 1
        return start == 0 or text[start - 1] == "\n"
    return False


def _math_regions(text: str) -> list[tuple[int, int, int]]:
    """LaTeX math as sorted ``(start, end, closer_start)``; ``closer_start`` is -1 when never closed.

    Math never spans a blank line, so a stray delimiter can hide boundaries in one paragraph at most:
    unclosed ``$$``, ``\\(``, ``\\[`` or ``\\begin`` run to the blank line (a truncated trace), while an
    unclosed ``$`` is read as a literal dollar. As in Pandoc, an opening ``$`` is followed by a non-space
    and a closing one follows a non-space and precedes no digit ("costs $5 and $10" has no math).
    """
    n = len(text)
    tokens = list(_MATH_TOKEN.finditer(text))
    regions: list[tuple[int, int, int]] = []
    opener, closer, start, resume, depth = "", "", -1, 0, 0  # closer == "": not in math
    dead_dollars = -1  # a "$" before this position found no closer: it is literal
    i = 0
    while True:
        if i == len(tokens):
            if closer == "$":
                dead_dollars, i, closer = n, resume, ""
                continue
            if closer:
                regions.append((start, n, -1))
            return regions
        token = tokens[i]
        tok, pos = token.group(), token.start()
        i += 1
        if not closer:
            if tok == "$":
                if pos >= dead_dollars and pos + 1 < n and not text[pos + 1].isspace():
                    closer, start, resume = "$", pos, i
            elif tok in _CLOSER_OF or token.group(1) is not None:
                opener, start, depth = tok, pos, 1
                closer = _CLOSER_OF.get(tok) or f"\\end{{{token.group(1)}}}"
        elif tok[0] == "\n":
            if closer == "$":
                dead_dollars, i = pos, resume
            else:
                regions.append((start, pos, -1))
            closer = ""
        elif closer == "$":
            if (
                tok in ("$", "$$")
                and not text[pos - 1].isspace()
                and not (tok == "$" and text[pos + 1 : pos + 2].isdigit())
            ):
                regions.append((start, pos + 1, pos))
                closer = ""
                if tok == "$$" and pos + 2 < n and not text[pos + 2].isspace():  # "$a$$b$"
                    closer, start, resume = "$", pos + 1, i
        elif tok == closer:
            depth -= 1
            if not depth:
                regions.append((start, token.end(), pos))
                closer = ""
        elif tok == opener and token.group(1) is not None:  # a nested environment of the same name
            depth += 1


def _validated(text: str, raw: object, name: str) -> list[Span]:
    """Check a custom splitter's output against the partition contract (list-of-lists is accepted)."""
    try:
        items = list(raw)  # type: ignore[call-overload]
    except TypeError:
        raise ConfigError(f"Step splitter {name} returned {type(raw).__name__}, not a sequence of spans") from None
    n, prev, spans = len(text), 0, []
    for k, item in enumerate(items):
        try:
            start, end = (operator.index(x) for x in item)
        except (TypeError, ValueError):
            raise ConfigError(f"Step splitter {name} returned a malformed span at index {k}: {item!r}") from None
        if end <= start:
            problem = "an empty span" if end == start else "a reversed span"
        elif start > prev:
            problem = f"a gap (text[{prev}:{start}] is in no span)"
        elif start < prev:
            problem = "a span starting before 0" if k == 0 else "an overlap with the previous span"
        elif end > n:
            problem = f"a span past the end of the text (length {n})"
        elif text[start:end].isspace() and (start, end) != (0, n):
            problem = "a whitespace-only span (whitespace belongs to the step before it, or to the first)"
        else:
            problem = ""
        if problem:
            raise ConfigError(f"Step splitter {name} returned {problem} at index {k}: {(start, end)}")
        spans.append((start, end))
        prev = end
    if prev != n:
        raise ConfigError(
            f"Step splitter {name} returned spans not covering the text: they end at {prev}, the text at {n}"
            + (f" (last span {spans[-1]})" if spans else " (no spans)")
        )
    return spans
