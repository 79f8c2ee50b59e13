"""Load the shipped `answer_accuracy` evaluate module from its local path, once per process.

Loading from a file path keeps answer checking offline (no Hub lookup). The module is cached per process id,
not just per interpreter, so a forked `datasets` worker never reuses the parent's instance or lock.
"""

from __future__ import annotations

import hashlib
import os
import threading
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing evaluate takes seconds; only answer checking needs it
    import evaluate

METRIC_PATH = Path(__file__).resolve().parent / "answer_accuracy" / "answer_accuracy.py"

_CACHE: dict[int, tuple[evaluate.EvaluationModule, threading.Lock]] = {}
_CACHE_LOCK = threading.Lock()


def _cached() -> tuple[evaluate.EvaluationModule, threading.Lock]:
    pid = os.getpid()
    with _CACHE_LOCK:
        if pid not in _CACHE:
            import evaluate

            # keep_in_memory: no Arrow cache files or file locks on disk for a per-batch computation.
            module = evaluate.load(str(METRIC_PATH), keep_in_memory=True)
            _CACHE[pid] = (module, threading.Lock())
        return _CACHE[pid]


def load_answer_metric() -> evaluate.EvaluationModule:
    """The `answer_accuracy` module, loaded by `evaluate.load` from its shipped path; cached per process."""
    return _cached()[0]


def compute_answers(
    predictions: list[str], references: list[str], timeout_seconds: int | None
) -> dict[str, object]:
    """`compute` under a per-process lock: an evaluate module buffers its inputs, so threads must not mix."""
    module, lock = _cached()
    with lock:
        return module.compute(predictions=predictions, references=references, timeout_seconds=timeout_seconds)


def metric_fingerprint() -> dict[str, str]:
    """What, besides the transform's arguments, decides the answers: the module source and parser versions."""
    return {
        "metric": METRIC_PATH.stem,
        "metric_sha256": hashlib.sha256(METRIC_PATH.read_bytes()).hexdigest(),
        "math_verify_version": metadata.version("math-verify"),
        "latex2sympy2_extended_version": metadata.version("latex2sympy2_extended"),
        "sympy_version": metadata.version("sympy"),
    }
