"""Dataset cards, written from the dataset's own recorded score metadata and the recipe that made it.

The card is a `huggingface_hub.DatasetCard` rendered from the Jinja template in ``cards/``; its body keeps
one marked section per split, so that publishing a second split adds a section instead of rewriting the
card (see `hf_select.hub.merge_card`). Plots are returned as PNG bytes keyed by their path in the repo.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from datasets import Dataset
from huggingface_hub import DatasetCard, DatasetCardData

from hf_select.metadata import higher_is_better, read_metadata
from hf_select.sources import hub_dataset_id

TEMPLATE = "dataset_card.md"

# Plain words for each score, shown above its exact parameters.
EXPLANATIONS = {
    "global_naturalness": "The student's mean log-probability of each response token given the prompt, laid out "
    "as in supervised fine-tuning. Higher means the student finds the whole response more natural. Across many "
    "teachers and long traces it favours short, simple responses (the baseline that local naturalness improves on).",
    "local_naturalness": "The response is split into short reasoning steps; each step is scored by the student's "
    "mean token log-probability given only the few steps before it (re-encoded from their own start), and the "
    "response's score is the mean over steps (arXiv 2510.03988). Higher is better; it keeps tracking downstream "
    "quality when responses come from several teachers and get long.",
    "rank_surprisal": "Rank-Surprisal Ratio (arXiv 2601.14249): the mean rank of the response's tokens under the "
    "student (1 = its top choice) divided by their mean surprisal (negative log-probability). Lower is better: "
    "content that is informative in absolute terms yet aligned with what the student already ranks high.",
    "provenance": "Provenance tracing (arXiv 2512.20908): each sentence is classified by comparing the "
    "per-character log-probabilities the teacher, the student (and a distilled student) give it under the same "
    "context. `prov_divergence` is the mean teacher-minus-student difference: content the teacher finds much "
    "likelier than the student does.",
    "answer_check": "Each response's final answer (the last `\\boxed{}`, else 'the answer is X', else the last "
    "number) is compared with the reference answer by math-verify, through a local `evaluate` module.",
}
_PROVENANCE_PASS = "One forward pass of this model over prompt + response with its own tokenizer; each token is " \
    "attributed to the sentence holding its first non-whitespace character, and a sentence's log-probability is " \
    "the sum over its tokens (comparable across tokenizers)."


@dataclass
class CardContext:
    """What the card says beyond the dataset's own metadata: where the data came from and how it was cut."""

    split: str
    source: dict[str, Any]  # {"path", "name", "split", "revision"}
    steps: list[tuple[str, int]]
    selection: dict[str, Any] = field(default_factory=dict)  # {"method": "best", "by", "group", "among", ...}
    ranking: list[dict[str, Any]] | None = None  # rows of `rank_teachers`
    ranking_by: str | None = None
    recipe_yaml: str | None = None
    command: str = ""
    license: str | None = None
    title: str | None = None
    teacher_column: str = "teacher"
    correct_column: str = "is_correct"
    tags: list[str] = field(default_factory=list)


def summary_text(ctx: CardContext, rows: int, meta: dict[str, Any]) -> str:
    """One sentence on what the split holds, from the selection settings and the student that scored it."""
    sel = ctx.selection
    method = sel.get("method", "none")
    model = _model_of(meta, sel.get("by"))
    under = f" under `{model}`" if model else ""
    if method == "best":
        among = f", among rows where `{sel['among']}` is true" if sel.get("among") else ""
        top = "response" if sel.get("top_k", 1) == 1 else f"{sel['top_k']} responses"
        direction = "highest" if sel.get("higher_is_better", True) else "lowest"
        return (f"{rows} rows: for each `{sel.get('group', 'prompt')}`, the {top} with the {direction} "
                f"`{sel['by']}`{under}{among}.")
    if method == "divergence":
        return (f"{rows} rows kept by teacher-guided selection: the responses whose content the teacher finds much "
                f"likelier than the student does (by `prov_divergence` / teacher-originated share).")
    return f"{rows} scored rows, after the filters listed below."


def _model_of(meta: dict[str, Any], column: str | None) -> str | None:
    score = meta["columns"].get(column or "", {}).get("score")
    return meta["scores"].get(score, {}).get("model") if score else None


