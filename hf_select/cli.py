"""`hf-select`: thin command-line entry points over the library.

    hf-select demo [--out DIR]                  the whole story on the bundled data and a real student
    hf-select run RECIPE.yaml [--set k=v ...]    run a curation recipe (score, filter, select, card, push)
    hf-select score DATA --model M --out DIR     add score columns to a dataset
    hf-select push DIR REPO_ID                   publish a folder written by `run`/`demo` to the Hub
    hf-select view DATA [--out DIR]              a static step viewer of scored data (open DIR/index.html)
    hf-select bench [--model M] [--json]         engine vs naive reference, throughput and memory

Every mistake in what the user gave (a missing file, a bad recipe, a row that cannot be scored, a refused
output or publication, an unreachable Hub) prints one line naming the key, file or row, and exits with 2.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import logging
import operator
import sys
import types
import typing
from collections import abc
from dataclasses import dataclass
from typing import Any

from hf_select.config import field_names, hints, option
from hf_select.errors import ConfigError, HfSelectError, render_as
from hf_select.formats import Shape
from hf_select.models import ModelConfig

DEFAULT_MODEL = "smollm2-135m-instruct"


@dataclass
class CliModelConfig(ModelConfig):
    """`ModelConfig` as the CLI's model flags: ``--model`` names it, and the default student is SmolLM2."""

    name_or_path: str = option(
        ModelConfig.__dataclass_fields__["name_or_path"].metadata["help"], DEFAULT_MODEL, aliases=["--model"]
    )


def _optional(hint: Any) -> Any:
    """The annotation of a flag that may be left out (None): a function-valued option is given by name."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    kept = [a for a in args if a is not type(None) and typing.get_origin(a) is not abc.Callable]
    return functools.reduce(operator.or_, [*kept, type(None)])


def score_flags() -> type:
    """A dataclass with one flag per parameter of the scores `hf-select score` runs, each None unless given, so
    that a flag no chosen score takes is an error instead of being ignored."""
    from hf_select.scores import cli_aliases

    flags: dict[str, tuple[Any, dataclasses.Field]] = {}
    for cls in cli_aliases().values():
        for f in dataclasses.fields(cls.Params):
            if f.name not in flags:
                metadata = {k: v for k, v in f.metadata.items() if k != "describe"}
                flags[f.name] = (
                    _optional(hints(cls.Params)[f.name]),
                    dataclasses.field(default=None, metadata=metadata),
                )
    return dataclasses.make_dataclass("ScoreFlags", [(name, hint, f) for name, (hint, f) in flags.items()])


def _parser_class():
    from transformers import HfArgumentParser

    class Parser(HfArgumentParser):
        """transformers' dataclass parser, whose mistakes are one line (exit 2) like every other hf-select error."""

        def error(self, message: str):
            self.exit(2, f"{self.prog}: error: {message}\n")

    return Parser


