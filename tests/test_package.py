"""How the library fits together: layers that only look down, selection and cards without torch, and a score
added from outside the library that runs through a recipe, the CLI and a card without touching library code."""

from __future__ import annotations

import ast
import builtins
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from datasets import Dataset, Value, load_from_disk
from huggingface_hub import DatasetCard

import hf_select
from hf_select.columns import Column, Field
from hf_select.config import option
from hf_select.engine_io import ScoringRequest
from hf_select.errors import ConfigError
from hf_select.layout import encode_context, encode_target, prompt_prefix
from hf_select.run_scores import fingerprint
from hf_select.scores import SCORES, Scorer, register_score
from hf_select.scores.base import ScoreParams

PACKAGE = Path(hf_select.__file__).parent
# dataset -> requests -> engine -> columns -> running -> selection -> card -> hub, under the entry points.
LAYERS = [
    ("foundation", {"version", "errors", "columns", "citations", "cache", "config", "digests"}),
    ("dataset", {"_compat", "metadata", "sources", "traces", "formats", "wide", "outputs", "data"}),
    ("requests", {"layout", "steps", "engine_io"}),
    ("engine", {"identity", "models", "rope", "engine", "reference"}),
    ("columns", {"scoring", "progress", "scores", "answers", "completeness"}),
    ("running", {"run_scores"}),
    ("selection", {"select", "stats", "rank_agreement", "verdict", "sft"}),
    ("card", {"cards", "card_sections", "report", "compare", "viewer", "results"}),
    ("hub", {"hub"}),
    (
        "entry points",
        {
            "recipes",
            "stages",
            "runner",
            "distributed",
            "ray",
            "bench",
            "bench_gpu",
            "bench_pipeline",
            "demo",
            "cli",
            "__init__",
        },
    ),
]
LAYER_OF = {name: i for i, (_, names) in enumerate(LAYERS) for name in names}


def _top(module: str) -> str:
    return module.split(".")[1] if module.startswith("hf_select.") else "__init__"


def _imports(path: Path) -> set[str]:
    """Every hf_select module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("hf_select")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hf_select"):
            if node.module == "hf_select":
                found |= {f"hf_select.{alias.name}" for alias in node.names}
            else:
                found.add(node.module)
    return found


def test_every_module_has_a_layer():
    modules = {
        _top("hf_select." + p.relative_to(PACKAGE).with_suffix("").as_posix().replace("/", "."))
        for p in PACKAGE.rglob("*.py")
    }
    modules.discard("__init__")
    assert modules <= set(LAYER_OF), f"modules without a layer: {sorted(modules - set(LAYER_OF))}"


def test_layers_only_look_down():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).with_suffix("").as_posix().replace("/", ".")
        own = LAYER_OF[_top(f"hf_select.{name}") if name != "__init__" else "__init__"]
        for imported in _imports(path):
            target = LAYER_OF[_top(imported)]
            if target > own:
                upward.append(f"{name} ({LAYERS[own][0]}) imports {imported} ({LAYERS[target][0]})")
    assert upward == []


def _module_graph() -> dict[str, set[str]]:
    """Each module of the package and the package modules it imports (a package stands for its __init__)."""
    files = {
        path.relative_to(PACKAGE).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__"): path
        for path in PACKAGE.rglob("*.py")
    }
    names = {f"hf_select.{name}" if name != "__init__" else "hf_select" for name in files}
    graph = {}
    for name, path in files.items():
        module = f"hf_select.{name}" if name != "__init__" else "hf_select"
        graph[module] = {m for m in _imports(path) if m in names and m != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, groups, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_import_circle_anywhere_in_the_package():
    """Imports inside functions count: a circle hidden in one is still two modules that cannot be read apart.
    (The package's own __init__ names its exports as strings, loaded lazily: it imports nothing.)"""
    graph = _module_graph()
    assert "hf_select.scores.base" in graph["hf_select.run_scores"]  # the graph sees the imports it must
    assert _cycles(graph) == []
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]  # the check can fail


