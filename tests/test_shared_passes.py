"""Scores that share a forward pass run it once, each keeps its own cache and card section, and none depends
on batch size, row order or the data's shape."""

import numpy as np
import pytest
from datasets import Dataset, load_from_disk
from test_naturalness import ROWS
from test_sft import SHAPES

from hf_select import Aslec, GlobalNaturalness, Ifd, LocalNaturalness, RankSurprisal, score
from hf_select.engine import ScoringEngine
from hf_select.metadata import read_metadata
from hf_select.reference import naive_global

TOL = 1e-4
POOL = ROWS + [{**row, "teacher": "d", "response": row["response"] + " Done. We are sure."} for row in ROWS]


@pytest.fixture
def engine_calls(monkeypatch):
    """The requests each engine call gets: [(context, target), ...] per call."""
    calls = []
    original = ScoringEngine.score
    monkeypatch.setattr(
        ScoringEngine,
        "score",
        lambda self, requests, **kw: (
            calls.append([(tuple(r.context), tuple(r.target)) for r in requests]) or original(self, requests, **kw)
        ),
    )
    return calls


@pytest.mark.parametrize("settings", [{"gamma": "pooled"}, {"gamma": "per_teacher", "max_tokens": 5}])
def test_new_scores_do_not_depend_on_batch_size_or_row_order(llama, settings):
    """Both IFD paths (whole and a shared prefix) and both gamma fits (pooled, per teacher)."""
    pool = [{**row, "teacher": "xy"[i % 2]} for i, row in enumerate(POOL + POOL)]  # >= 5 rows per teacher
    rows = Dataset.from_list(pool)
    ifd, gamma = {"max_tokens": settings.get("max_tokens")}, settings["gamma"]
    one = score(rows, Ifd(llama, **ifd), Aslec(llama, gamma=gamma), batch_size=1)
    order = list(np.random.default_rng(0).permutation(len(pool)))
    many = score(rows.select(order), Ifd(llama, **ifd), Aslec(llama, gamma=gamma), batch_size=64)
    back = np.argsort(order)
    for column in ("ifd", "aslec_drop", "aslec_casl", "ifd_unconditional_loss"):
        np.testing.assert_allclose(np.array(many[column])[back], one[column], atol=1e-6, rtol=0, err_msg=column)


def test_shared_scores_run_their_common_forward_pass_once(llama, engine_calls):
    rows = Dataset.from_list(POOL)
    together = score(rows, GlobalNaturalness(llama), RankSurprisal(llama), Ifd(llama), Aslec(llama, gamma="pooled"))
    requests = [r for call in engine_calls for r in call]
    with_prompt = [r for r in requests if len(r[0]) > 1]
    assert len(with_prompt) == len(POOL) == len(set(with_prompt))  # prompt + response: once per row
    assert len(requests) == 2 * len(POOL)  # and IFD's response alone: its own request
    for alone in (GlobalNaturalness(llama), RankSurprisal(llama), Ifd(llama), Aslec(llama, gamma="pooled")):
        separate = score(rows, alone, completeness=False)
        for column in alone.features():
            if column != "hf_select_error" and isinstance(separate[0][column], float):
                np.testing.assert_allclose(together[column], separate[column], atol=1e-6, err_msg=column)
    np.testing.assert_allclose(together["aslec_mean"], together["global_naturalness"], atol=1e-9)
    np.testing.assert_allclose(together["ifd_conditional_loss"], -np.array(together["global_naturalness"]), atol=1e-9)


