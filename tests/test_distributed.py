"""Recipes under `accelerate launch` (2 CPU processes over gloo, tiny models): the same split and card as one
process, a rank killed mid-run and the command rerun, and the rules for devices under a launcher."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset

from hf_select.cli import main
from hf_select.errors import ConfigError
from hf_select.models import ModelConfig, default_device

RECIPE = "proxy_comparison"  # every kind of pass: answers, shared model passes, local, a pooled regression, compare


def _overrides(tiny_root: Path) -> list[str]:
    return [
        f"models.student.name_or_path={tiny_root / 'llama'}",
        "dataset.limit=24",
        "checkpoint_rows=4",
        "output.dir=out",
    ]


def _launch(cwd: Path, overrides: list[str], env: dict[str, str], module: str = "hf_select.cli"):
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        module,
        "run",
        RECIPE,
        "--dry-run",
        *(w for o in overrides for w in ("--set", o)),
    ]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **extra}


def _one_process(tiny_root: Path, cwd: Path, monkeypatch) -> None:
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert main(["run", RECIPE, "--dry-run", *(w for o in _overrides(tiny_root) for w in ("--set", o))]) == 0


def _float_lists(values: list) -> bool:
    """A column of lists of floats (step scores): compared to float rounding, as float columns are."""
    items = [x for v in values if isinstance(v, list) for x in v]
    return bool(items) and all(isinstance(v, list) for v in values) and all(isinstance(x, float) for x in items)


def _assert_same_output(one: Path, two: Path) -> None:
    """The same curated split (every column) and the same card (numbers to their printed precision)."""
    a, b = load_dataset(str(one), split="train"), load_dataset(str(two), split="train")
    assert a.column_names == b.column_names and len(a) == len(b) > 0
    for column in a.column_names:
        x, y = a[column], b[column]
        if _float_lists(x):
            assert [len(v) for v in y] == [len(v) for v in x], column
            x, y = [f for v in x for f in v], [f for v in y for f in v]
        if x and isinstance(x[0], float):  # to float rounding: the batches differ
            np.testing.assert_allclose(y, x, atol=1e-6, rtol=0, err_msg=column)
        else:
            assert y == x, column
    cards = [(folder / "README.md").read_text() for folder in (one, two)]
    number = r"-?\d+\.\d+"
    assert re.sub(number, "#", cards[0]) == re.sub(number, "#", cards[1])
    np.testing.assert_allclose(*(np.array(re.findall(number, card), dtype=float) for card in cards), atol=2e-4)


def test_a_recipe_under_accelerate_launch_equals_one_process(tiny_root, tmp_path, monkeypatch):
    _one_process(tiny_root, tmp_path / "one", monkeypatch)
    (tmp_path / "two").mkdir()
    done = _launch(tmp_path / "two", _overrides(tiny_root), _env())
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Which score to trust on this data") == 1  # the main process reports, once
    _assert_same_output(tmp_path / "one" / "out", tmp_path / "two" / "out")
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["out"]  # nothing beside the output


def test_a_killed_rank_loses_at_most_its_chunk_and_the_rerun_finishes(tiny_root, tmp_path, monkeypatch):
    _one_process(tiny_root, tmp_path / "one", monkeypatch)
    two, cache = tmp_path / "two", str(tmp_path / "cache")  # a cache of its own: nothing scored before
    two.mkdir()
    killed = _launch(
        two,
        _overrides(tiny_root),
        _env(HF_DATASETS_CACHE=cache, HF_SELECT_TEST_KILL_RANK="1", HF_SELECT_TEST_KILL_AFTER="2"),
        module="launch_helper",
    )
    assert killed.returncode != 0 and not (two / "out").exists()  # rank 1 died: nothing written
    counts = tmp_path / "requests"
    rerun = _launch(
        two,
        _overrides(tiny_root),
        _env(HF_DATASETS_CACHE=cache, HF_SELECT_TEST_COUNT=str(counts)),
        module="launch_helper",
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    _assert_same_output(tmp_path / "one" / "out", two / "out")
    fresh = tmp_path / "fresh"
    again = _launch(
        two,
        [*_overrides(tiny_root)[:-1], "output.dir=out2"],
        _env(HF_DATASETS_CACHE=str(tmp_path / "cache2"), HF_SELECT_TEST_COUNT=str(fresh)),
        module="launch_helper",
    )
    assert again.returncode == 0, again.stderr[-3000:]

    def requests(prefix: Path, rank: int) -> int:
        log = Path(f"{prefix}.{rank}")
        return sum(int(n) for n in log.read_text().split()) if log.exists() else 0

    assert requests(counts, 1) < requests(fresh, 1)  # rank 1 reused the chunks it finished before it died
    assert requests(counts, 0) + requests(counts, 1) < requests(fresh, 0) + requests(fresh, 1)


def test_each_process_of_a_launch_takes_its_own_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setenv("LOCAL_RANK", "5")
    assert default_device() == "cuda:1"
    monkeypatch.delenv("LOCAL_RANK")
    assert default_device() == "cuda"


def test_device_map_under_several_processes_per_machine_is_refused(monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    with pytest.raises(ConfigError, match="one process per machine"):
        ModelConfig("some/model", device_map="auto")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert ModelConfig("some/model", device_map="auto").device_map == "auto"


def test_more_processes_than_rows(tiny_root, tmp_path):
    """One row, two processes: the rank without a row waits, and the output is the one-process output (#29: it
    crashed with an IndexError)."""
    from datasets import Dataset, load_from_disk

    data = tmp_path / "one-row.jsonl"
    Dataset.from_list([{"prompt": "What is 2 + 2?", "response": "It is 4.\n\nCheck: 4 - 2 = 2."}]).to_json(data)
    model = str(tiny_root / "llama")
    assert main(["score", str(data), "--model", model, "--out", str(tmp_path / "one")]) == 0
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "hf_select.cli",
        "score",
        str(data),
        "--model",
        model,
        "--out",
        str(tmp_path / "two"),
    ]
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = load_from_disk(str(tmp_path / "one")), load_from_disk(str(tmp_path / "two"))
    assert len(two) == 1 and two["local_naturalness"] == pytest.approx(one["local_naturalness"], abs=1e-6)