def positive(value: str) -> int:
    """A row count: a positive integer (0 or less would quietly mean "everything" or "nothing")."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number of rows, not {value}")
    return number


def _model_config(args: argparse.Namespace) -> ModelConfig:
    return ModelConfig(**{name: getattr(args, name) for name in field_names(ModelConfig)})


def cmd_bench(args) -> int:
    run = _bench_gpu if args.suite == "gpu" else _bench_rankings if args.rankings else None
    report, text = (run or (_bench_pipeline if args.pipeline else _bench_model))(args)
    print(json.dumps(report, indent=2) if args.json else text(report))
    return 0


def _bench_gpu(args) -> tuple[dict, Any]:
    from hf_select.bench_gpu import format_gpu_report, run_gpu_suite

    shapes = args.shapes.split(",") if args.shapes else ["0.5b", "1.5b"]
    lengths = [int(n) for n in args.lengths.split(",")] if args.lengths else [2048, 8192, 16384]
    return run_gpu_suite(shapes, lengths, device=args.device, peak_tflops=args.peak_tflops), format_gpu_report


def _bench_rankings(args) -> tuple[dict, Any]:
    from hf_select.bench import format_ranking_report, run_ranking_bench

    return run_ranking_bench(
        args.rows, args.teachers, args.resamples, args.seed, naive=not args.no_naive
    ), format_ranking_report


def _bench_pipeline(args) -> tuple[dict, Any]:
    from hf_select.bench_pipeline import format_pipeline_report, peak_rss, post_scoring, run_pipeline_bench

    low, high = args.min_tokens or 500, args.max_tokens or 4000
    scores = tuple(args.scores.split(",")) if args.scores else ("global", "local", "provenance")
    report = run_pipeline_bench(
        args.rows, low, high, scores=scores, num_proc=args.num_proc, seed=args.seed, progress=not args.json
    )
    memory_low, memory_high = (int(t) for t in args.memory_tokens.split(","))
    report["memory"] = [peak_rss(int(n), memory_low, memory_high) for n in args.memory_rows.split(",") if n]
    report["post_rows"] = args.post_rows
    report["post_scoring"] = post_scoring(args.post_rows, args.resamples) if args.post_rows else {}
    return report, format_pipeline_report


def _bench_model(args) -> tuple[dict, Any]:
    from hf_select.bench import (
        build_workload,
        format_report,
        format_shared_report,
        load_rows,
        run_bench,
        run_shared_bench,
    )

    model = _model_config(args).load()
    if args.dataset:
        rows = load_rows(args.dataset, args.n, args.prompt_column, args.response_column)
    else:
        rows = build_workload(
            model.tokenizer,
            args.n,
            min_tokens=args.min_tokens or 200,
            max_tokens=args.max_tokens or 2000,
            seed=args.seed,
        )
    if args.shared:
        return run_shared_bench(model, rows, repeat=args.repeat, progress=not args.json), format_shared_report
    scores = tuple((args.scores or "global,local").split(","))
    return run_bench(
        model,
        rows,
        window=args.window,
        plan_tokens=args.plan_tokens,
        scores=scores,
        naive=not args.no_naive,
        repeat=args.repeat,
        progress=not args.json,
    ), format_report


def build_scores(args: argparse.Namespace, model: Any) -> list:
    """The scores named by ``--scores``, each with the flags it takes; a flag none of them takes is an error."""
    from hf_select.scores import cli_aliases

    aliases = cli_aliases()
    names = [name.strip() for name in args.scores.split(",") if name.strip()]
    unknown = [name for name in names if name not in aliases]
    if unknown or not names:
        raise ConfigError(
            f"--scores: unknown score {unknown[0] if unknown else ''!r}; choose from: " + ", ".join(sorted(aliases))
        )
    shape = Shape(**{name: getattr(args, name) for name in field_names(Shape)})
    given = {name: getattr(args, name) for name in field_names(score_flags()) if getattr(args, name) is not None}
    scores, taken = [], set()
    for name in names:
        cls = aliases[name]
        options = {k: v for k, v in given.items() if k in field_names(cls.Params)}
        taken |= set(options)
        models = (model,) if "model" in cls.model_roles else ()
        scores.append(cls(*models, shape=shape, **options) if cls.reads_shape else cls(*models, **options))
    unused = [flag for flag in given if flag not in taken]
    if unused:
        takers = [alias for alias, cls in aliases.items() if unused[0] in field_names(cls.Params)]
        raise ConfigError(
            f"--{unused[0].replace('_', '-')} is an option of --scores {', '.join(takers)}, which you "
            f"did not ask for (--scores {args.scores}); drop it or add the score"
        )
    return scores


def cmd_score(args) -> int:
    from datasets import DatasetDict

    from hf_select.distributed import process_state, score_to_disk
    from hf_select.outputs import check_output
    from hf_select.sources import load_source, local_paths

    model = _model_config(args).load(lazy=True)
    scores = build_scores(args, model)  # every option checked before any data is read
    sources = local_paths(args.data)
    check_output(args.out, overwrite=args.overwrite, sources=sources, inside_of=[model.folder] if model.folder else [])
    ds = load_source(args.data, split=args.split)
    splits = list(ds) if isinstance(ds, DatasetDict) else [args.split]
    if isinstance(ds, DatasetDict) and len(ds) == 1:
        ds = ds[splits[0]]  # one split: saved as a Dataset, and named below
    if args.limit:
        limit = lambda part: part.select(range(min(args.limit, len(part))))  # noqa: E731
        ds = DatasetDict({k: limit(v) for k, v in ds.items()}) if isinstance(ds, DatasetDict) else limit(ds)
    scored = score_to_disk(
        ds, *scores, out_dir=args.out, batch_size=args.batch_size, overwrite=args.overwrite, sources=sources
    )
    state = process_state()
    if state.is_main_process:
        rows = sum(len(part) for part in scored.values()) if isinstance(scored, DatasetDict) else len(scored)
        print(
            f"wrote {rows} scored rows (split{'s' if len(splits) > 1 else ''} {', '.join(splits)}) to {args.out} "
            f"({state.num_processes} process(es))"
        )
    return 0


def cmd_run(args) -> int:
    from hf_select.runner import run_recipe_file

    overrides = [*args.set, "output.overwrite=true"] if args.overwrite else args.set
    run_recipe_file(args.recipe, overrides, push=not args.dry_run, dry_run=args.dry_run)
    return 0


def cmd_demo(args) -> int:
    from hf_select.demo import run_demo

    run_demo(args.out)
    return 0


def cmd_push(args) -> int:
    from hf_select.hub import push_folder

    url = push_folder(args.folder, args.repo_id, private=args.private, branch=args.branch)
    print(f"published {args.folder} to {url}")
    return 0


def cmd_view(args) -> int:
    from hf_select.viewer import view

    shape = Shape(**{name: getattr(args, name) for name in field_names(Shape)})
    folder = view(
        args.data,
        args.out,
        split=args.split,
        shape=None if shape == Shape() else shape,
        teacher_column=args.teacher_column,
        title=args.title,
        overwrite=args.overwrite,
        config=args.config,
    )
    print(f"wrote the viewer of {args.data} to {folder}; open {folder / 'index.html'} in a browser")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser_class = _parser_class()
    parser = parser_class(prog="hf-select", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=parser_class)
    _add_recipe_commands(sub)
    _add_bench(sub)
    _add_score(sub)
    _add_view(sub)
    return parser


def _add_recipe_commands(sub) -> None:
    from hf_select.recipes import shipped_recipes

    demo = sub.add_parser("demo", help="score, rank and select the bundled data with a real student, offline")
    demo.add_argument("--out", default="hf_select_demo", help="folder for the curated split in Hub layout")
    demo.set_defaults(func=cmd_demo)
    run = sub.add_parser("run", help="run a recipe file (or a shipped recipe by name)")
    run.add_argument("recipe", help=f"path to a YAML recipe, or a shipped one: {', '.join(shipped_recipes())}")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe value, e.g. --set select.top_k=2 (repeatable)",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="write the exact repo layout to output.dir (default out/<recipe name>) and publish nothing",
    )
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a non-empty output.dir hf_select did not create (its other files are kept); "
        "the same as --set output.overwrite=true",
    )
    run.set_defaults(func=cmd_run)
    push = sub.add_parser("push", help="publish a folder written by `run`/`demo` to the Hugging Face Hub")
    push.add_argument("folder")
    push.add_argument("repo_id")
    push.add_argument("--private", action="store_true", help="create the repo private (refused for a public one)")
    push.add_argument("--branch", default=None)
    push.set_defaults(func=cmd_push)


def _add_bench(sub) -> None:
    bench = sub.add_parser(
        "bench", help="engine vs naive reference: throughput, memory, FLOP/s", dataclass_types=[CliModelConfig]
    )
    which = bench.add_mutually_exclusive_group()
    which.add_argument(
        "--shared",
        action="store_true",
        help="the scores that share one forward pass (global, RSR, IFD's conditional half, ASLEC) "
        "together, against global naturalness alone and one at a time",
    )
    which.add_argument(
        "--suite",
        choices=["gpu"],
        default=None,
        help="gpu: random-initialised Qwen2-shaped models of 0.5B and 1.5B at 2K/8K/16K tokens in bf16: tokens/s, "
        "peak memory, max|diff| vs fp32, MFU, against the naive forward and vLLM (--device cpu --shapes tiny "
        "runs it on a CPU)",
    )
    which.add_argument(
        "--rankings", action="store_true", help="the teacher-ranking bootstrap (no model): vectorised vs a loop"
    )
    which.add_argument(
        "--pipeline",
        action="store_true",
        help="everything around the model (tiny random model, chat rows): rows/s, stage shares, the "
        "tokenizer-alone rate, peak memory, and the work after scoring on --post-rows rows",
    )
    bench.add_argument("--n", type=positive, default=8, help="number of responses in the workload")
    bench.add_argument("--min-tokens", type=int, default=None, help="default 200 (--pipeline: 500)")
    bench.add_argument("--max-tokens", type=int, default=None, help="default 2000 (--pipeline: 4000)")
    bench.add_argument("--window", type=int, default=2)
    bench.add_argument("--scores", default=None, help="default global,local (--pipeline: global,local,provenance)")
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument("--dataset", default=None, help="bench on your own data instead (file, folder or Hub id)")
    bench.add_argument("--prompt-column", default="prompt")
    bench.add_argument("--response-column", default="response")
    bench.add_argument("--plan-tokens", type=float, default=1e9, help="tokens to estimate scoring hours for")
    bench.add_argument(
        "--no-naive",
        action="store_true",
        help="engine only (for inputs whose full-vocabulary logits would not fit in memory)",
    )
    bench.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each side this many times, alternating, and keep each side's fastest round",
    )
    bench.add_argument("--shapes", default=None, help="--suite gpu: model shapes (0.5b, 1.5b, tiny)")
    bench.add_argument("--lengths", default=None, help="--suite gpu: sequence lengths (default 2048,8192,16384)")
    bench.add_argument("--peak-tflops", type=float, default=None, help="--suite gpu: the device's dense bf16 peak")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--rows", type=positive, default=10_000, help="--rankings, --pipeline: rows")
    bench.add_argument("--teachers", type=int, default=8, help="--rankings: teachers")
    bench.add_argument("--resamples", type=int, default=1000, help="--rankings, --pipeline: bootstrap resamples")
    bench.add_argument("--num-proc", type=positive, default=2, help="--pipeline: workers for the num_proc run")
    bench.add_argument(
        "--memory-rows",
        default="10000,100000",
        help="--pipeline: row counts whose peak memory is measured, each in a fresh process",
    )
    bench.add_argument("--memory-tokens", default="100,400", help="--pipeline: response tokens of those rows")
    bench.add_argument(
        "--post-rows",
        type=int,
        default=1_000_000,
        help="--pipeline: rows of the scored split timed after scoring (0: skip)",
    )
    bench.set_defaults(func=cmd_bench)


def _add_score(sub) -> None:
    sc = sub.add_parser(
        "score",
        help="add score columns to a dataset (works under `accelerate launch`)",
        dataclass_types=[CliModelConfig, Shape, score_flags()],
    )
    sc.add_argument("data", help="a data file, a save_to_disk folder, or anything load_dataset accepts")
    sc.add_argument("--out", required=True, help="folder to save_to_disk the scored dataset into")
    sc.add_argument(
        "--overwrite",
        action="store_true",
        help="allow --out to be a non-empty folder hf_select did not create (its other files are kept)",
    )
    sc.add_argument("--scores", default="global,local", help="comma-separated: global, local, rsr, answers")
    sc.add_argument("--split", default=None, help="the split to score (default: every split)")
    sc.add_argument("--limit", type=positive, default=None, help="score only the first N rows")
    sc.add_argument("--batch-size", type=int, default=64)
    sc.set_defaults(func=cmd_score)


def _add_view(sub) -> None:
    view = sub.add_parser(
        "view",
        help="write a static viewer of scored data: responses side by side, steps shaded",
        dataclass_types=[Shape],
    )
    view.add_argument("data", help="scored data: a run's output folder, a save_to_disk folder or a data file")
    view.add_argument("--out", default="viewer", help="folder for the viewer (open its index.html)")
    view.add_argument("--split", default=None, help="the split to show (needed when the data has several)")
    view.add_argument("--config", default=None, help="which config of a folder holding several (its README's configs)")
    view.add_argument(
        "--teacher-column",
        default=None,
        help="the column naming each response's teacher (default: teacher, when the data has it)",
    )
    view.add_argument("--title", default=None)
    view.add_argument(
        "--overwrite",
        action="store_true",
        help="allow --out to be a non-empty folder hf_select did not create (its other files are kept)",
    )
    view.set_defaults(func=cmd_view)


def main(argv: list[str] | None = None) -> int:
    """Run one command. A mistake in what the user gave prints one line and returns 2; anything else is a bug
    and keeps its traceback."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit:  # argparse's own mistakes (one line, see `_parser_class`) and --help
        return exit.code if isinstance(exit.code, int) else 2
    with render_as("recipe" if args.command in ("run", "demo") else "cli"), _held_library_errors() as drop:
        try:
            return args.func(args)
        except HfSelectError as err:
            drop()
            message = " ".join(str(err).split("\n"))
            print(f"hf-select {args.command}: error: {message}", file=sys.stderr)
            return 2


@contextlib.contextmanager
def _held_library_errors() -> typing.Iterator[typing.Callable[[], None]]:
    """`datasets` logs some failures (``Failed to load JSON from file ...``) before raising the exception that
    hf_select turns into its one-line error. Its error records are held while a command runs: dropped when the
    command ends in that one line (``drop()``), let out as they were otherwise (a bug keeps everything). Nothing is
    held when the user asked `datasets` for more (``HF_DATASETS_VERBOSITY=info`` or ``debug``)."""
    from datasets.utils import logging as datasets_logging

    root = datasets_logging.get_logger("datasets")  # configures the library's handler if nothing has yet
    held: list[logging.LogRecord] = []

    def hold(record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            held.append(record)
            return False
        return True

    handlers = [] if root.getEffectiveLevel() < logging.WARNING else list(root.handlers)
    for handler in handlers:
        handler.addFilter(hold)
    try:
        yield held.clear
    finally:
        for handler in handlers:
            handler.removeFilter(hold)
        for record in held:
            logging.getLogger(record.name).handle(record)


if __name__ == "__main__":
    sys.exit(main())
