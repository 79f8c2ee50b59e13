"""IFD and ASLEC against their slow references; scores that share a forward pass run it once; each keeps its cache."""

import math

import numpy as np
import pytest
from datasets import Dataset, IterableDataset, load_from_disk
from naive import naive_aslec, naive_casl, naive_ifd
from test_naturalness import ROWS
from test_sft import SHAPES

from hf_select import Aslec, GlobalNaturalness, Ifd, LocalNaturalness, RankSurprisal, score, select_best
from hf_select.engine import ScoringEngine
from hf_select.errors import ConfigError, ScoringInputError, WrongTypeError
from hf_select.metadata import higher_is_better, read_metadata
from hf_select.reference import naive_global
from hf_select.scores.aslec import PARTS, casl_fit
from hf_select.steps import split_steps

TOL = 1e-4
POOL = ROWS + [{**row, "teacher": "d", "response": row["response"] + " Done. We are sure."} for row in ROWS]


@pytest.fixture
def engine_calls(monkeypatch):
    """The requests each engine call gets: [(context, target), ...] per call."""
    calls = []
    original = ScoringEngine.score
    monkeypatch.setattr(ScoringEngine, "score", lambda self, requests, **kw: calls.append(
        [(tuple(r.context), tuple(r.target)) for r in requests]) or original(self, requests, **kw))
    return calls


@pytest.mark.parametrize("model_name", ["llama", "nobos"])  # BOS before the response alone, or EOS without one
def test_ifd_matches_the_reference(model_name, request):
    model = request.getfixturevalue(model_name)
    out = score(Dataset.from_list(ROWS), Ifd(model), batch_size=2)
    for row in out:
        expected = naive_ifd(model, row["prompt"], row["response"])
        for key, value in expected.items():
            assert row[key] == pytest.approx(value, abs=TOL), key
    assert 0.5 < np.mean(out["ifd"]) < 2  # a ratio of two mean losses of the same text
    assert read_metadata(out)["columns"]["ifd"]["higher_is_better"] is True  # the paper keeps the highest


def test_ifd_scores_the_same_response_prefix_in_both_halves(llama):
    """Cherry's cut: the first N response tokens with and without the prompt, never a truncation that drops the
    prompt (which made both halves identical and IFD exactly 1)."""
    rows = Dataset.from_list(ROWS)
    out = score(rows, Ifd(llama, max_tokens=5), batch_size=2)
    for row in out:
        expected = naive_ifd(llama, row["prompt"], row["response"], max_tokens=5)
        for key, value in expected.items():
            assert row[key] == pytest.approx(value, abs=TOL), key
    whole = score(rows, Ifd(llama), batch_size=2)
    assert out["ifd"] != whole["ifd"] and 1.0 not in out["ifd"]
    assert read_metadata(out)["scores"]["ifd_conditional"]["max_tokens"] == 5  # in the cache key and the card
    with pytest.raises(ConfigError, match="truncate_left.*IFD is exactly 1.*max_tokens=512"):
        Ifd(llama, on_overflow="truncate_left")
    with pytest.raises(ConfigError, match="max_tokens must be a positive integer"):
        Ifd(llama, max_tokens=0)


@pytest.mark.parametrize(("splitter", "skip_tokens"), [("aslec", 1), ("sentence", 1), ("sentence", 2),
                                                       ("paragraph", 1)])
def test_aslec_matches_the_reference(llama, splitter, skip_tokens):
    out = score(Dataset.from_list(POOL), Aslec(llama, splitter=splitter, skip_tokens=skip_tokens, gamma="pooled"),
                batch_size=3)
    expected = [naive_aslec(llama, r["prompt"], r["response"], splitter=splitter, skip_tokens=skip_tokens)
                for r in POOL]
    for row, ref in zip(out, expected, strict=True):
        for key, value in ref.items():
            assert row[key] == pytest.approx(value, abs=TOL), key
    np.testing.assert_allclose(out["aslec_casl"], naive_casl(expected), atol=TOL, rtol=0)
    assert max(out["aslec_num_steps"]) >= 3 and min(out["aslec_first_share"]) > 0
    first, rest = np.array(out["aslec_first_mean"]), np.array(out["aslec_rest_mean"])
    assert not np.allclose(first, rest)  # the step-initial tokens are told apart from the rest
    fit = read_metadata(out)["scores"]["aslec"]["fit"]["all rows"]
    assert fit["rows"] == len(POOL) and math.isfinite(fit["gamma"])


def test_per_teacher_gamma_equals_a_least_squares_fit_per_teacher(llama):
    """The authors' code fits gamma per teacher (merge_cal_limo_ours.py): each teacher's rows get its own."""
    pool = [{**row, "teacher": "xy"[i % 2]} for i, row in enumerate(POOL + POOL)]  # 2 teachers, enough rows each
    out = score(Dataset.from_list(pool), Aslec(llama))
    expected = [naive_aslec(llama, r["prompt"], r["response"], splitter="aslec") for r in pool]
    for teacher in "xy":
        mine = [i for i, r in enumerate(pool) if r["teacher"] == teacher]
        np.testing.assert_allclose([out[i]["aslec_casl"] for i in mine], naive_casl([expected[i] for i in mine]),
                                   atol=TOL, rtol=0)
    fits = read_metadata(out)["scores"]["aslec"]["fit"]
    assert set(fits) == {"x", "y"} and fits["x"]["gamma"] != fits["y"]["gamma"]
    assert read_metadata(out)["scores"]["aslec"]["fitted_per"] == "teacher"
    pooled = score(Dataset.from_list(pool), Aslec(llama, gamma="pooled"))
    np.testing.assert_allclose(pooled["aslec_casl"], naive_casl(expected), atol=TOL, rtol=0)
    with pytest.raises(ConfigError, match="teacher_column applies to gamma='per_teacher' only"):
        Aslec(llama, gamma="pooled", teacher_column="model")
    with pytest.raises(ConfigError, match="gamma must be 'per_teacher' or 'pooled'"):
        Aslec(llama, gamma="per-teacher")


