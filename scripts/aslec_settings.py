"""How much ASLEC's two open choices matter on the bundled data: the step splitter (the authors' ". "/"? " split
against sentences-and-lines) and where gamma is fitted (per teacher, as the authors' code does, or pooled).

Prints steps per response and, for `aslec_drop` and `aslec_casl`, how often each setting picks the same response
per prompt as the default (splitter="aslec", gamma="per_teacher") and how often its pick is correct. Runs the real
student (SmolLM2-135M, about 5 minutes on 2 CPU cores: one forward pass per splitter; gamma needs none)::

    python scripts/aslec_settings.py
"""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
from datasets import Dataset

import hf_select
from hf_select.steps import split_steps

SETTINGS = [("aslec", "per_teacher"), ("aslec", "pooled"), ("sentence", "per_teacher"), ("sentence", "pooled")]


def main() -> None:
    path = resources.files("hf_select.data").joinpath("math_teachers.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for splitter in ("aslec", "sentence"):
        steps = [len(split_steps(r["response"], splitter)) for r in rows]
        print(f"bundled data, splitter={splitter}: {np.mean(steps):.2f} steps per response (text alone)")
    student = hf_select.load_model("smollm2-135m-instruct")
    ds = hf_select.score(Dataset.from_list(rows), hf_select.CheckAnswers())
    picks, correct = {}, {}
    for splitter, gamma in SETTINGS:
        scored = hf_select.score(ds, hf_select.Aslec(student, splitter=splitter, gamma=gamma))
        for column in ("aslec_drop", "aslec_casl"):
            picked = hf_select.select_best(scored, by=column, group="prompt_id")
            picks[splitter, gamma, column] = dict(zip(picked["prompt_id"], picked["id"], strict=True))
            correct[splitter, gamma, column] = float(np.mean(picked["is_correct"]))
        print(
            f"splitter={splitter}: {np.mean(scored['aslec_num_steps']):.2f} steps per response, "
            f"{np.mean(scored['aslec_first_share']):.1%} of tokens step-initial"
        )
    for column in ("aslec_drop", "aslec_casl"):
        base = picks["aslec", "per_teacher", column]
        for setting in SETTINGS:
            other = picks[(*setting, column)]
            same = np.mean([base[p] == other.get(p) for p in base])
            print(
                f"{column:<11} splitter={setting[0]:<9} gamma={setting[1]:<12} same pick as the default: "
                f"{same:.0%}; picks correct: {correct[(*setting, column)]:.0%}"
            )


if __name__ == "__main__":
    main()
