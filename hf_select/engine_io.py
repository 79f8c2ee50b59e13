"""What a score asks of the engine and what it gets back: plain data, no PyTorch.

Scores build `ScoringRequest`s and read `TokenScores`; keeping both apart from `hf_select.engine` lets a
recipe, a flag or a score's columns be checked (and an error printed) without importing PyTorch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ScoringRequest:
    """Score ``target`` given ``context`` (both token ids; the context is never empty)."""

    context: Sequence[int]
    target: Sequence[int]

    def __len__(self) -> int:
        return len(self.context) + len(self.target)


@dataclass
class TokenScores:
    """Per-target-token results of one request."""

    logprobs: np.ndarray  # float32 [len(target)]
    ranks: np.ndarray | None = None  # int64 [len(target)]: 1 + number of vocabulary entries scored higher
