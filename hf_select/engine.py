"""The scoring engine: (context ids, target ids) requests in, per-target-token log-probs out.

Every score (global, local, provenance, rank statistics) reduces to such requests, so speed and memory
are solved once, here:

- requests are sorted by length and grouped under a token budget, right-padded. Right padding needs no
  attention mask: with causal attention a real token never sees the padding that follows it, so the
  plain causal kernel runs and the real positions are exact;
- the transformer body runs once per request; the LM head runs only at scored positions, in chunks
  bounded in bytes, followed by log-softmax and a gather: no ``[batch, length, vocab]`` tensor exists;
- a request longer than the budget runs alone; beyond ``long_threshold`` tokens it runs in chunks over a KV
  cache, so memory stays bounded for 32K-token traces (a recurrent model, which has no KV cache, runs whole);
- rotary embeddings that depend on the sequence's length (LongRoPE, dynamic NTK) get the frequencies a batch-1
  forward would use (see `hf_select.rope`); what the model's own head does after the matmul (Granite's logit
  scaling, Cohere's logit scale, Gemma's soft-capping) is applied too, and checked once per model;
- results come back in the original order and do not depend on how requests were grouped.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from hf_select.engine_io import ScoringRequest, TokenScores
from hf_select.errors import ModelNotSupportedError, ScoringInputError
from hf_select.models import ScoringModel
from hf_select.rope import RopeSwitch, rope_switch

# LM-head chunks hold at most this many bytes of fp32 logits, in one buffer reused for every chunk. Large
# enough for 128 rows of Gemma-3's 262K vocabulary: fewer rows per chunk starve the matmul (measured).
HEAD_CHUNK_BYTES = 128 * 2**20


@dataclass
class EngineStats:
    """Counters that explain where time goes (reported by `hf-select bench`)."""

    requests: int = 0
    forward_calls: int = 0
    tokens: int = 0  # real tokens fed to the body
    padded_tokens: int = 0  # slots fed, padding included
    scored_tokens: int = 0

    @property
    def padding_waste(self) -> float:
        return 1.0 - self.tokens / self.padded_tokens if self.padded_tokens else 0.0


@dataclass
class ScoringEngine:
    """Batched scorer for one model.

    ``token_budget`` bounds the padded tokens of one forward pass: large on GPUs (launch-bound), about 1K
    on CPUs, where activations that stay in cache beat bigger batches (measured with `hf-select bench`).
    ``compile=True`` runs the body through ``torch.compile`` (dynamic shapes). Requests longer than
    ``long_threshold`` (default: 4 x the budget) are fed in budget-sized chunks through a KV cache.
    """

    model: ScoringModel
    token_budget: int | None = None
    long_threshold: int | None = None
    head_chunk_bytes: int = HEAD_CHUNK_BYTES
    compile: bool = False
    stats: EngineStats = field(default_factory=EngineStats)

    def __post_init__(self) -> None:
        if self.token_budget is None:
            self.token_budget = 16384 if self.model.device.startswith("cuda") else 1024
        if self.long_threshold is None:
            self.long_threshold = 4 * self.token_budget
        self._compiled = None
        self._rope: RopeSwitch | None | bool = False  # read from the model on first use (it may load lazily)

    @property
    def rope(self) -> RopeSwitch | None:
        """The model's rotary length switch, if its rotary frequencies depend on the sequence's length."""
        if self._rope is False:
            self._rope = rope_switch(self.model.model)
        return self._rope  # type: ignore[return-value]

    # -- public -------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def score(
        self,
        requests: Sequence[ScoringRequest],
        *,
        ranks: bool = False,
        on_done: Callable[[list[int]], None] | None = None,
    ) -> list[TokenScores]:
        """Log-probs (and optionally ranks) of every target token, in the order of ``requests``.

        ``on_done(indices)`` is called after each forward pass with the requests it finished (progress)."""
        for i, request in enumerate(requests):
            if not request.context or not request.target:
                raise ScoringInputError(
                    None, f"request {i} has an empty context or target; contexts hold at least one token"
                )
        _check_head(self.model)
        results: list[TokenScores | None] = [None] * len(requests)
        for batch in self._batches(requests):
            alone = requests[batch[0]] if len(batch) == 1 else None
            if alone is not None and len(alone) > self.long_threshold and self._chunkable(alone):
                results[batch[0]] = self._score_long(alone, ranks)
            else:
                scored = self._score_batch([requests[i] for i in batch], ranks)
                for i, scores in zip(batch, scored, strict=True):
                    results[i] = scores
            if on_done is not None:
                on_done(batch)
        self.stats.requests += len(requests)
        return results  # type: ignore[return-value]

    # -- batching -----------------------------------------------------------------------------------------
    def _batches(self, requests: Sequence[ScoringRequest]) -> list[list[int]]:
        """Indices grouped longest-first so that each batch's padded size stays under the budget (and, for
        length-dependent rotary embeddings, on one side of their switch)."""
        order = sorted(range(len(requests)), key=lambda i: (-len(requests[i]), i))
        rope = self.rope
        batches: list[list[int]] = []
        for i in order:
            head = len(requests[batches[-1][0]]) if batches else 0
            fits = bool(batches) and (len(batches[-1]) + 1) * head <= self.token_budget
            if fits and rope is not None:
                n = len(requests[i])
                fits = rope.side(n) == rope.side(head) and not rope.alone(n) and not rope.alone(head)
            if fits:
                batches[-1].append(i)
            else:
                batches.append([i])
        return batches

    def _chunkable(self, request: ScoringRequest) -> bool:
        """Whether a long request may run over a KV cache: its rotary frequencies allow it, and feeding this model
        in chunks over a cache reproduces one whole pass (checked once per model: a recurrent model's state does
        not live in a KV cache, so it runs whole; its memory grows linearly anyway)."""
        rope = self.rope
        return not (rope and rope.alone(len(request))) and _chunks_reproduce_a_whole_pass(self)

    def _fed(self, request: ScoringRequest) -> list[int]:
        """The tokens fed for a request: all but the last (it predicts nothing scored), unless the rotary
        frequencies depend on the length, where the model must see the whole sequence's length."""
        sequence = list(request.context) + list(request.target)
        return sequence if self.rope is not None else sequence[:-1]

    def _score_batch(self, batch: list[ScoringRequest], ranks: bool) -> list[TokenScores]:
        device = self.model.input_device
        if self.rope is not None:
            self.rope.reset()  # a dynamic rotary embedding computes the frequencies of this forward's length
        fed = [self._fed(request) for request in batch]
        width = max(len(sequence) for sequence in fed)
        pad = batch[0].context[0]  # any real id: padded positions are never read
        ids = np.full((len(batch), width), pad, dtype=np.int64)  # built in numpy: torch.tensor(list) is 5x slower
        for b, sequence in enumerate(fed):
            ids[b, : len(sequence)] = sequence
        lengths = np.array([len(request.target) for request in batch])
        rows = np.repeat(np.arange(len(batch)), lengths)
        # the position whose output predicts each target token: its request's context length - 1, onwards
        starts = np.repeat(
            np.array([len(request.context) - 1 for request in batch]) - np.cumsum(lengths) + lengths, lengths
        )
        positions = starts + np.arange(len(rows))
        targets = np.concatenate([np.asarray(request.target, dtype=np.int64) for request in batch])
        hidden = self._body(torch.from_numpy(ids).to(device))
        scored = hidden[torch.from_numpy(rows).to(hidden.device), torch.from_numpy(positions).to(hidden.device)]
        logprobs, token_ranks = self._head(scored, torch.from_numpy(targets), ranks)
        self.stats.forward_calls += 1
        self.stats.tokens += sum(len(sequence) for sequence in fed)
        self.stats.padded_tokens += ids.size
        return _split(batch, logprobs, token_ranks)

    def _score_long(self, request: ScoringRequest, ranks: bool) -> TokenScores:
        """One request over the budget: feed it in chunks through a KV cache and score each chunk's outputs."""
        from transformers import DynamicCache

        if self.rope is not None:
            self.rope.reset()
        sequence = torch.tensor(list(request.context) + list(request.target))
        fed, scored_end = len(self._fed(request)), len(sequence) - 1  # positions < scored_end predict a target
        first = len(request.context) - 1
        cache = DynamicCache(config=self.model.model.config)
        logprobs, token_ranks = [], []
        for start, stop in self._chunks(fed):
            hidden = self._body(sequence[None, start:stop].to(self.model.input_device), cache=cache)[0]
            self.stats.forward_calls += 1
            lo, hi = max(first, start), min(stop, scored_end)
            if lo >= hi:
                continue
            lp, rk = self._head(hidden[lo - start : hi - start], sequence[lo + 1 : hi + 1], ranks)
            logprobs.append(lp)
            if rk is not None:
                token_ranks.append(rk)
        self.stats.tokens += fed
        self.stats.padded_tokens += fed
        return TokenScores(torch.cat(logprobs).numpy(), torch.cat(token_ranks).numpy() if ranks else None)

    def _chunks(self, length: int) -> list[tuple[int, int]]:
        """Budget-sized spans of a long request; under LongRoPE past its switch, the first span reaches past the
        switch, so every chunk uses the long factors a batch-1 forward over the whole sequence uses."""
        rope, chunk = self.rope, self.token_budget
        first = max(chunk, rope.threshold + 1) if rope is not None and rope.side(length) else chunk
        starts = [0, *range(first, length, chunk)]
        return [(start, min(stop, length)) for start, stop in zip(starts, [*starts[1:], length], strict=True)]

    # -- the two halves of a forward pass ---------------------------------------------------------------
    def _body(self, ids: torch.Tensor, cache=None) -> torch.Tensor:
        body = self.model.model.base_model
        if self.compile and cache is None:
            if self._compiled is None:
                self._compiled = torch.compile(body, dynamic=True)
            body = self._compiled
        if cache is None:
            return body(input_ids=ids, use_cache=False).last_hidden_state
        return body(input_ids=ids, use_cache=True, **{_cache_argument(body): cache}).last_hidden_state

    def _head(self, hidden: torch.Tensor, targets: torch.Tensor, ranks: bool):
        """Log-softmax (and ranks) at the given positions only, a bounded chunk of rows at a time.

        Each chunk's logits go into one reused buffer and are normalised in place: on CPUs a fresh
        allocation of this size is mapped and page-faulted on every chunk, which halved the head's speed."""
        head = self.model.model.get_output_embeddings()
        hidden = hidden.to(head.weight.device)
        targets = targets.to(head.weight.device)
        config = self.model.model.config
        vocab = head.weight.shape[0]
        # sized for the rank buffer too, asked or not: a chunk's shape (and so a logit's last bit) must never depend
        # on whether a score that wants ranks runs beside this one
        rows = max(1, min(hidden.shape[0], self.head_chunk_bytes // (4 * vocab * 2)))
        buffer = torch.empty(rows, vocab, dtype=head.weight.dtype, device=head.weight.device)
        # ranks count larger logits as float 0/1 in a second buffer (exact below 2**24 entries): summing a bool
        # comparison instead took 4x the time of the whole softmax on CPUs
        above = torch.empty(rows, vocab, dtype=torch.float32, device=head.weight.device) if ranks else None
        logprobs, token_ranks = [], []
        for start in range(0, hidden.shape[0], rows):
            chunk = hidden[start : start + rows]
            logits = _finish_(_logits(head, chunk, buffer[: chunk.shape[0]]).float(), config)
            target_logits = logits.gather(1, targets[start : start + rows, None])
            if above is not None:
                larger = torch.gt(logits, target_logits, out=above[: chunk.shape[0]]).sum(dim=-1)
                token_ranks.append(larger.to(torch.int64) + 1)
            top = logits.amax(dim=-1, keepdim=True)
            total = logits.sub_(top).exp_().sum(dim=-1, keepdim=True)
            logprobs.append((target_logits - top - total.log()).squeeze(1))
        self.stats.scored_tokens += hidden.shape[0]
        lp = torch.cat(logprobs).cpu()
        return lp, (torch.cat(token_ranks).cpu() if ranks else None)


def _cache_argument(body: torch.nn.Module) -> str | None:
    """The name of the KV-cache argument (``cache`` since transformers 5.x renamed ``past_key_values``); None for a
    model without a KV cache (a recurrent one)."""
    parameters = inspect.signature(getattr(body, "_orig_mod", body).forward).parameters
    return next((name for name in ("cache", "past_key_values") if name in parameters), None)


def _logits(head: torch.nn.Module, hidden: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``head(hidden)`` for a linear output head, written into ``out`` ([rows, vocab])."""
    torch.mm(hidden.to(head.weight.dtype), head.weight.t(), out=out)
    if getattr(head, "bias", None) is not None:
        out.add_(head.bias)
    return out


def _finish_(logits: torch.Tensor, config) -> torch.Tensor:
    """What the model's own forward does to the logits after the output matmul, in place: Granite's
    ``logits_scaling`` (a divisor), Cohere's ``logit_scale`` (a factor), Gemma-2-style ``final_logit_softcapping``."""
    scaling, scale = getattr(config, "logits_scaling", None), getattr(config, "logit_scale", None)
    if scaling not in (None, 1, 1.0):
        logits.div_(scaling)
    if scale not in (None, 1, 1.0):
        logits.mul_(scale)
    softcap = getattr(config, "final_logit_softcapping", None)
    return logits.div_(softcap).tanh_().mul_(softcap) if softcap else logits


def _split(batch: list[ScoringRequest], logprobs: torch.Tensor, ranks: torch.Tensor | None) -> list[TokenScores]:
    out, offset = [], 0
    lp = logprobs.numpy()
    rk = ranks.numpy() if ranks is not None else None
    for request in batch:
        n = len(request.target)
        out.append(TokenScores(lp[offset : offset + n], None if rk is None else rk[offset : offset + n]))
        offset += n
    return out


_CHUNKING_CHECKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _chunks_reproduce_a_whole_pass(engine: ScoringEngine) -> bool:
    """Once per model: do chunks fed over a `DynamicCache` give the hidden states of one whole pass?"""
    from transformers import DynamicCache

    lm = engine.model.model
    if lm not in _CHUNKING_CHECKED:
        body, argument = lm.base_model, _cache_argument(lm.base_model)
        ok = argument is not None
        if ok:
            probe = torch.arange(3, 3 + 24, device=engine.model.input_device) % lm.config.get_text_config().vocab_size
            with torch.inference_mode():
                if engine.rope is not None:
                    engine.rope.reset()
                whole = body(input_ids=probe[None], use_cache=False).last_hidden_state[0].float()
                cache = DynamicCache(config=lm.config)
                parts = [
                    body(input_ids=probe[None, start : start + 8], use_cache=True, **{argument: cache})
                    .last_hidden_state[0]
                    .float()
                    for start in range(0, 24, 8)
                ]
            tolerance = 1e-3 if lm.dtype == torch.float32 else 5e-2
            ok = torch.allclose(torch.cat(parts), whole, atol=tolerance * max(1.0, whole.abs().max().item()))
        _CHUNKING_CHECKED[lm] = ok
    return _CHUNKING_CHECKED[lm]


_HEAD_CHECKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _check_head(model: ScoringModel) -> None:
    """Once per model: the body + output head must reproduce the model's own logits.

    The engine applies the LM head itself (only where scored). An architecture that transforms logits in
    a way the engine does not know would silently give wrong numbers, so it is refused instead.
    """
    lm = model.model
    if lm in _HEAD_CHECKED:
        return
    probe = torch.arange(1, 9, device=model.input_device)[None] % lm.config.get_text_config().vocab_size
    with torch.inference_mode():
        expected = lm(input_ids=probe).logits[0, -1].float()
        hidden = lm.base_model(input_ids=probe).last_hidden_state[0, -1:]
        head = lm.get_output_embeddings()
        out = torch.empty(1, head.weight.shape[0], dtype=head.weight.dtype, device=head.weight.device)
        got = _finish_(_logits(head, hidden, out)[0].float(), lm.config)
    tolerance = 1e-3 if expected.dtype == torch.float32 and lm.dtype == torch.float32 else 5e-2
    if not torch.allclose(expected.to(got.device), got, atol=tolerance * max(1.0, expected.abs().max().item())):
        raise ModelNotSupportedError(
            f"{type(lm).__name__}: applying its output embeddings to the body's hidden states does not "
            "reproduce its logits, so hf_select cannot score it exactly. Please open an issue with the model id."
        )
    _HEAD_CHECKED[lm] = True
