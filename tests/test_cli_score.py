"""`hf-select score` alone and under a 2-process `accelerate launch`, and the `bench` smoke test."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from datasets import Dataset, load_from_disk
from test_naturalness import ROWS

from hf_select.cli import main


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))


def test_score_cli_single_and_two_process_accelerate_agree(tiny_root, tmp_path):
    data = tmp_path / "rows.jsonl"
    Dataset.from_list(ROWS * 3).to_json(data)
    model = str(tiny_root / "llama")
    # ASLEC-CASL: a regression over the whole split, not a shard (pooled: 15 rows, too few per teacher)
    scores = ["--scores", "global,local,aslec", "--gamma", "pooled"]
    assert main(["score", str(data), "--model", model, "--out", str(tmp_path / "one"), *scores]) == 0
    launch = [
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
        "--batch-size",
        "4",
        *scores,
    ]
    done = subprocess.run(launch, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = load_from_disk(str(tmp_path / "one")), load_from_disk(str(tmp_path / "two"))
    assert "(2 process(es))" in done.stdout  # both ranks took part
    assert two["response"] == one["response"]  # same rows, same order
    for col in ("global_naturalness", "local_naturalness", "aslec_drop", "aslec_casl"):
        np.testing.assert_allclose(two[col], one[col], atol=1e-6, rtol=0)
    assert two.info.description == one.info.description  # the score definitions travel too
    assert not list(tmp_path.glob(".*"))  # shards and temporary folders are cleaned up


def test_bench_smoke_json_has_every_field(tiny_root, capsys):
    assert (
        main(
            [
                "bench",
                "--model",
                str(tiny_root / "llama"),
                "--device",
                "cpu",
                "--n",
                "2",
                "--min-tokens",
                "30",
                "--max-tokens",
                "80",
                "--repeat",
                "2",
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert {"model", "device", "dtype", "threads", "matmul_flops", "rows", "plan_tokens", "hardware", "repeat"} <= set(
        report
    )
    for name in ("global", "local"):
        s = report["scores"][name]
        assert set(s) == {
            "scored_tokens",
            "naive_tokens_per_s",
            "engine_tokens_per_s",
            "speedup",
            "naive_peak_memory_mb",
            "engine_peak_memory_mb",
            "max_abs_difference",
            "padding_waste",
            "forward_calls",
            "engine_flops_per_s",
            "fraction_of_matmul",
            "hours_per_plan",
            "note",
            "naive_fraction_of_matmul",
            "speedup_ceiling",
        }
        assert s["max_abs_difference"] < 1e-4 and s["scored_tokens"] > 0 and s["engine_tokens_per_s"] > 0
        assert s["engine_peak_memory_mb"] > 50 and s["naive_peak_memory_mb"] > 50  # the process's RSS


def test_save_to_disk_keeps_the_previous_output_when_interrupted(tmp_path, monkeypatch):
    from hf_select import outputs

    out = tmp_path / "scored"
    outputs.save_to_disk(Dataset.from_dict({"x": [1, 2]}), out)
    monkeypatch.setattr(Dataset, "save_to_disk", lambda self, path: (Path(path).mkdir(), 1 / 0))
    with pytest.raises(ZeroDivisionError):
        outputs.save_to_disk(Dataset.from_dict({"x": [3]}), out)
    assert load_from_disk(str(out))["x"] == [1, 2] and [p.name for p in tmp_path.iterdir()] == ["scored"]


def test_user_mistakes_print_one_line_and_exit_2(tmp_path, capsys):
    assert main(["bench", "--model", str(tmp_path / "no-such-model")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hf-select bench: error: Model ") and "no such local file or folder" in err
    assert "Traceback" not in err and err.count("\n") == 1
    (tmp_path / "r.yaml").write_text("name: x\nbogus: 1\n")
    assert main(["run", str(tmp_path / "r.yaml")]) == 2
    assert "r.yaml:2: unknown key `bogus`" in capsys.readouterr().err


def test_score_cli_scores_every_split_and_chat_formats(tiny_root, tmp_path, capsys):
    from datasets import DatasetDict
    from public_shapes import mixture_of_thoughts

    rows = Dataset.from_list(mixture_of_thoughts())
    source = tmp_path / "chat"
    DatasetDict({"train": rows.select(range(3)), "test": rows.select([3])}).save_to_disk(str(source))
    model = str(tiny_root / "llama")
    assert (
        main(
            [
                "score",
                str(source),
                "--model",
                model,
                "--format",
                "messages",
                "--scores",
                "global,local",
                "--out",
                str(tmp_path / "scored"),
            ]
        )
        == 0
    )
    assert "(splits train, test)" in capsys.readouterr().out
    scored = load_from_disk(str(tmp_path / "scored"))
    assert {k: len(v) for k, v in scored.items()} == {"train": 3, "test": 1}
    assert "messages" in scored["train"].column_names and None not in scored["test"]["local_naturalness"]
    assert (
        main(
            [
                "score",
                str(source),
                "--model",
                model,
                "--split",
                "test",
                "--format",
                "messages",
                "--scores",
                "global",
                "--out",
                str(tmp_path / "one"),
            ]
        )
        == 0
    )
    assert "(split test)" in capsys.readouterr().out and len(load_from_disk(str(tmp_path / "one"))) == 1


def test_bench_rankings_measures_the_bootstrap_against_a_loop(capsys):
    assert main(["bench", "--rankings", "--rows", "800", "--teachers", "4", "--resamples", "200", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["prompts"] == 200 and report["max_abs_difference"] < 1e-9 and report["speedup"] > 1
    assert sum(report["p_first"].values()) == pytest.approx(1.0)


def test_bench_shared_feeds_the_model_once_for_the_scores_that_share_a_pass(tiny_root, capsys):
    assert (
        main(
            [
                "bench",
                "--shared",
                "--model",
                str(tiny_root / "llama"),
                "--device",
                "cpu",
                "--n",
                "3",
                "--min-tokens",
                "30",
                "--max-tokens",
                "80",
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    fed = report["tokens_fed"]
    assert fed["together"] == fed["global alone"] > 0  # one forward pass for four scores
    assert fed["one at a time"] == 4 * fed["global alone"]
    assert report["scores"] == ["global_naturalness", "rank_surprisal", "ifd_conditional", "aslec"]
    assert report["ratio_together"] > 0 and set(report["seconds"]) == set(fed)
    assert (
        main(
            [
                "bench",
                "--shared",
                "--model",
                str(tiny_root / "llama"),
                "--n",
                "2",
                "--min-tokens",
                "30",
                "--max-tokens",
                "60",
            ]
        )
        == 0
    )
    assert "x global alone" in capsys.readouterr().out


def test_bench_pipeline_reports_rates_stages_memory_and_the_work_after_scoring(capsys):
    assert (
        main(
            [
                "bench",
                "--pipeline",
                "--rows",
                "12",
                "--min-tokens",
                "60",
                "--max-tokens",
                "150",
                "--memory-rows",
                "8,16",
                "--memory-tokens",
                "40,80",
                "--post-rows",
                "4000",
                "--resamples",
                "100",
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == 12 and report["response_tokens"] > 12 * 40 and report["tokenizer_alone_tokens_per_s"] > 0
    assert set(report["scores"]) == {"global", "local", "provenance", "global (num_proc=2)"}
    for name in ("global", "local", "provenance"):
        side = report["scores"][name]
        assert side["rows_per_s"] > 0 and side["around_model_tokens_per_s"] >= side["tokens_per_s"]
        assert sum(side["stage_shares"].values()) == pytest.approx(1.0, abs=0.05)
        assert side["stage_shares"]["model (tiny)"] > 0 and side["stage_shares"]["tokenising"] > 0
    assert report["scores"]["local"]["stage_shares"]["splitting"] > 0
    assert [m["rows"] for m in report["memory"]] == [8, 16] and all(m["peak_rss_mb"] > 100 for m in report["memory"])
    assert {
        "select_best (one per prompt)",
        "rank_teachers (100 resamples)",
        "fold (one row per prompt)",
        "card (with its plots)",
        "run summary",
    } <= set(report["post_scoring"])


_RECIPE = (
    "name: x\ndataset: {{path: {data}}}\nmodels: {{student: {{name_or_path: smollm2-135m-instruct}}}}\n"
    "scores: [{score}]\noutput: {{dir: out}}\n"
)


@pytest.mark.parametrize(
    "recipe",
    [
        "name: x\nbogus: 1\n",  # a typo in a key
        _RECIPE.format(score="{type: local_naturalness, model: student, windw: 2}", data="d.jsonl"),  # option typo
        _RECIPE.format(score="{type: local_naturalness, model: student}", data="no-such-file.jsonl"),  # no data file
    ],
)
def test_a_recipe_mistake_is_printed_without_importing_pytorch(tmp_path, recipe):
    """Checking a recipe needs no model, so it imports no PyTorch (1.1 s of the CLI's error latency)."""
    (tmp_path / "r.yaml").write_text(recipe)
    (tmp_path / "d.jsonl").write_text('{"prompt": "1+1?", "response": "2"}\n')
    probe = (
        "import sys\nfrom hf_select.cli import main\ncode = main(['run', 'r.yaml'])\n"
        "print(code, 'torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120
    )
    assert done.stdout.split() == ["2", "False"], done.stdout + done.stderr
    assert done.stderr.startswith("hf-select run: error: ") and done.stderr.count("\n") == 1
    assert ("bogus" in done.stderr) + ("windw" in done.stderr) + ("no-such-file" in done.stderr) == 1, done.stderr
