"""Scoring on a local Ray cluster started by these tests (2 CPUs, no network): the same split and card as one process,
an actor killed mid-run retried with the same result, and Parquet written by Ray read by the viewer and the
comparison. Ray is a test dependency: a missing Ray fails here, loudly, with its install line."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from datasets import Dataset, load_dataset
from test_distributed import RECIPE, _assert_same_output, _overrides
from test_naturalness import ROWS

from hf_select import GlobalNaturalness, LocalNaturalness, score
from hf_select.cli import main
from hf_select.errors import ConfigError
from hf_select.scores import SCORES
from hf_select.scores.base import Scorer

INSTALL = 'pip install -e ".[test,ray]"'


@pytest.fixture(scope="module")
def ray_cluster():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        pytest.fail(f"the Ray tests need Ray Data, which is not installed here; install it with: {INSTALL}")
    # this test module is pickled by value, so the actors need not import it
    ray.cloudpickle.register_pickle_by_value(__import__(__name__))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def _local_overrides(tiny_root: Path) -> list[str]:
    return [o for o in _overrides(tiny_root) if not o.startswith("checkpoint_rows")]  # Ray checkpoints batches


def _ray_overrides(tiny_root: Path, checkpoints: Path, **extra: str) -> list[str]:
    options = {"type": "ray", "actors": "2", "batch_size": "5", "checkpoint_dir": str(checkpoints), **extra}
    return [*_local_overrides(tiny_root), *(f"executor.{key}={value}" for key, value in options.items())]


def _run(cwd: Path, overrides: list[str]) -> int:
    cwd.mkdir(exist_ok=True)
    here = os.getcwd()
    os.chdir(cwd)
    try:
        return main(["run", RECIPE, "--dry-run", *(w for o in overrides for w in ("--set", o))])
    finally:
        os.chdir(here)


def _comparable_card(folder: Path) -> None:
    """What may differ between the two cards: the command (the executor's words) and the byte sizes of the data
    files (floats equal to rounding, not to the last bit, compress to a few bytes more or less)."""
    card = folder / "README.md"
    text = re.sub(r" --set executor\.\S+", "", card.read_text())
    card.write_text(re.sub(r"(size|num_bytes): \d+", r"\1: #", text))


def test_a_recipe_on_ray_equals_one_process(ray_cluster, tiny_root, tmp_path):
    assert _run(tmp_path / "one", _local_overrides(tiny_root)) == 0
    assert _run(tmp_path / "ray", _ray_overrides(tiny_root, tmp_path / "checkpoints")) == 0
    for run in ("one", "ray"):
        _comparable_card(tmp_path / run / "out")
    _assert_same_output(tmp_path / "one" / "out", tmp_path / "ray" / "out")
    assert "executor" not in (tmp_path / "ray" / "out" / "README.md").read_text()


class _DiesOnce(Scorer):
    """Global naturalness whose actor dies (the whole process) the first time it scores: a node lost mid-run."""

    name = "dies_once"
    columns = GlobalNaturalness.columns
    fields = GlobalNaturalness.fields
    Params = GlobalNaturalness.Params
    marker: str = ""

    def requests_for(self, row):
        if not Path(self.marker).exists():
            Path(self.marker).touch()
            os._exit(1)
        return GlobalNaturalness.requests_for(self, row)

    def columns_for(self, row, requests, results):
        return GlobalNaturalness.columns_for(self, row, requests, results)


def test_an_actor_killed_mid_run_is_retried_and_the_result_is_the_same(ray_cluster, llama, tmp_path):
    from hf_select.ray import RayOptions, score_split_ray

    rows = Dataset.from_list(ROWS)
    dies = _DiesOnce(llama)
    dies.marker = str(tmp_path / "died")
    options = RayOptions(actors=2, batch_size=2, checkpoint_dir=str(tmp_path / "checkpoints"))
    scored = score_split_ray(rows, dies, LocalNaturalness(llama), options=options)
    assert Path(dies.marker).exists()  # an actor did die
    alone = score(rows, GlobalNaturalness(llama), LocalNaturalness(llama))
    np.testing.assert_allclose(scored["global_naturalness"], alone["global_naturalness"], atol=1e-6)
    np.testing.assert_allclose(scored["local_naturalness"], alone["local_naturalness"], atol=1e-6)
    assert scored.column_names == alone.column_names, (scored.column_names, alone.column_names)


def test_a_rerun_serves_every_finished_batch_from_its_checkpoint(ray_cluster, llama, tmp_path, monkeypatch):
    from hf_select.ray import RayOptions, score_split_ray

    rows = Dataset.from_list(ROWS)
    options = RayOptions(actors=1, batch_size=3, checkpoint_dir=str(tmp_path / "checkpoints"))
    first = score_split_ray(rows, GlobalNaturalness(llama), options=options)
    files = sorted((tmp_path / "checkpoints").glob("*.parquet"))
    assert len(files) == -(-len(rows) // 3)  # one per batch
    stamps = [f.stat().st_mtime_ns for f in files]
    again = score_split_ray(rows, GlobalNaturalness(llama), options=options)
    assert again["global_naturalness"] == first["global_naturalness"]
    assert [f.stat().st_mtime_ns for f in files] == stamps  # read, not written again
    other = score_split_ray(rows, GlobalNaturalness(llama, layout="plain"), options=options)
    assert other["global_naturalness"] != first["global_naturalness"]  # another parameter, another key
    assert len(list((tmp_path / "checkpoints").glob("*.parquet"))) == 2 * len(files)


def test_parquet_written_by_ray_is_read_by_the_viewer_and_the_comparison(ray_cluster, llama, tmp_path):
    from hf_select import compare_scores
    from hf_select.ray import RayOptions, score_ray

    rows = Dataset.from_list([{**row, "is_correct": i % 2 == 0} for i, row in enumerate(ROWS)])
    data = ray_cluster.data.from_arrow(rows.with_format("arrow")[:])
    scored = score_ray(data, GlobalNaturalness(llama), LocalNaturalness(llama), options=RayOptions(actors=2))
    scored.write_parquet(str(tmp_path / "scored"))
    files = sorted(str(p) for p in (tmp_path / "scored").glob("*.parquet"))
    back = load_dataset("parquet", data_files=files, split="train")
    assert sorted(back["local_naturalness"]) == pytest.approx(
        sorted(score(rows, LocalNaturalness(llama))["local_naturalness"]), abs=1e-6
    )
    report = compare_scores(
        back, ["local_naturalness", "global_naturalness"], "teacher", "prompt", bootstrap=200, prompts="all"
    )
    assert {row["score"] for row in report.scores} == {"local_naturalness", "global_naturalness"}
    assert main(["view", str(tmp_path / "scored"), "--out", str(tmp_path / "viewer2")]) == 0
    page = (tmp_path / "viewer2" / "data" / "page-00000.js").read_text()
    assert '"steps"' in page  # the stored step spans are shaded, read back from Ray's Parquet


def test_a_pooled_pass_is_refused_batch_by_batch_and_a_typo_before_scoring(ray_cluster, llama, tiny_root, tmp_path):
    from hf_select import Aslec
    from hf_select.ray import score_ray

    data = ray_cluster.data.from_arrow(Dataset.from_list(ROWS).with_format("arrow")[:])
    with pytest.raises(ConfigError, match="fitted over the whole split"):
        score_ray(data, Aslec(llama))
    assert _run(tmp_path / "typo", [*_overrides(tiny_root), "executor.actors=2"]) == 2  # applies to ray only
    assert "dies_once" not in SCORES


def test_a_ray_run_that_cannot_start_is_refused_before_scoring(monkeypatch):
    import sys

    from hf_select.ray import check_ray

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="not under `accelerate launch`"):
        check_ray()
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ConfigError, match=re.escape('pip install "hf_select[ray]"')):
        check_ray()


def test_a_row_that_cannot_be_scored_is_named_by_its_row_of_the_split(ray_cluster, llama, tmp_path):
    from hf_select import ScoringInputError
    from hf_select.ray import RayOptions, score_split_ray

    rows = Dataset.from_list([*ROWS, {**ROWS[0], "prompt": " "}])  # the last row: an empty prompt
    options = RayOptions(actors=2, batch_size=3, checkpoint_dir=str(tmp_path / "checkpoints"))
    with pytest.raises(ScoringInputError, match=rf"row {len(ROWS)}, column 'prompt': the prompt is empty"):
        score_split_ray(rows, GlobalNaturalness(llama), options=options)


def test_executor_ray_is_the_short_form_and_a_typo_is_named(tmp_path):
    from hf_select.errors import RecipeError
    from hf_select.recipes import load_recipe

    recipe = tmp_path / "r.yaml"
    base = "name: x\ndataset: {path: hf_select:math_teachers}\nscores: [{type: answer_check}]\n"
    recipe.write_text(base + "executor: ray\n")
    assert load_recipe(str(recipe)).executor.type == "ray"
    recipe.write_text(base + "executor: rya\n")
    with pytest.raises(RecipeError, match=r"r.yaml.*`executor.type` must be one of \['local', 'ray'\], got 'rya'"):
        load_recipe(str(recipe))
    recipe.write_text(base + "executor: {type: ray, actor: 2}\n")
    with pytest.raises(RecipeError, match=r"r.yaml:4: unknown key `executor.actor`"):
        load_recipe(str(recipe))


def test_gpus_the_cluster_lacks_and_a_setting_ray_ignores_are_refused(ray_cluster, llama, tiny_root, tmp_path):
    from hf_select.ray import RayOptions, score_split_ray

    with pytest.raises(ConfigError, match="asks for 1 GPU.*the Ray cluster has 0"):  # not a wait for ever
        score_split_ray(Dataset.from_list(ROWS), GlobalNaturalness(llama), options=RayOptions(gpus_per_actor=1))
    overrides = [*_ray_overrides(tiny_root, tmp_path / "checkpoints"), "checkpoint_rows=8"]
    assert _run(tmp_path / "rows", overrides) == 2  # chunks are a local run's checkpoints; Ray's are its batches
