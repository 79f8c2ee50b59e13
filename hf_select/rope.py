"""Rotary embeddings whose frequencies depend on the sequence's length, and how to score them exactly.

transformers' ``longrope`` (Phi-3, Phi-4-mini) switches from short to long factors once a forward's largest position
passes the model's original context (``original_max_position_embeddings``); ``dynamic`` (dynamic NTK) rescales its
frequencies for the forward's length past the original context, and keeps the grown frequencies for later calls.
A batch-1 forward over a sequence of L tokens uses the frequencies of L. In a padded batch the model would use those
of the batch's widest row, and over a KV cache those of each chunk, so the engine (`hf_select.engine`):

- never puts requests on both sides of the switch in one batch, and feeds every request whole (the last token too),
  so a batch's width is on the same side as each of its rows' lengths;
- runs a ``dynamic`` request longer than the original context alone, in one pass, with the rotary state reset
  first (`RopeSwitch.reset`), as a freshly loaded model would;
- starts a ``longrope`` request that is fed over a KV cache with a first chunk longer than the original context.

Every other rotary type (default, linear, llama3, yarn, ...) is the same for every length and needs none of this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hf_select.errors import ModelNotSupportedError

LENGTH_DEPENDENT = ("longrope", "dynamic")


@dataclass(frozen=True)
class RopeSwitch:
    """Where a model's rotary frequencies change with the sequence's length: past ``threshold`` tokens."""

    kind: str  # "longrope" or "dynamic"
    threshold: int
    modules: tuple[Any, ...] = ()  # the rotary modules (reset before each forward of a "dynamic" model)

    def side(self, length: int) -> bool:
        """Whether a sequence of ``length`` tokens is past the switch."""
        return length > self.threshold

    def alone(self, length: int) -> bool:
        """Whether a request of this length must run alone and whole (dynamic scaling past the original context)."""
        return self.kind == "dynamic" and self.side(length)

    def reset(self) -> None:
        """Put ``dynamic`` rotary state back as loaded, so the next forward computes the frequencies of its own
        length (transformers keeps the frequencies of the longest sequence seen)."""
        if self.kind != "dynamic":
            return
        for module in self.modules:
            for prefix in _prefixes(module):
                original = getattr(module, f"{prefix}original_inv_freq")
                module.register_buffer(f"{prefix}inv_freq", original.clone(), persistent=False)
                setattr(module, f"{prefix}max_seq_len_cached", module.original_max_seq_len)


def _prefixes(module: Any) -> list[str]:
    kinds = module.rope_type
    return (
        [f"{layer}_" for layer, kind in kinds.items() if kind in LENGTH_DEPENDENT] if isinstance(kinds, dict) else [""]
    )


def rope_switch(model: Any) -> RopeSwitch | None:
    """The length switch of a loaded model's rotary embeddings, None when its rotary embeddings ignore length.
    A model whose length-dependent rotary state hf_select cannot read is refused (it could not be scored exactly)."""
    found: list[tuple[str, int, Any]] = []
    for module in model.modules():
        kinds = getattr(module, "rope_type", None)
        if kinds is None:
            continue
        for layer, kind in kinds.items() if isinstance(kinds, dict) else [(None, kinds)]:
            kind = "dynamic" if isinstance(kind, str) and "dynamic" in kind else kind
            if kind not in LENGTH_DEPENDENT:
                continue
            try:
                if kind == "longrope":
                    params = module.config.rope_parameters
                    threshold = (params[layer] if layer else params)["original_max_position_embeddings"]
                else:
                    threshold = module.original_max_seq_len
                    for prefix in _prefixes(module):
                        getattr(module, f"{prefix}original_inv_freq")
            except (AttributeError, KeyError, TypeError):
                raise ModelNotSupportedError(
                    f"{type(model).__name__} uses {kind} rotary embeddings whose state hf_select cannot read in this "
                    "transformers version, so it could not score them exactly; please open an issue"
                ) from None
            found.append((kind, int(threshold), module))
    if not found:
        return None
    kinds, thresholds = {k for k, _, _ in found}, {t for _, t, _ in found}
    if len(kinds) > 1 or len(thresholds) > 1:
        raise ModelNotSupportedError(
            f"{type(model).__name__} mixes length-dependent rotary embeddings "
            f"({sorted(kinds)}, switching at {sorted(thresholds)} tokens); hf_select cannot "
            "score it exactly"
        )
    return RopeSwitch(kinds.pop(), thresholds.pop(), tuple(m for _, _, m in found))
