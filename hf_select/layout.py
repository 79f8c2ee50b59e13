"""How text becomes (context ids, target ids): the conventions every score shares, pinned so anyone can
reproduce the numbers.

- Context and target are tokenised separately and concatenated: the context with the tokenizer's
  special tokens, the target without. The scored tokens are exactly the target's own tokens.
- An empty context becomes one prefix token: BOS if the tokenizer has one, else EOS.
- ``layout="plain"`` puts the prompt before the response as ``prompt + "\\n\\n"`` (a conversation: its
  messages' contents, each followed by a blank line); ``layout="chat"`` renders the prompt as a user turn
  (a conversation as it is, system prompt included) with the tokenizer's chat template and the generation
  prompt (the rendered text already holds the special tokens, so none are added on top); ``"auto"`` is chat
  when the tokenizer has a template.
"""

from __future__ import annotations

import bisect
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from hf_select.errors import ConfigError, ModelNotSupportedError
from hf_select.formats import REASONING_FIELDS
from hf_select.traces import inline_trace

Layout = Literal["auto", "plain", "chat"]
PLAIN_SEPARATOR = "\n\n"


def check_layout(layout: str) -> Layout:
    if layout not in ("auto", "plain", "chat"):
        raise ConfigError(f"layout must be 'auto', 'plain' or 'chat', not {layout!r}")
    return layout  # type: ignore[return-value]


def resolve_layout(tokenizer, layout: Layout) -> Literal["plain", "chat"]:
    if check_layout(layout) == "auto":
        return "chat" if getattr(tokenizer, "chat_template", None) else "plain"
    if layout == "chat" and not getattr(tokenizer, "chat_template", None):
        raise ConfigError("layout='chat' needs a tokenizer with a chat template; use layout='plain'")
    return layout


def prompt_prefix(tokenizer, prompt: str | list[dict[str, str]], layout: Layout) -> tuple[str, bool]:
    """The text that precedes a response (the prompt, or the conversation before an assistant turn), and whether
    the tokenizer should add its special tokens to it."""
    messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}] if prompt else []
    if not messages:
        return "", True
    if resolve_layout(tokenizer, layout) == "chat":
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True), False
    return "".join(m["content"] + PLAIN_SEPARATOR for m in messages), True


_RENDERINGS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def reasoning_rendering(tokenizer, layout: Layout) -> str:
    """How reasoning kept beside the answer is scored, said for the card: always written inline as ``<think>`` before
    the answer (`hf_select.traces.inline_trace`), and whether that is how the student's chat template renders a
    reasoning turn itself (Qwen3's and DeepSeek's templates do, many, SmolLM2's among them, have no place for it)."""
    if resolve_layout(tokenizer, layout) == "plain":
        return "inline: <think> before the answer (plain layout)"
    if tokenizer not in _RENDERINGS:
        _RENDERINGS[tokenizer] = _probe_reasoning(tokenizer)
    return _RENDERINGS[tokenizer]


def _probe_reasoning(tokenizer) -> str:
    question, reasoning, answer = "Q-PROBE", "R-PROBE", "A-PROBE"
    for field in REASONING_FIELDS:
        messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer, field: reasoning}]
        try:
            rendered = tokenizer.apply_chat_template(messages, tokenize=False)
        except Exception:  # noqa: BLE001 - a template that rejects the field has no place for it
            continue
        if reasoning in rendered:
            if inline_trace(reasoning, answer) in rendered:
                return f"inline: <think> before the answer, as the chat template renders `{field}`"
            return (
                f"inline: <think> before the answer (the chat template renders `{field}` in a form of its own; "
                "hf_select scores and trains the <think> form)"
            )
    return "inline: <think> before the answer (the chat template has no place for reasoning)"


def prefix_token(tokenizer) -> int:
    token = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if token is None:
        raise ModelNotSupportedError("The tokenizer has neither a BOS nor an EOS token to stand for an empty context")
    return int(token)


def encode_context(tokenizer, text: str, add_special_tokens: bool = True) -> list[int]:
    ids = tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"] if text else []
    return list(ids) if ids else [prefix_token(tokenizer)]


def encode_target(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


@dataclass(frozen=True)
class TextRequest:
    """A request as text (a score's `requests_for` may return these): the context, whether the tokenizer adds its
    special tokens to it, and the target. A batch's text requests are tokenised together (`encode_requests`)."""

    context: str
    special: bool
    target: str


def encode_requests(tokenizer, requests: Sequence[TextRequest]) -> list[tuple[list[int], list[int]]]:
    """(context ids, target ids) of each text request, exactly as `encode_context` and `encode_target` give them,
    from one tokenizer call per kind over the distinct texts: a fast tokenizer spreads a batch over its threads,
    where one call per text runs on one."""

    def encoded(texts: Iterable[str], special: bool) -> dict[str, list[int]]:
        distinct = [t for t in dict.fromkeys(texts) if t]
        return dict(zip(distinct, batch_ids(tokenizer, distinct, special), strict=True)) if distinct else {}

    contexts = {flag: encoded((r.context for r in requests if r.special == flag), flag) for flag in (True, False)}
    targets = encoded((r.target for r in requests), False)
    prefix = [prefix_token(tokenizer)] if any(not contexts[r.special].get(r.context) for r in requests) else []
    return [(contexts[r.special].get(r.context) or prefix, targets.get(r.target, [])) for r in requests]


def batch_ids(tokenizer, texts: list[str], special: bool) -> list[list[int]]:
    """The token ids of each text, as ``tokenizer(text, add_special_tokens=special)`` gives them: through the fast
    tokenizer's own batch encoder (half the time of the `transformers` call, which builds what scoring never reads)
    once a probe has shown the two agree for this tokenizer, else through the `transformers` call."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and _backend_agrees(tokenizer):
        return [encoding.ids for encoding in backend.encode_batch_fast(texts, add_special_tokens=special)]
    return [list(ids) for ids in tokenizer(texts, add_special_tokens=special)["input_ids"]]


PROBE_TEXTS = [
    "Hello world.",
    " leading space",
    "a\n\nb  c\t",
    "x = 3.5 \\frac{1}{2}, $42$",
    "<s></s><|user|> x",
    "ünïcödé 日本語 🙂",
    "  ",
]
_AGREES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _backend_agrees(tokenizer) -> bool:
    """Whether the backend's batch encoder gives this tokenizer's ids on probe texts, with and without special
    tokens (checked once per tokenizer)."""
    if tokenizer not in _AGREES:
        backend = tokenizer.backend_tokenizer
        _AGREES[tokenizer] = all(
            [e.ids for e in backend.encode_batch_fast(PROBE_TEXTS, add_special_tokens=special)]
            == [list(ids) for ids in tokenizer(PROBE_TEXTS, add_special_tokens=special)["input_ids"]]
            for special in (True, False)
        )
    return _AGREES[tokenizer]


def token_owners(text: str, offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> np.ndarray:
    """The span (sentence, reasoning step) each token of ``text`` belongs to: the one holding the token's first
    non-whitespace character (a whitespace-only token: its first character). Non-decreasing along the text."""
    starts = [start for start, _ in spans]
    owners = np.empty(len(offsets), dtype=np.int64)
    for i, (start, end) in enumerate(offsets):
        piece = text[start:end]
        anchor = start + (len(piece) - len(piece.lstrip())) if piece.strip() else start
        owners[i] = max(0, bisect.bisect_right(starts, min(anchor, len(text) - 1)) - 1)
    return owners
