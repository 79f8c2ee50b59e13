"""README.md runs as written: every Python snippet (in order, in one namespace, as a reader pastes them) and every
``hf-select`` command, with the bundled data and the real models, against the fake Hub.

A fenced block that cannot run here says why on the line before it (``<!-- not run: ... -->``: eight GPUs, the
test suite itself). The two quick-start commands are run by ``.ci/run``. Two things differ from a reader's
machine, both for time only: every data source is cut to its first rows, and a model loaded twice is loaded once.
"""

from __future__ import annotations

import functools
import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
NOT_RUN = re.compile(r"<!-- not run: (.+?) -->\s*$")
ROWS = 20  # 5 prompts x 4 teachers of the bundled data: ASLEC-CASL fits gamma per teacher on 5 rows or more


def blocks() -> list[tuple[str, str, str | None]]:
    """(language, code, why it is not run) of every fenced block of the README."""
    text = README.read_text()
    out = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        why = NOT_RUN.search(before)
        ci = "ci:commands" in before or "ci:browser" in before
        out.append(
            (
                match.group(1),
                match.group(2),
                "the quick start: .ci/run runs it" if ci else (why.group(1) if why else None),
            )
        )
    return out


def commands() -> list[str]:
    """Every hf-select command of the README's runnable bash blocks, comments dropped."""
    lines = [
        line.split(" #")[0].strip()
        for lang, code, why in blocks()
        if lang == "bash" and why is None
        for line in code.splitlines()
    ]
    return [line for line in lines if line]


def test_every_code_block_runs_or_says_why_not():
    code = [(lang, why) for lang, _, why in blocks() if lang in ("python", "bash")]
    assert len(code) >= 8
    assert all(lang in ("python", "bash") for lang, _, _ in blocks() if lang), "name a block's language"
    assert all(cmd.startswith("hf-select ") for cmd in commands()), "runnable bash blocks hold hf-select commands"
    skipped = [why for _, why in code if why]
    # the quick start (run by .ci/run), the test suite itself, and what needs GPUs or a Ray cluster (each tested
    # in tests/ on CPUs: test_distributed.py, test_ray.py)
    assert len(skipped) <= 5 and all(len(why) > 10 for why in skipped)


def test_every_module_the_readme_names_is_reachable_after_import_hf_select():
    import importlib

    import hf_select

    text = README.read_text()
    named = set(re.findall(r"hf_select\.([a-z_]+)\.([A-Za-z_]+)", text))
    assert {("metadata", "read_metadata"), ("hub", "push")} <= named
    for module, attribute in named:
        if importlib.util.find_spec(f"hf_select.{module}") is not None:
            assert hasattr(getattr(hf_select, module), attribute), f"hf_select.{module}.{attribute}"


@pytest.fixture
def workspace(tmp_path, monkeypatch, strict_hub):
    """A folder with ``traces.jsonl`` (bundled rows), data sources cut to their first rows, each model loaded once."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import hf_select.runner
    import hf_select.sources
    from hf_select.sources import builtin_data_path

    lines = Path(builtin_data_path("hf_select:math_teachers")).read_text().splitlines()
    (tmp_path / "traces.jsonl").write_text("\n".join(lines[:ROWS]) + "\n")
    monkeypatch.chdir(tmp_path)
    load_source = hf_select.sources.load_source

    def first_rows(*args, **kwargs):
        ds = load_source(*args, **kwargs)
        return ds.select(range(min(ROWS, len(ds)))) if isinstance(ds, Dataset) else ds

    monkeypatch.setattr(hf_select.runner, "load_source", first_rows)
    for cls in (AutoModelForCausalLM, AutoTokenizer):
        monkeypatch.setattr(cls, "from_pretrained", functools.cache(cls.from_pretrained))
    from hf_select import columns, scores

    registered, known = dict(scores.SCORES), dict(columns._KNOWN)
    yield tmp_path
    for registry, before in ((scores.SCORES, registered), (columns._KNOWN, known)):  # a README score is registered
        registry.clear()
        registry.update(before)


@pytest.mark.slow
def test_the_python_snippets_run_in_order(workspace):
    namespace: dict = {}
    for lang, code, why in blocks():
        if lang == "python" and why is None:
            exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - the README's own code
    train = namespace["train"]
    assert {"prompt", "completion"} <= set(train.column_names) and len(train) == ROWS // 4  # one reply per prompt


@pytest.mark.slow
def test_the_commands_run(workspace, capsys):
    from hf_select.cli import main

    for command in commands():
        assert main(shlex.split(command)[1:]) == 0, command
        capsys.readouterr()
