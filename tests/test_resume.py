"""A run interrupted anywhere, then run again, gives a clean run's numbers to the last bit.

Scores on one model are computed together per chunk and cached per score, so an interrupt can leave a chunk with
some scores cached and others not. The engine agrees with a batch-1 forward to float precision, not to the bit, so
each score's numbers must come from its own requests in its own batches, whatever else is computed beside it: a
resumed chunk that batched the missing scores' requests together (or sized the LM head's chunks by whether ranks
were asked) came out different in the last bits (#32: "one of four resumed runs was not equal").
"""

from __future__ import annotations

import shutil

import datasets
import pytest
from datasets import Dataset, load_from_disk

from hf_select import GlobalNaturalness, LocalNaturalness, RankSurprisal, score
from hf_select.engine import ScoringEngine
from hf_select.scores import base

ROWS = [
    {
        "prompt": f"Question {i}: what is {i} + {i}?",
        "response": f"We add {i} and {i}.\n\nThat makes {2 * i}. Check: {2 * i} - {i} = {i}.\n\nSo {2 * i}.",
    }
    for i in range(12)
]
COLUMNS = (
    "global_naturalness",
    "global_logprob_sum",
    "local_naturalness",
    "local_step_scores",
    "rsr",
    "rsr_mean_rank",
    "rsr_mean_surprisal",
)


def _scored(folder, llama):
    ds = load_from_disk(str(folder))
    out = score(
        ds, GlobalNaturalness(llama), LocalNaturalness(llama), RankSurprisal(llama), checkpoint_rows=4, batch_size=4
    )
    return {column: out[column] for column in COLUMNS}


class Interrupt(KeyboardInterrupt):
    """What Ctrl-C raises, at a chosen point."""


@pytest.mark.parametrize(
    "point",
    [
        "inside a chunk",
        "after a chunk's first score",
        "before a chunk's last score",
        "during a cache write",
        "between chunks",
    ],
)
def test_a_resumed_run_equals_a_clean_run_to_the_last_bit(point, llama, tmp_path, monkeypatch):
    source = tmp_path / "source"
    Dataset.from_list(ROWS).save_to_disk(str(source))
    clean_copy, resumed_copy = tmp_path / "clean", tmp_path / "resumed"
    shutil.copytree(source, clean_copy)
    shutil.copytree(source, resumed_copy)
    clean = _scored(clean_copy, llama)

    calls = {"n": 0}

    def after(n, original):
        def wrapped(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == n:
                raise Interrupt
            return original(*args, **kwargs)

        return wrapped

    with monkeypatch.context() as patch:
        if point == "inside a chunk":  # the second chunk's engine work, once its first run is done
            patch.setattr(ScoringEngine, "score", after(4, ScoringEngine.score))
        elif point == "after a chunk's first score":  # the 2nd chunk: its first score cached, the others not
            patch.setattr(base.TakeColumns, "__init__", after(5, base.TakeColumns.__init__))
        elif point == "before a chunk's last score":  # the 2nd chunk: RSR alone is left, the others cached
            patch.setattr(base.TakeColumns, "__init__", after(6, base.TakeColumns.__init__))
        elif point == "during a cache write":
            patch.setattr(
                datasets.arrow_writer.ArrowWriter, "finalize", after(5, datasets.arrow_writer.ArrowWriter.finalize)
            )
        else:
            patch.setattr(base.SharedPass, "__init__", after(2, base.SharedPass.__init__))
        with pytest.raises(Interrupt):
            _scored(resumed_copy, llama)
    cached = sorted(p.name for p in resumed_copy.glob("cache-*.arrow"))
    assert cached, "the interrupted run cached nothing: the interrupt came too early to test a resume"
    resumed = _scored(resumed_copy, llama)
    for column in COLUMNS:
        assert resumed[column] == clean[column], (point, column)  # equal, not close


def test_the_lm_head_is_chunked_the_same_whether_ranks_are_asked_or_not(llama, monkeypatch):
    """With a real vocabulary the head runs in chunks of rows; their size must not depend on whether a score that
    wants ranks (RSR) runs beside one that does not (global naturalness), or a logit's last bit would."""
    import torch

    from hf_select import engine as engine_module

    vocab = llama.model.get_output_embeddings().weight.shape[0]
    engine = ScoringEngine(llama, head_chunk_bytes=4 * vocab * 2 * 3)  # three rows a chunk, with the rank buffer
    shapes = []
    original = engine_module._logits
    monkeypatch.setattr(
        engine_module,
        "_logits",
        lambda head, chunk, out: shapes.append(tuple(chunk.shape)) or original(head, chunk, out),
    )
    hidden = torch.randn(7, llama.model.config.hidden_size)
    targets = torch.randint(0, vocab, (7,))
    with torch.no_grad():
        plain, _ = engine._head(hidden, targets, ranks=False)
        plain_shapes, shapes[:] = list(shapes), []
        with_ranks, _ = engine._head(hidden, targets, ranks=True)
    assert plain_shapes == shapes and plain_shapes[0][0] == 3
    assert torch.equal(plain, with_ranks)
