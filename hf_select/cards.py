"""Dataset cards, written from the dataset's own recorded score metadata and the recipe that made it.

The card is a `huggingface_hub.DatasetCard` rendered from the Jinja template in ``cards/``; its body keeps
one marked section per split (see `hf_select.card_sections`), so that publishing a second split adds a
section instead of rewriting the card. Everything the card says about a score (its explanation, parameters,
citation, the columns it added) comes from the metadata the score recorded in the dataset when it ran, so a
score added from outside the library gets a full card too. Plots are returned as PNG bytes keyed by their
path in the repo. Nothing here imports torch.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
from datasets import Dataset
from huggingface_hub import DatasetCard, DatasetCardData

from hf_select import report
from hf_select._compat import logical_table
from hf_select.card_sections import section_key
from hf_select.columns import ERROR_COLUMN, TRUNCATED
from hf_select.digests import file_digests
from hf_select.metadata import aggregate_of, higher_is_better, model_of, read_metadata
from hf_select.results import RunRecord
from hf_select.select import selection_summary
from hf_select.sources import builtin_data_path, hub_dataset_id
from hf_select.verdict import FEW_PROMPTS
from hf_select.version import __version__

TEMPLATE = "dataset_card.md"
REPO_PLACEHOLDER = "<this-repo>"  # replaced by the repo id when the card is published
_SIZES = [
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
]


@dataclass
class CardContext:
    """What the card says beyond the dataset's own metadata: where the data came from, what the recipe says, and
    what the run's stages found (`run`, their typed results)."""

    split: str
    source: dict[str, Any] = field(default_factory=dict)  # {"path", "name", "split", "revision"}
    run: RunRecord = field(default_factory=RunRecord)  # rows left after each step, rankings, picks, comparison
    recipe_yaml: str | None = None
    command: str = ""
    license: str | None = None
    title: str | None = None
    teacher_column: str = "teacher"
    correct_column: str = "is_correct"
    tags: list[str] = field(default_factory=list)
    config_name: str = "default"
    repo_id: str | None = None  # the repo the card is for (a dry run names it too, so it is the card published)
    data_format: str | None = None  # the source's format (see hf_select.formats; "wide" for several per row)
    description: str = ""  # what the recipe is for
    folded: bool = False  # rows folded back to one per prompt (lists of replies)
    viewer: bool = False  # the split's viewer is published beside the card (`hf_select.viewer`)

    @property
    def rankings(self) -> dict[str, list[dict[str, Any]]]:
        """{score column: `rank_teachers` rows}."""
        return {column: table.to_list() for column, table in self.run.rankings.items()}


def public_path(path: str | None) -> str:
    """How a data path is shown in a card: Hub ids and builtin names as they are, a local path as its file
    name and content digest (what someone else can rebuild from), never this machine's folders."""
    if not path:
        return "unknown"
    if hub_dataset_id(path) or path.startswith("hf_select:") or "://" in path:
        return path
    local = Path(builtin_data_path(path)).expanduser()
    if local.is_file():
        return f"{local.name} (sha256 {file_digests(local)['sha256'][:16]})"
    return local.name or path


def public_command(words: list[str]) -> str:
    """A command line for the card, with local paths (also in ``key=value`` words) shown as `public_path`s."""
    import shlex

    shown = []
    for word in words:
        key, eq, value = word.rpartition("=") if "=" in word else ("", "", word)
        if "/" in value and (Path(value).expanduser().is_absolute() or os.path.lexists(Path(value).expanduser())):
            value = Path(value).expanduser().name
        shown.append(f"{key}{eq}{value}")
    return " ".join(shlex.quote(w) for w in shown)


def size_category(rows: int) -> str:
    """The Hub's ``size_categories`` bucket of a split with ``rows`` rows."""
    return next((label for limit, label in _SIZES if rows < limit), "n>1B")