def test_selection_and_cards_do_not_import_torch():
    code = (
        "import sys, hf_select.select, hf_select.cards, hf_select.card_sections, hf_select.compare; "
        "print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"


# -- a score from outside the library ---------------------------------------------------------------------------
@dataclass(frozen=True)
class FirstTokensParams(ScoreParams):
    tokens: int = option("How many of the response's first tokens to score.", 1)


class FirstTokenLogprob(Scorer):
    """The student's mean log-probability of the response's first tokens given the prompt (a toy): one
    dataclass and two methods."""

    name = "first_token"
    cli_alias = "first"
    Params = FirstTokensParams
    columns = (Column("first_token_logprob", True, "log-probability of the response's first token"),)
    explanation = "A toy score: how likely the student finds the first token of the response."
    fields = {"first_token_id": Field(Value("int64"), "the first token's id")}

    def requests_for(self, row):
        (turn,) = self.shape.read(row)
        tokenizer = self.model.tokenizer
        prefix, special = prompt_prefix(tokenizer, turn.context, "plain")
        target = encode_target(tokenizer, turn.text)[: self.params.tokens]
        return [ScoringRequest(encode_context(tokenizer, prefix, special), target)]

    def columns_for(self, row, requests, results):
        return {"first_token_logprob": float(results[0].logprobs.mean()), "first_token_id": requests[0].target[0]}


@pytest.fixture
def toy_score(monkeypatch):
    monkeypatch.setitem(SCORES, "first_token", FirstTokenLogprob)  # removed again after the test
    register_score(FirstTokenLogprob)
    return FirstTokenLogprob


def test_a_score_registered_outside_the_library_runs_everywhere(toy_score, tiny_root, tmp_path, capsys):
    from hf_select.cli import main
    from hf_select.reference import naive_token_scores
    from hf_select.runner import run_recipe_file

    model = str(tiny_root / "llama")
    rows = Dataset.from_list(
        [
            {"prompt": "What is 6 times 7?", "response": "It is 42.", "teacher": "a"},
            {"prompt": "Add 3 and 4.", "response": "Seven.", "teacher": "b"},
        ]
    )
    data = tmp_path / "rows.jsonl"
    rows.to_json(data)
    # The CLI, by its alias.
    assert main(["score", str(data), "--model", model, "--scores", "first", "--out", str(tmp_path / "scored")]) == 0
    scored = load_from_disk(str(tmp_path / "scored"))
    expected, _ = naive_token_scores(hf_select.load_model(model), *_request(model, rows[0]))
    assert scored[0]["first_token_logprob"] == pytest.approx(float(expected[0]), abs=1e-4)
    # A recipe, by its type, selecting and ranking by its column; then the card.
    recipe = tmp_path / "toy.yaml"
    recipe.write_text(
        textwrap.dedent(f"""\
        name: toy
        dataset: {{path: {data}}}
        models: {{student: {{name_or_path: {model}}}}}
        scores:
          - type: first_token
            model: student
        rank_teachers: {{by: [first_token_logprob]}}
        select: {{by: first_token_logprob}}
        output: {{dir: {tmp_path / "out"}}}
        """)
    )
    result = run_recipe_file(str(recipe), push=False)
    assert len(result.curated) == 2 and "first_token_logprob" in result.rankings
    card = DatasetCard.load(tmp_path / "out" / "README.md").text
    assert "A toy score: how likely the student finds the first token" in card
    assert "| `first_token_id` | int64 | the first token's id |" in card
    assert "Teacher ranking by `first_token_logprob`" in card


def _request(model_path, row):
    model = hf_select.load_model(model_path)
    score = FirstTokenLogprob(model)
    request = score.requests_for(row)[0]
    return list(request.context), list(request.target)


def test_every_parameter_is_in_the_cache_key(llama):
    """A parameter added to a score's dataclass is part of its cache key without anyone listing it."""

    @dataclass(frozen=True)
    class MoreParams(FirstTokensParams):
        extra: int = option("A parameter a later version adds.", 0)

    class Extended(FirstTokenLogprob):
        Params = MoreParams

    rows = Dataset.from_list([{"prompt": "What is 6 times 7?", "response": "It is 42."}])
    keys = {fingerprint(rows, Extended(llama, extra=value)) for value in (0, 1)}
    assert len(keys) == 2 and Extended(llama, extra=1).config()["extra"] == 1
    assert fingerprint(rows, Extended(llama)) == fingerprint(rows, Extended(llama, extra=0))
    with pytest.raises(ConfigError, match="takes no parameter 'extr'; it takes .*extra"):
        Extended(llama, extr=1)
    with pytest.raises(ConfigError, match="extra must be an int, not '1'"):
        Extended(llama, extra="1")


BUILTIN_ERRORS = {
    name
    for name, value in vars(builtins).items()  # but AttributeError: a module's __getattr__
    if isinstance(value, type) and issubclass(value, BaseException) and name != "AttributeError"
}


def test_every_error_raised_on_purpose_is_an_hf_select_error():
    """A `raise ValueError(...)` (or any builtin exception) in the library is a user's mistake reported as a
    traceback; hf_select's own errors print one line. (The `evaluate` module under answers/ is loaded by evaluate
    itself, outside the package, and keeps its own errors.)"""
    bare = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "answer_accuracy" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Raise)
                and isinstance(node.exc, ast.Call)
                and isinstance(node.exc.func, ast.Name)
                and node.exc.func.id in BUILTIN_ERRORS
            ):
                bare.append(f"{path.relative_to(PACKAGE)}:{node.lineno} raise {node.exc.func.id}")
    assert bare == []


def _pass_classes() -> set[type]:
    """Every pass class the package defines (a score, or a pass a composite score runs)."""
    from hf_select.scoring import MapPass

    found, todo = set(), [MapPass]
    while todo:
        todo += [sub for sub in todo.pop().__subclasses__() if sub not in found]
        found.update(todo)
    return {cls for cls in found if cls.__module__.startswith("hf_select.")}


def test_no_pass_inherits_a_concrete_score():
    """A composite's parts sit beside the scores they share a request with, not under them: a subclass inherits the
    parent's card text, CLI alias and columns, which it does not mean."""
    concrete = {cls for cls in _pass_classes() if vars(cls).get("name")}
    assert {"IfdConditional", "IfdUnconditional", "AslecSteps", "RankSurprisal"} <= {c.__name__ for c in concrete}
    inherited = sorted(
        f"{cls.__name__} < {base.__name__}" for cls in concrete for base in cls.__mro__[1:] if base in concrete
    )
    assert inherited == []


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]])
def test_the_tree_is_ruff_clean_and_formatted(command):
    """`ruff check` and `ruff format --check` over the checkout (package, tests, recipes), so CI keeps both."""
    root = PACKAGE.parent
    done = subprocess.run([sys.executable, "-m", "ruff", *command, str(root)], capture_output=True, text=True, cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
