"""What a score comparison says, in plain words: the lines atop the printed report and the card's section.

Built from `hf_select.compare.Comparison.to_dict` alone, so the printed report, the card and the run log say the
same. A statement is made only where a paired interval excludes zero after a Bonferroni adjustment for its family
of comparisons (every pair of scores; every score against a random pick; ...: the ``*_told_apart`` columns), so
that fifteen pairs do not yield a difference by chance; where the slice cannot tell scores apart
(every pick correct, zero-width intervals, too few teachers or prompts), the verdict says so and, for the largest
observed difference in pick accuracy, roughly how many labelled prompts would tell it apart.
"""

from __future__ import annotations

from typing import Any

from hf_select.rank_agreement import rank_values

FEW_PROMPTS = 20  # below this many prompts, percentile bootstrap intervals are rough
FEW_TEACHERS = 5  # below this many teachers, a rank statistic takes only a handful of values
FEW_LENGTH_PROMPTS = 10  # a length correlation over fewer prompts with different lengths is not read as a preference


def points(value: float, low: float, high: float) -> str:
    """A difference of two shares in percentage points: ``+5 pts [+1, +9]``."""
    whole = [int(round(100 * v)) for v in (value, low, high)]  # whole points, never "-0"
    return f"{whole[0]:+d} pts [{whole[1]:+d}, {whole[2]:+d}]"


def _names(scores: list[str]) -> str:
    return ", ".join(f"`{s}`" for s in scores)


def verdict(report: dict[str, Any]) -> list[str]:
    """The verdict's lines (see the module docstring)."""
    rows, pairs, base = report["scores"], report["agreement"], report["baselines"]
    lines = _picks(rows, pairs, base, report["prompts"])
    lines += _rankings(rows, pairs, report)
    lines += _lengths(rows)
    if report["prompts"] < FEW_PROMPTS:
        lines.append(
            f"Only {report['prompts']} prompts are compared: intervals from so few are rough; label more "
            "prompts before trusting a difference."
        )
    return lines


def _picks(rows: list[dict], pairs: list[dict], base: dict, prompts: int) -> list[str]:
    if not base:
        return [
            "Without correctness labels the report cannot say which score picks better responses: read the "
            "agreement and length tables only."
        ]
    scored = [r for r in rows if r["labelled"]]
    if not scored:
        return ["No score has a labelled pick: the report cannot say which score picks better responses."]
    if all(r["picked_accuracy"] == 1 and r["picked_accuracy_low"] == 1 for r in scored):
        return [
            f"Every score's pick is correct on every labelled prompt ({max(r['labelled'] for r in scored)} "
            "prompts): this slice is too easy to tell the scores apart. Label prompts that some teachers get "
            "wrong."
        ]
    lines = []
    told = [p for p in pairs if p["picked_difference_told_apart"]]
    for p in told:
        better, worse, sign = (
            (p["score_a"], p["score_b"], 1) if p["picked_difference"] > 0 else (p["score_b"], p["score_a"], -1)
        )
        lo, hi = sorted((sign * p["picked_difference_low"], sign * p["picked_difference_high"]))
        lines.append(
            f"`{better}` picks a correct response more often than `{worse}`: "
            f"{points(sign * p['picked_difference'], lo, hi)} (paired, {p['picked_difference_prompts']} "
            "prompts)."
        )
    if pairs and not told:
        largest = max(
            pairs, key=lambda p: abs(p["picked_difference"]) if p["picked_difference"] == p["picked_difference"] else -1
        )
        if not largest["picked_difference"]:
            lines.append("The scores' picks are correct equally often: no difference to tell apart.")
        else:
            a, b, sign = (
                (largest["score_a"], largest["score_b"], 1)
                if largest["picked_difference"] > 0
                else (largest["score_b"], largest["score_a"], -1)
            )
            lo, hi = sorted((sign * largest["picked_difference_low"], sign * largest["picked_difference_high"]))
            need = largest["prompts_to_tell_apart"]
            lines.append(
                f"No two scores are told apart by how often their pick is correct (over all {len(pairs)} "
                "pairs at once). The largest difference, "
                f"`{a}` over `{b}` ({points(sign * largest['picked_difference'], lo, hi)}), "
                + (
                    f"would need roughly {need} labelled prompts to be told apart (this slice has "
                    f"{largest['picked_difference_prompts']})."
                    if need
                    else "cannot be told apart here."
                )
            )
    for key, what in (
        ("vs_random", "a response drawn at random"),
        ("vs_best_teacher", f"the best single teacher chosen on held-out prompts ({base['best_teacher']} in-sample)"),
    ):
        sides = {s: [r["score"] for r in scored if r[f"{key}_told_apart"] == s] for s in (1, -1, 0)}
        parts = [
            f"better than {what}: {_names(sides[1])}" if sides[1] else "",
            f"worse: {_names(sides[-1])}" if sides[-1] else "",
            f"not told apart: {_names(sides[0])}" if sides[0] else "",
        ]
        text = "; ".join(p for p in parts if p)
        lines.append((text[0].upper() + text[1:] if sides[1] else f"Against {what}: " + text) + ".")
    return lines


def _rankings(rows: list[dict], pairs: list[dict], report: dict[str, Any]) -> list[str]:
    if report["truth"] is None:
        return []
    teachers = len(report["teachers"])
    lines = []
    ranked = [r for r in rows if r["ranking_pairwise"] == r["ranking_pairwise"]]
    if ranked:
        best = max(ranked, key=lambda r: r["ranking_pairwise"])
        lines.append(
            f"Teacher rankings against {report['truth']}: `{best['score']}` orders "
            f"{best['ranking_pairwise']:.0%} of teacher pairs as the truth does (tau-b "
            f"{best['ranking_tau']:+.2f}); its top teacher is the truly best in {best['ranking_p_top']:.0%} "
            "of resamples."
        )
    for p in pairs:
        side = p["tau_difference_told_apart"]
        if side:
            better, worse = (p["score_a"], p["score_b"]) if side > 0 else (p["score_b"], p["score_a"])
            lines.append(
                f"`{better}`'s teacher ranking follows the truth better than `{worse}`'s (tau-b difference "
                f"{side * p['tau_difference']:+.2f})."
            )
    if teachers < FEW_TEACHERS:
        lines.append(
            f"With {teachers} teachers a rank statistic takes only {rank_values(teachers)} values: read the "
            "ranking columns as a hint, not as evidence."
        )
    return lines


def _lengths(rows: list[dict]) -> list[str]:
    lines, thin = [], []
    for r in rows:
        prompts = r.get("length_tokens_prompts", 0)
        side = r["length_tokens_rho_told_apart"]
        if not prompts:
            continue
        if prompts < FEW_LENGTH_PROMPTS:
            thin.append(r["score"])
        elif side:
            lines.append(
                f"`{r['score']}` prefers {'longer' if side > 0 else 'shorter'} responses within a prompt "
                f"(rank correlation with tokens {r['length_tokens_rho']:+.2f} "
                f"[{r['length_tokens_rho_low']:+.2f}, {r['length_tokens_rho_high']:+.2f}] over {prompts} "
                "prompts)."
            )
    if thin:
        lines.append(
            f"The length statistics of {_names(thin)} rest on fewer than {FEW_LENGTH_PROMPTS} prompts whose "
            "responses differ in length: not read as a preference."
        )
    return lines