def test_the_authors_splitter_cuts_after_every_period_and_question_mark_space_and_nowhere_else():
    text = "First, x = 2. Then y?  So\nz = 3! Done... Yes. e.g. this."
    pieces = [text[s:e] for s, e in split_steps(text, "aslec")]
    assert pieces == ["First, x = 2. ", "Then y?  ", "So\nz = 3! Done... ", "Yes. ", "e.g. ", "this."]
    assert len(split_steps(text, "sentence")) > len(pieces) - 1  # sentence also cuts at the line break and "!"


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


def test_the_casl_regression_is_the_same_to_the_last_bit_in_any_row_order():
    parts = np.random.default_rng(1).normal(size=(40, len(PARTS)))
    parts[3, 1] = np.nan  # a row the model could not score is left out of the fit
    fits = [casl_fit(parts[np.random.default_rng(seed).permutation(40)]) for seed in range(5)]
    assert all(fit == fits[0] for fit in fits) and fits[0]["rows"] == 39


def test_casl_needs_the_whole_split(llama):
    with pytest.raises(ScoringInputError, match="at least 5 scored rows, and teacher 'a' has 2.*gamma='pooled'"):
        score(Dataset.from_list(ROWS[:3]), Aslec(llama))  # 2 rows cannot fit 4 coefficients: never a silent NaN
    with pytest.raises(ScoringInputError, match="at least 5 scored rows, and the split has 3"):
        score(Dataset.from_list(ROWS[:3]), Aslec(llama, gamma="pooled"))
    few = score(Dataset.from_list(ROWS[:3]), Aslec(llama, on_error="nan"))
    assert all(math.isnan(v) for v in few["aslec_casl"])  # asked for: NaN, and the reason beside it
    assert all("could not fit gamma" in e for e in few["hf_select_error"])
    assert not any(math.isnan(v) for v in few["aslec_drop"])
    stream = IterableDataset.from_generator(lambda: iter(ROWS))
    with pytest.raises(WrongTypeError, match="whole split.*materialise"):
        list(score(stream, Aslec(llama)))
    with pytest.raises(ConfigError, match="whole split"):
        Dataset.from_list(ROWS).map(Aslec(llama), batched=True)


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
    np.testing.assert_allclose(together["ifd_conditional_loss"], -np.array(together["global_naturalness"]),
                               atol=1e-9)


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


def test_ifd_selection_takes_either_end(llama):
    scored = score(Dataset.from_list(POOL).map(lambda r, i: {"prompt_id": i % len(ROWS)}, with_indices=True),
                   Ifd(llama))
    assert higher_is_better(scored, "ifd") is True
    high = select_best(scored, by="ifd", group="prompt_id")
    low = select_best(scored, by="ifd", group="prompt_id", higher_is_better=False, bounded=False)
    by_prompt = {}
    for row in scored:
        by_prompt.setdefault(row["prompt_id"], []).append(row["ifd"])
    bounded = {p: max(x for x in v if x <= 1) for p, v in by_prompt.items() if min(v) <= 1}  # Cherry drops IFD > 1
    assert dict(zip(high["prompt_id"], high["ifd"], strict=True)) == bounded
    unbounded = select_best(scored, by="ifd", group="prompt_id", bounded=False)
    assert dict(zip(unbounded["prompt_id"], unbounded["ifd"], strict=True)) == {p: max(v) for p, v in by_prompt.items()}
    assert dict(zip(low["prompt_id"], low["ifd"], strict=True)) == {p: min(v) for p, v in by_prompt.items()}


@pytest.mark.parametrize(("rows", "shape"), SHAPES)
def test_new_scores_read_every_shape_as_global_naturalness_does(rows, shape, llama):
    ds = Dataset.from_list(rows())
    out = score(ds, GlobalNaturalness(llama, shape=shape), Ifd(llama, shape=shape),
                Aslec(llama, shape=shape, gamma="pooled", on_error="nan"))  # CASL on a handful of rows: NaN
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
    scored = score(ds, GlobalNaturalness(llama), LocalNaturalness(llama), RankSurprisal(llama), Ifd(llama),
                   Aslec(llama, gamma="pooled"))
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


def test_a_reply_of_step_initial_tokens_only_is_named_not_a_silent_nan(llama):
    """A one-token answer got `aslec_drop` NaN with no message under on_error="raise" (#29)."""
    rows = Dataset.from_list([*POOL, {"prompt": "2 + 2?", "response": "4", "teacher": "a"}])
    with pytest.raises(ScoringInputError, match=r"row 10, column 'response': every token of the reply"):
        score(rows, Aslec(llama, gamma="pooled"))
    out = score(rows, Aslec(llama, gamma="pooled", on_error="nan"))
    assert math.isnan(out[10]["aslec_drop"]) and "has none to average" in out[10]["hf_select_error"]
    assert not math.isnan(out[0]["aslec_drop"])