def summary_text(ctx: CardContext, rows: int, meta: dict[str, Any]) -> str:
    """One sentence on what the split holds, from the selection settings and the student that scored it."""
    sel = ctx.run.selection
    method = sel.get("method", "none")
    model = model_of(meta, sel.get("by"))
    under = f" under `{model}`" if model else ""
    if method == "best":
        among = f", among rows where `{sel['among']}` is true" if sel.get("among") else ""
        top = "response" if sel.get("top_k", 1) == 1 else f"{sel['top_k']} responses"
        direction = "highest" if sel.get("higher_is_better", True) else "lowest"
        return (
            f"{rows} rows: for each `{sel.get('group', 'prompt')}`, the {top} with the {direction} "
            f"`{sel['by']}`{under}{among}."
        )
    if method == "divergence":
        return (
            f"{rows} rows kept by teacher-guided selection: the responses whose content the teacher finds much "
            f"likelier than the student does (by `prov_divergence` / teacher-originated share)."
        )
    return f"{rows} scored rows, after the filters listed below."


def data_description(scored: Dataset, teacher: str) -> str:
    """What the rows are, as they are: traces from several teachers, from one generator, or just responses."""
    if teacher not in scored.column_names:
        return "responses"
    count = len(pc.unique(logical_table(scored, [teacher]).column(teacher)).drop_null())
    return f"reasoning traces from {count} teachers" if count > 1 else "responses from one generator"


def training_text(training: dict[str, Any], folded: bool) -> str | None:
    """Which columns to train on, and how TRL's ``SFTTrainer`` reads them."""
    columns = training.get("columns")
    if not columns:
        return None
    if folded:
        return (
            "The rows are folded back to one row per prompt (each column a list over its replies); train on the "
            "unfolded split, whose `prompt`/`completion` are TRL training examples."
        )
    if columns == ["messages"]:
        return (
            "Train on `messages`: the whole conversation, system prompt included (every assistant turn was "
            "scored). With TRL, set `SFTConfig(assistant_only_loss=True)` and a chat template that marks "
            "assistant turns."
        )
    kind = (
        "plain strings, `prompt` being the context exactly as the scores laid it out"
        if training.get("layout") == "plain"
        else "conversational role/content messages (a system prompt, where the data has one, opens `prompt`)"
    )
    return (
        f"Train on `prompt` and `completion`: TRL's prompt-completion type, {kind}. "
        "`SFTTrainer(model=..., train_dataset=ds)` computes its loss on `completion`, the selected reply, in the "
        "context it was scored in."
    )


def project_home() -> str | None:
    """The package's home page as its metadata declares it (``[project.urls]``), else None: never a guess."""
    from importlib import metadata

    try:
        urls = metadata.metadata("hf_select").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return None
    return next((url.split(",", 1)[1].strip() for url in urls if "," in url), None)


def plot_column(scored: Dataset, ctx: CardContext, meta: dict[str, Any]) -> str | None:
    """The score a card plots: the one selected by, else the first ranked, filtered or computed."""
    candidates = [
        ctx.run.selection.get("by"),
        *ctx.rankings,
        *(name for name, info in meta["columns"].items() if info.get("higher_is_better") is not None),
    ]
    return next((c for c in candidates if c and c in scored.column_names), None)


def score_sections(meta: dict[str, Any]) -> list[dict[str, Any]]:
    sections = []
    for name, config in meta["scores"].items():
        about = meta["about"].get(name, {})
        params = [(k, str(v).replace("|", "\\|")) for k, v in config.items() if k not in ("score", "transform")]
        sections.append({"name": name, "explanation": about.get("explanation", ""), "params": params})
    return sections


