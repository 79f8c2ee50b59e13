"""No stale build and no stale number: a changed data file is read again, a model is its own files, and
the same scores reached by Python or by a recipe share one cache."""

from __future__ import annotations

import json
import os
import textwrap

from datasets import Dataset, DownloadMode, load_dataset
from huggingface_hub import DatasetCard

from hf_select import LocalNaturalness
from hf_select.hub import write_local
from hf_select.models import load_model
from hf_select.runner import run_recipe_file
from hf_select.sources import load_source

FRESH = DownloadMode.FORCE_REDOWNLOAD
ROWS = {"prompt": ["1+1", "2+2"], "response": ["It is 2.", "It is 4."], "score": [0.5, 0.25]}


def _card(key: str) -> DatasetCard:
    return DatasetCard(
        f"---\nlicense: mit\n---\n<!-- hf_select:split={key} -->\n## {key}\n<!-- /hf_select:split={key} -->\n"
    )


def _write(folder, split="train", **kwargs):
    return write_local(Dataset.from_dict(ROWS), folder, split=split, card=_card(split), **kwargs)


# -- 2. no stale build, and a model is its own files -------------------------------------------------------------
def test_a_local_data_file_changed_at_the_same_size_and_mtime_is_read_again(tmp_path):
    data = tmp_path / "rows.jsonl"
    data.write_text('{"prompt": "1+1", "response": "2"}\n')
    stat = data.stat()
    assert load_source(str(data))["response"] == ["2"]
    data.write_text('{"prompt": "1+1", "response": "3"}\n')  # same size
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same modification time
    assert load_source(str(data))["response"] == ["3"]


def test_scores_computed_in_python_are_reused_by_a_recipe_on_the_same_file(tiny_root, llama, tmp_path, monkeypatch):
    """Same file, score and student: one cache key, whichever entry point computed it first (#29: `hf-select run`
    rebuilt a file hf_select had not loaded itself, which deleted `datasets`' maps cached beside the build). A
    rewrite that changes the modification time is still read again."""
    from hf_select import score
    from hf_select.engine import ScoringEngine

    data = tmp_path / "rows.jsonl"
    Dataset.from_list([{"prompt": f"{i} + {i}?", "response": f"It is {2 * i}."} for i in range(6)]).to_json(data)
    score(load_dataset("json", data_files=str(data), split="train"), LocalNaturalness(llama))
    calls = []
    original = ScoringEngine.score
    monkeypatch.setattr(
        ScoringEngine, "score", lambda self, requests, **kw: calls.append(1) or original(self, requests, **kw)
    )
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        textwrap.dedent(f"""\
        name: reuse
        dataset: {{path: {data}}}
        models: {{student: {{name_or_path: {tiny_root / "llama"}}}}}
        scores: [{{type: local_naturalness, model: student}}]
        select: {{method: none}}
        output: {{dir: {tmp_path / "out"}}}
        """)
    )
    run_recipe_file(str(recipe), push=False)
    assert calls == []  # served from the scores Python computed
    Dataset.from_list([{"prompt": "7 + 7?", "response": "It is 14."}]).to_json(data)
    os.utime(data, (data.stat().st_atime + 5, data.stat().st_mtime + 5))
    assert load_source(str(data))["response"] == ["It is 14."]


def test_file_digests_notice_a_rewrite_and_keep_one_small_entry_per_large_file(tmp_path, monkeypatch):
    """Digests of large files are memoised one entry per file (a single shared file, read and rewritten whole on
    every call, made writing a 10,000-prompt viewer take 50 s instead of 10); a rewrite that keeps the size and
    modification time is still noticed (the change time moves)."""
    from hf_select.digests import MEMO_BYTES, file_digests

    monkeypatch.setenv("HF_SELECT_CACHE", str(tmp_path / "cache"))
    big = tmp_path / "weights.bin"
    big.write_bytes(b"a" * MEMO_BYTES)
    first = file_digests(big)
    assert file_digests(big) == first
    stat = big.stat()
    big.write_bytes(b"b" * MEMO_BYTES)
    os.utime(big, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_digests(big)["sha256"] != first["sha256"]
    for i in range(50):  # small files are hashed, never memoised
        (tmp_path / f"page-{i}.js").write_text(f"page {i}")
        file_digests(tmp_path / f"page-{i}.js")
    assert [p.suffix for p in (tmp_path / "cache" / "digests").iterdir()] == [".json"]


def test_a_models_identity_is_its_own_files_not_its_folder(tiny_root, tmp_path):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_root / "llama", folder)
    identity = load_model(str(folder), lazy=True).identity
    (folder / "README.md").write_text("# my notes on this model\n")
    (folder / "eval").mkdir()
    (folder / "eval" / "results.csv").write_text("step,loss\n")
    assert load_model(str(folder), lazy=True).identity == identity
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": 77}))
    assert load_model(str(folder), lazy=True).identity != identity