def score_sections(meta: dict[str, Any]) -> list[dict[str, Any]]:
    sections = []
    for name, config in meta["scores"].items():
        if name.startswith("provenance_"):
            explanation = _PROVENANCE_PASS
        else:
            explanation = EXPLANATIONS.get(name, EXPLANATIONS.get(config.get("score", ""), ""))
        params = [(k, str(v).replace("|", "\\|")) for k, v in config.items() if k not in ("score", "transform")]
        sections.append({"name": name, "explanation": explanation, "params": params})
    return sections


def provenance_mix(scored: Dataset, curated: Dataset) -> list[tuple[str, float, float]] | None:
    columns = [c for c in curated.column_names if c.startswith("prov_frac_")]
    if not columns:
        return None
    return [(c.removeprefix("prov_frac_"), _nanmean(scored[c]), _nanmean(curated[c])) for c in columns]


def _nanmean(values: list[float | None]) -> float:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return sum(kept) / len(kept) if kept else math.nan


def score_plot(scored: Dataset, curated: Dataset, by: str, teacher: str) -> bytes:
    """Left: distribution of ``by`` per teacher over all scored rows. Right: teachers of the selected rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = scored.select_columns([by, teacher]).to_pandas().dropna()
    teachers = sorted(table[teacher].unique())
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    left.boxplot([table.loc[table[teacher] == t, by] for t in teachers], showmeans=True)
    left.set_xticks(range(1, len(teachers) + 1), teachers, rotation=20)
    left.set_ylabel(by)
    left.set_title(f"{by} per teacher (all scored rows)")
    counts = curated.select_columns([teacher]).to_pandas()[teacher].value_counts()
    right.bar(teachers, [int(counts.get(t, 0)) for t in teachers], color="tab:green")
    right.set_title("teachers of the selected rows")
    right.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def render_template(card_data: DatasetCardData, **values: Any) -> DatasetCard:
    """Render ``cards/dataset_card.md`` (like ``DatasetCard.from_template``, with Jinja's block trimming so
    that loops and conditionals leave no stray blank lines inside markdown tables)."""
    import jinja2

    text = resources.files("hf_select.card_templates").joinpath(TEMPLATE).read_text(encoding="utf-8")
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    return DatasetCard(env.from_string(text).render(card_data=card_data.to_yaml(), **values))


def build_card(curated: Dataset, scored: Dataset, ctx: CardContext) -> tuple[DatasetCard, dict[str, bytes]]:
    """The card for one curated split, and its images (``{"images/<split>_scores.png": png}``)."""
    meta = read_metadata(curated)
    source_name = ctx.source.get("path", "unknown")
    hub_id = hub_dataset_id(source_name)
    images: dict[str, bytes] = {}
    by = ctx.ranking_by or ctx.selection.get("by")
    image = None
    if by and by in scored.column_names and ctx.teacher_column in scored.column_names and len(curated):
        image = f"images/{ctx.split}_scores.png"
        images[image] = score_plot(scored, curated, by, ctx.teacher_column)
    teacher_mix = None
    if ctx.teacher_column in curated.column_names:
        counts: dict[str, int] = {}
        for t in curated[ctx.teacher_column]:
            counts[t] = counts.get(t, 0) + 1
        teacher_mix = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    accuracy_after = None
    if ctx.correct_column in curated.column_names and len(curated):
        accuracy_after = sum(bool(v) for v in curated[ctx.correct_column]) / len(curated)
    card_data = DatasetCardData(
        license=ctx.license,
        tags=["hf-select", "distillation", "reasoning", *ctx.tags],
        source_datasets=[hub_id] if hub_id else None,
        task_categories=["text-generation"],
        pretty_name=ctx.title or f"{source_name.rsplit('/', 1)[-1]} (curated with hf_select)",
    )
    card = render_template(
        card_data,
        title=card_data.pretty_name,
        source_name=source_name,
        source_link=f"https://huggingface.co/datasets/{hub_id}" if hub_id else None,
        split=ctx.split,
        summary=summary_text(ctx, len(curated), meta),
        steps=ctx.steps,
        ranking=ctx.ranking,
        ranking_by=by,
        ranking_higher_is_better=higher_is_better(scored, by) if by else True,
        has_accuracy=bool(ctx.ranking) and "accuracy" in ctx.ranking[0],
        teacher_mix=teacher_mix,
        accuracy_after=accuracy_after,
        image=image,
        provenance_mix=provenance_mix(scored, curated),
        scores=score_sections(meta),
        recipe_yaml=(ctx.recipe_yaml or "").strip() or None,
        command=ctx.command,
    )
    return card, images