def mixed_scores(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """Scores whose rows were computed under different configurations (datasets scored apart, then concatenated):
    the models behind each, for the card's warning."""
    return [
        {
            "name": name,
            "models": list(dict.fromkeys(str(c.get("model") or "(no model)") for c in configs)),
            "configurations": len(configs),
        }
        for name, configs in meta["mixed"].items()
    ]


def students(meta: dict[str, Any]) -> list[dict[str, str | None]]:
    """The models that scored the data, with their Hub ids when they have one."""
    seen: dict[str, str | None] = {}
    for config in [*meta["scores"].values(), *(c for configs in meta["mixed"].values() for c in configs)]:
        model = config.get("model")
        if model and model not in seen:
            seen[model] = config.get("model_hub_id")
    return [{"name": name, "hub_id": hub_id} for name, hub_id in seen.items()]


def field_table(curated: Dataset, meta: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(column, type, description) of every column hf_select added that the split still has."""
    docs: dict[str, str] = {}
    for about in meta["about"].values():
        docs.update({k: v for k, v in about.get("fields", {}).items() if v or k not in docs})
    return [(name, _type_name(curated.features[name]), docs[name]) for name in curated.column_names if name in docs]


def _type_name(feature: Any) -> str:
    dtype = getattr(feature, "dtype", None)
    if dtype is not None and dtype != "list":
        return dtype
    inner = getattr(feature, "feature", None)
    return f"list<{_type_name(inner)}>" if inner is not None else type(feature).__name__.lower()


def citations(meta: dict[str, Any]) -> list[str]:
    found = []
    for about in meta["about"].values():
        if about.get("citation") and about["citation"] not in found:
            found.append(about["citation"])
    return found


def error_counts(scored: Dataset) -> dict[str, int] | None:
    """Rows of the scored data whose ``hf_select_error`` says they were truncated, or unscorable."""
    if ERROR_COLUMN not in scored.column_names:
        return None
    messages = logical_table(scored, [ERROR_COLUMN]).column(ERROR_COLUMN).drop_null()
    messages = messages.filter(pc.not_equal(messages, ""))
    truncated = pc.sum(pc.match_substring(messages, TRUNCATED)).as_py() or 0
    return {"truncated": truncated, "unscored": len(messages) - truncated}


def provenance_mix(scored: Dataset, curated: Dataset) -> list[tuple[str, float, float]] | None:
    columns = [c for c in curated.column_names if c.startswith("prov_frac_")]
    if not columns:
        return None
    return [(c.removeprefix("prov_frac_"), _nanmean(scored, c), _nanmean(curated, c)) for c in columns]


def _values(ds: Dataset, column: str) -> np.ndarray:
    """A numeric column's known values (nulls and NaN left out), read as arrow, not row by row."""
    values = np.asarray(logical_table(ds, [column]).column(column).to_numpy(zero_copy_only=False), dtype=float)
    return values[~np.isnan(values)]


def _nanmean(ds: Dataset, column: str) -> float:
    values = _values(ds, column)
    return float(values.mean()) if len(values) else math.nan


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    _pyplot().close(fig)
    return buffer.getvalue()


def score_plot(
    scored: Dataset, curated: Dataset, by: str, teacher: str, ranking: list[dict[str, Any]] | None = None
) -> bytes:
    """Left: distribution of ``by`` per teacher over all scored rows, with each teacher's score and its 95%
    interval when the ranking has one. Right: teachers of the selected rows. Without a teacher column: the
    distribution of ``by`` over all scored rows and over the selected ones."""
    plt = _pyplot()
    if teacher not in scored.column_names or teacher not in curated.column_names:
        return _distribution_plot(scored, curated, by)
    table = logical_table(scored, [by, teacher]).to_pandas().dropna()
    teachers = sorted(table[teacher].unique())
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    left.boxplot([table.loc[table[teacher] == t, by] for t in teachers], showmeans=True)
    left.set_xticks(range(1, len(teachers) + 1), teachers, rotation=20)
    left.set_ylabel(by)
    left.set_title(f"{by} per teacher (all scored rows)")
    rows = {r["teacher"]: r for r in ranking or [] if r.get("score_low") is not None}
    if rows:
        at = [i + 1.25 for i, t in enumerate(teachers) if t in rows]
        shown = [rows[t] for t in teachers if t in rows]
        scores = [r["score"] for r in shown]
        errors = [[r["score"] - r["score_low"] for r in shown], [r["score_high"] - r["score"] for r in shown]]
        left.errorbar(at, scores, yerr=errors, fmt="o", color="tab:red", capsize=4, label="teacher score, 95% CI")
        left.legend(loc="best", fontsize="small")
    counts = logical_table(curated, [teacher]).to_pandas()[teacher].value_counts()
    right.bar(teachers, [int(counts.get(t, 0)) for t in teachers], color="tab:green")
    right.set_title("teachers of the selected rows")
    right.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    return _png(fig)


def _distribution_plot(scored: Dataset, curated: Dataset, by: str) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    every = _values(scored, by)
    kept = _values(curated, by) if by in curated.column_names else np.zeros(0)
    bins = np.histogram_bin_edges(every if len(every) else [0.0], bins=30)
    ax.hist(every, bins=bins, color="tab:gray", alpha=0.6, label=f"all scored rows ({len(every)})")
    ax.hist(kept, bins=bins, color="tab:green", alpha=0.8, label=f"selected rows ({len(kept)})")
    ax.set_xlabel(by)
    ax.set_ylabel("rows")
    ax.set_title(f"{by}: all scored rows and the selected ones")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return _png(fig)


def matrix_plot(matrix: list[dict[str, Any]], score: str | None = None) -> bytes:
    """Teacher x student heatmap: colour is the teacher's rank under each student, the text its score."""
    plt = _pyplot()
    table = matrix_table(matrix, score)
    students, teachers = table["students"], table["teachers"]
    ranks = np.array([[table["cells"][t][s]["rank"] for s in students] for t in teachers], dtype=float)
    fig, ax = plt.subplots(figsize=(3.0 + 1.7 * len(students), 1.6 + 0.55 * len(teachers)))
    image = ax.imshow(ranks, cmap="RdYlGn_r", vmin=1, vmax=max(len(teachers), 2), aspect="auto")
    for i, t in enumerate(teachers):
        for j, s in enumerate(students):
            cell = table["cells"][t][s]
            ax.text(j, i, f"{cell['score']:.3f}\n(rank {cell['rank']})", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(students)), students, rotation=15)
    ax.set_yticks(range(len(teachers)), teachers)
    ax.set_title(f"{table['score']}: each teacher's rank per student", fontsize=10)
    fig.colorbar(image, ax=ax, label="rank")
    fig.tight_layout()
    return _png(fig)


def comparison_plot(report: dict[str, Any]) -> bytes:
    """Left: each score's rank of each teacher (a heatmap; 1 = the teacher it ranks first). Right, with labels:
    the accuracy of each score's picks with its interval, beside the best single teacher and a random pick."""
    plt = _pyplot()
    scores, teachers, base = [r["score"] for r in report["scores"]], report["teachers"], report["baselines"]
    ranks = np.array([[np.nan if r is None else r for r in report["teacher_ranks"][s]] for s in scores], dtype=float)
    panels = 2 if base else 1
    fig, axes = plt.subplots(
        1, panels, figsize=(4.5 + 1.1 * len(teachers) + 4 * (panels - 1), 1.4 + 0.45 * len(scores)), squeeze=False
    )
    heat = axes[0][0]
    heat.imshow(ranks, cmap="RdYlGn_r", vmin=1, vmax=max(len(teachers), 2), aspect="auto")
    for i in range(len(scores)):
        for j in range(len(teachers)):
            heat.text(
                j, i, "-" if np.isnan(ranks[i, j]) else f"{int(ranks[i, j])}", ha="center", va="center", fontsize=9
            )
    heat.set_xticks(range(len(teachers)), teachers, rotation=20)
    heat.set_yticks(range(len(scores)), scores)
    heat.set_title("each score's teacher ranking (1 = first)", fontsize=10)
    if base:
        bars = axes[0][1]
        rows = report["scores"]
        y = np.arange(len(rows))
        value = np.array([r["picked_accuracy"] for r in rows], dtype=float)
        low = np.array([r["picked_accuracy_low"] for r in rows], dtype=float)
        high = np.array([r["picked_accuracy_high"] for r in rows], dtype=float)
        bars.errorbar(value, y, xerr=[value - low, high - value], fmt="o", color="tab:blue", capsize=4)
        bars.axvline(
            base["best_teacher_accuracy"],
            color="tab:green",
            linestyle="--",
            label=f"best teacher, chosen on held-out prompts ({base['best_teacher']} in-sample)",
        )
        bars.axvline(base["random_pick_accuracy"], color="tab:gray", linestyle=":", label="random pick")
        bars.set_yticks(y, scores)
        bars.invert_yaxis()
        bars.set_xlabel(f"share of prompts whose pick is correct ({report['confidence']:.0%} CI)")
        bars.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return _png(fig)


def matrix_table(matrix: list[dict[str, Any]], score: str | None = None) -> dict[str, Any]:
    """The rows of a multi-column `rank_teachers` as {teachers (best on average first), students, cells}."""
    students = list(dict.fromkeys(r["model"] or r["column"] for r in matrix))
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for r in matrix:
        cells.setdefault(r["teacher"], {})[r["model"] or r["column"]] = r
    teachers = sorted(cells, key=lambda t: (sum(cells[t][s]["rank"] for s in students if s in cells[t]), str(t)))
    return {"students": students, "teachers": teachers, "cells": cells, "score": score or matrix[0]["column"]}


def comparisons(rows: list[dict[str, Any]]) -> list[str]:
    """ "A over B: +0.12 (95% CI +0.05..+0.19)" or "not distinguishable", for each teacher and the next one."""
    out = []
    for r in rows:
        if r.get("next_teacher") is None or r.get("vs_next") is None or r["vs_next"] != r["vs_next"]:
            continue
        interval = (
            f"{r['vs_next']:+.4f} (95% CI {r['vs_next_low']:+.4f}..{r['vs_next_high']:+.4f}, "
            f"{r['vs_next_prompts']} shared prompts)"
        )
        if r["vs_next_low"] > 0 or r["vs_next_high"] < 0:
            out.append(f"{r['teacher']} over {r['next_teacher']}: {interval}")
        else:
            out.append(f"{r['teacher']} vs {r['next_teacher']}: not distinguishable, {interval}")
    return out


def render_template(card_data: DatasetCardData, **values: Any) -> DatasetCard:
    """Render ``cards/dataset_card.md`` (like ``DatasetCard.from_template``, with Jinja's block trimming so
    that loops and conditionals leave no stray blank lines inside markdown tables)."""
    import jinja2

    text = resources.files("hf_select.card_templates").joinpath(TEMPLATE).read_text(encoding="utf-8")
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(pct=report.percent_interval, signed=report.signed_interval, points=report.points_interval)
    return DatasetCard(env.from_string(text).render(card_data=card_data.to_yaml(), **values))


def build_card(
    curated: Dataset, scored: Dataset | None = None, ctx: CardContext | None = None
) -> tuple[DatasetCard, dict[str, bytes]]:
    """The card for one curated split, and its images (``{"images/<split>_scores.png": png}``).

    ``scored`` is the data before selection (default: ``curated``); ``ctx`` what the run knows beyond the
    data (default: a split named "train" and nothing else, for a card built from the dataset alone)."""
    scored = curated if scored is None else scored
    ctx = ctx or CardContext(split="train")
    meta = read_metadata(curated)
    source = ctx.source.get("path")
    hub_id = hub_dataset_id(source) if source else None
    summary = selection_summary(scored, curated, teacher=ctx.teacher_column, correct=ctx.correct_column)
    images, figures = card_images(scored, curated, ctx, meta)
    title = ctx.title or (f"{Path(source).stem if source else 'data'} (curated with hf_select)")
    card_data = DatasetCardData(
        license=ctx.license,
        tags=["hf-select", "distillation", "reasoning", *ctx.tags],
        source_datasets=[hub_id] if hub_id else None,
        task_categories=["text-generation"],
        size_categories=[size_category(len(curated))],
        pretty_name=title,
    )
    card = render_template(
        card_data,
        title=title,
        source_name=public_path(source) if source else None,
        source_link=f"https://huggingface.co/datasets/{hub_id}" if hub_id else None,
        split=ctx.split,
        section=section_key(ctx.config_name, ctx.split),
        config_name=ctx.config_name,
        repo_id=ctx.repo_id or REPO_PLACEHOLDER,
        summary=summary_text(ctx, len(curated), meta),
        home=project_home(),
        data_description=data_description(scored, ctx.teacher_column),
        training=training_text(ctx.run.training, ctx.folded),
        incomplete=ctx.run.incomplete,
        description=ctx.description.strip(),
        students=students(meta),
        mixed=mixed_scores(meta),
        stages=ctx.run.steps,
        errors=error_counts(scored),
        rankings=ranking_sections(scored, ctx),
        teacher_mix=summary["teacher_mix"],
        accuracy_after=summary["accuracy_after"],
        provenance_mix=provenance_mix(scored, curated),
        fields=field_table(curated, meta),
        scores=score_sections(meta),
        citations=citations(meta),
        recipe_yaml=(ctx.recipe_yaml or "").strip() or None,
        command=ctx.command,
        version=__version__,
        data_format=FORMAT_LABELS.get(ctx.data_format or "", None),
        **figures,
        viewer_folder=viewer_folder(ctx.config_name, ctx.split) if ctx.viewer else None,
        viewer=f"{viewer_folder(ctx.config_name, ctx.split)}/index.html" if ctx.viewer else None,
    )
    return card, images


def card_images(
    scored: Dataset, curated: Dataset, ctx: CardContext, meta: dict[str, Any]
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The card's plots as ``{repo path: png}``, and what the template says of them: the score plot (whenever a
    score was computed), the teacher x student heatmap (when one score ran under several students) and the score
    comparison (when the run compared scores)."""
    images: dict[str, bytes] = {}
    stem = f"images/{image_stem(ctx.config_name, ctx.split)}"
    by = plot_column(scored, ctx, meta)
    run = ctx.run
    comparison = run.comparison.to_dict() if run.comparison is not None else None
    matrix = run.matrix.to_list() if run.matrix is not None else None
    figures: dict[str, Any] = {
        "image": None,
        "image_by": by,
        "matrix": None,
        "matrix_image": None,
        "comparison": comparison,
        "comparison_image": None,
    }
    if by and len(curated):
        figures["image"] = f"{stem}_scores.png"
        ranking = run.rankings.get(by)
        images[figures["image"]] = score_plot(
            scored, curated, by, ctx.teacher_column, ranking.to_list() if ranking is not None else None
        )
    if matrix:
        key = meta["columns"].get(matrix[0]["column"], {}).get("score")
        score = meta["scores"].get(key, {}).get("score")
        figures.update(matrix=matrix_table(matrix, score), matrix_image=f"{stem}_teacher_student.png")
        images[figures["matrix_image"]] = matrix_plot(matrix, score)
    if comparison:
        figures["comparison_image"] = f"{stem}_score_comparison.png"
        images[figures["comparison_image"]] = comparison_plot(comparison)
    return images, figures


def ranking_sections(scored: Dataset, ctx: CardContext) -> list[dict[str, Any]]:
    """What the card says of each teacher ranking: its direction, its columns, and caveats."""
    sections = []
    for column, rows in ctx.rankings.items():
        prompts = rows[0].get("prompts") if rows else None
        sections.append(
            {
                "by": column,
                "rows": rows,
                "comparisons": comparisons(rows),
                "ratio": aggregate_of(scored, column),
                "higher_is_better": (
                    ctx.run.directions[column] if column in ctx.run.directions else higher_is_better(scored, column)
                ),
                "has_accuracy": bool(rows) and rows[0].get("accuracy") is not None,
                "has_intervals": bool(rows) and rows[0].get("score_low") is not None,
                "few_prompts": prompts if prompts is not None and prompts < FEW_PROMPTS else None,
            }
        )
    return sections


FORMAT_LABELS = {
    "text": "`text` (a prompt and a response per row)",
    "messages": "`messages` (chat conversations)",
    "sharegpt": "`sharegpt` (conversations of from/value turns)",
    "prompt_completion": "`prompt_completion`",
    "wide": "wide (several responses per row), made long: one row per response, with `prompt_id` (its source row) "
    "and `generation_index`",
}


VIEWER_DIR = "viewer"  # every split's viewer (hf_select.viewer) lives in its own folder under this one


def viewer_folder(config_name: str, split: str) -> str:
    """Where a split's viewer lives in the repo: its own folder, so two splits' viewers never mix."""
    return f"{VIEWER_DIR}/{image_stem(config_name, split)}"


def image_stem(config_name: str, split: str) -> str:
    """A split's image file names start with this: two configs' ``train`` splits get their own images."""
    return split if config_name == "default" else f"{config_name}-{split}"