def test_adding_a_score_later_computes_only_what_is_missing(llama, tmp_path, engine_calls):
    Dataset.from_list(POOL).save_to_disk(tmp_path / "data")
    rows = load_from_disk(str(tmp_path / "data"))  # on disk, so that maps are cached
    first = score(rows, GlobalNaturalness(llama), LocalNaturalness(llama))
    engine_calls.clear()
    later = score(rows, Ifd(llama), GlobalNaturalness(llama), LocalNaturalness(llama))  # added before them
    requests = [r for call in engine_calls for r in call]
    assert len(requests) == 2 * len(POOL)  # IFD's two requests per row; global and local come from the cache
    for column in ("global_naturalness", "local_naturalness"):
        assert later[column] == first[column]
    engine_calls.clear()
    again = score(rows, GlobalNaturalness(llama), Ifd(llama), LocalNaturalness(llama))
    assert engine_calls == [] and again["ifd"] == later["ifd"]


def test_a_scores_cache_file_holds_its_own_columns(llama, tmp_path):
    Dataset.from_list(POOL).save_to_disk(tmp_path / "data")
    rows = load_from_disk(str(tmp_path / "data"))
    scored = score(rows, Ifd(llama), checkpoint_rows=None)
    own = [f for f in scored.cache_files if "data" in f["filename"] and "cache-" in f["filename"]]
    assert own  # the scores were written once, next to the data
    for file in own:
        columns = Dataset.from_file(file["filename"]).column_names
        assert "response" not in columns and "prompt" not in columns


@pytest.mark.parametrize(("rows", "shape"), SHAPES)
def test_new_scores_read_every_shape_as_global_naturalness_does(rows, shape, llama):
    ds = Dataset.from_list(rows())
    out = score(
        ds,
        GlobalNaturalness(llama, shape=shape),
        Ifd(llama, shape=shape),
        Aslec(llama, shape=shape, gamma="pooled", on_error="nan"),
    )  # CASL on a handful of rows: NaN
    np.testing.assert_allclose(out["aslec_mean"], out["global_naturalness"], atol=1e-9)
    np.testing.assert_allclose(out["ifd_conditional_loss"], -np.array(out["global_naturalness"]), atol=1e-9)
    tokenizer = llama.tokenizer
    for row in out:
        reply = shape.reply(row)
        alone = naive_global(llama, [], reply, layout="plain")  # the reply after the BOS token alone
        assert row["ifd_unconditional_loss"] == pytest.approx(-alone["global_naturalness"], abs=TOL)
        assert row["aslec_num_tokens"] == len(tokenizer(reply, add_special_tokens=False)["input_ids"])


def test_scoring_scored_data_again_keeps_every_scores_metadata(llama):
    once = score(Dataset.from_list(POOL), GlobalNaturalness(llama))
    twice = score(once, Ifd(llama), LocalNaturalness(llama))
    meta = read_metadata(twice)
    assert {"global_naturalness", "ifd", "local_naturalness", "completeness"} <= set(meta["scores"])
    assert twice.info.description.count('hf_select: {"about"') == 1  # one metadata block, not one per part


def test_every_card_section_explains_its_own_score(llama):
    """Parts of composite scores used to inherit global naturalness's text (the `aslec_steps` section explained
    global naturalness): every section now carries its own pass's explanation, and no two sections share one
    unless they are parts of one score (its ratio or regression pass repeats the parent's text)."""
    from hf_select.cards import build_card

    ds = Dataset.from_list(POOL)
    scored = score(
        ds,
        GlobalNaturalness(llama),
        LocalNaturalness(llama),
        RankSurprisal(llama),
        Ifd(llama),
        Aslec(llama, gamma="pooled"),
    )
    meta = read_metadata(scored)
    texts = {name: about["explanation"] for name, about in meta["about"].items()}
    family = {"ifd_conditional": "ifd", "ifd_unconditional": "ifd", "aslec_steps": "aslec"}
    for name, text in texts.items():
        assert text, name
        for other, other_text in texts.items():
            if other != name and family.get(name, name) != family.get(other, other):
                assert text != other_text, (name, other)
    assert texts["aslec_steps"].startswith("ASLEC's model pass") and texts["ifd_unconditional"].startswith("IFD's")
    card = build_card(scored)[0].text
    for name, text in texts.items():
        section = card.split(f"### `{name}`", 1)[1].split("### ", 1)[0]
        assert text in section, name
