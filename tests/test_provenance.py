"""Provenance: one pass per model, tokens attributed to sentences, categories by a margin rule."""

import math

import numpy as np
import pytest
from datasets import Dataset
from naive import naive_sentence_logprobs

from hf_select import GlobalNaturalness, Provenance, load_model, score
from hf_select.layout import token_owners as attribute_tokens
from hf_select.metadata import read_metadata
from hf_select.scores.provenance import (
    BOOSTED,
    PRE_EXISTING,
    STUDENT,
    TEACHER,
    ProvenanceCategories,
    SentenceLogprobs,
    categorize,
)
from hf_select.steps import split_steps

# Sentences end with a line break, so sentence boundaries are token boundaries for the byte-level tokenizers.
ALIGNED = [
    {"prompt": "What is 6 times 7?", "response": "First, 6 * 7 = 42.\nWe check: 42 / 7 = 6.\nSo the answer is 42."},
    {"prompt": "Add 3.5 and 4.", "response": "We add 3.5 and 4.\nThat gives 7.5 in total.\n"},
    {"prompt": "Ratio?", "response": "The ratio is 3 to 4.\nWait, that is right.\nAnswer: 3/4"},
]


def test_attribution_rule_first_non_whitespace_character():
    text = "One two.\n\nThree four."
    spans = [(0, 10), (10, 21)]  # the first sentence owns "\n\n"
    offsets = [(0, 3), (3, 7), (7, 8), (8, 10), (10, 15), (15, 20), (20, 21)]
    assert attribute_tokens(text, offsets, spans).tolist() == [0, 0, 0, 0, 1, 1, 1]
    # a token that starts with the previous sentence's whitespace belongs to the next sentence
    assert attribute_tokens("A. B.", [(0, 2), (2, 4), (4, 5)], [(0, 3), (3, 5)]).tolist() == [0, 1, 1]
    # a token spanning a boundary belongs to where its first non-whitespace character is, not where it ends
    assert attribute_tokens("A.\nB.", [(0, 1), (1, 4), (4, 5)], [(0, 3), (3, 5)]).tolist() == [0, 0, 1]


def test_same_tokenizer_one_pass_equals_per_sentence_reference(llama, llama_b):
    out = Dataset.from_list(ALIGNED).map(Provenance(teacher=llama_b, student=llama, layout="plain"), batched=True)
    for row in out:
        spans = split_steps(row["response"], "sentence")
        assert row["prov_sentence_spans"] == [list(s) for s in spans] and len(spans) >= 2
        assert row["prov_sentence_chars"] == [e - s for s, e in spans]
        for role, model in (("teacher", llama_b), ("student", llama)):
            expected = naive_sentence_logprobs(model, row["prompt"], row["response"], spans, layout="plain")
            np.testing.assert_allclose(row[f"prov_logprob_{role}"], expected, atol=1e-4, rtol=0)
        assert row["prov_logprob_teacher"] != row["prov_logprob_student"]


@pytest.mark.parametrize("layout", ["auto", "plain"])
def test_cross_tokenizer_sums_equal_whole_response_logprob(llama, gpt2, layout):
    """A row's sentence log-probs add up to the model's log-prob of the whole response, for each tokenizer."""
    rows = Dataset.from_list(ALIGNED + [{"prompt": "Hi", "response": "Café: 3.50 € each. Then 2 × 3 = 6!  Done."}])
    out = score(rows, Provenance(teacher=gpt2, student=llama, layout=layout))
    for role, model in (("teacher", gpt2), ("student", llama)):
        whole = rows.map(GlobalNaturalness(model, layout=layout), batched=True)["global_logprob_sum"]
        sums = [sum(values) for values in out[f"prov_logprob_{role}"]]
        np.testing.assert_allclose(sums, whole, atol=1e-3, rtol=1e-6)
    assert gpt2.vocab_id != llama.vocab_id  # different vocabularies never raise


def test_categories_follow_the_rule():
    t = np.array([-1.0, -2.0, -1.0, -1.0, -1.00, math.nan])
    s = np.array([-2.0, -1.0, -1.05, -1.0, -1.02, -1.0])
    d = np.array([-0.5, -0.5, -0.5, -0.95, -0.20, -1.0])
    assert categorize(t, s, None, 0.1) == [TEACHER, STUDENT, PRE_EXISTING, PRE_EXISTING, PRE_EXISTING, None]
    assert categorize(t, s, d, 0.1) == [TEACHER, STUDENT, BOOSTED, PRE_EXISTING, BOOSTED, None]
    assert categorize(t, s, None, 1.5)[:2] == [PRE_EXISTING, PRE_EXISTING]  # the margin matters


def test_row_fractions_and_divergence_by_hand():
    step = ProvenanceCategories(margin=0.1)
    row = {
        "prov_sentence_chars": [10, 20],
        "prov_logprob_teacher": [-5.0, -20.0],
        "prov_logprob_student": [-10.0, -20.0],
    }  # per char: t=(-0.5,-1.0), s=(-1.0,-1.0)
    out = step(row)
    assert out["prov_category"] == [TEACHER, PRE_EXISTING]
    assert out["prov_divergence"] == pytest.approx(0.25)
    assert out[f"prov_frac_{TEACHER}"] == 0.5 and out[f"prov_frac_{STUDENT}"] == 0.0
    batched = step({k: [v, v] for k, v in row.items()})
    assert batched["prov_divergence"] == [pytest.approx(0.25)] * 2


def test_distilled_model_adds_boosted(llama, llama_b, nobos):
    out = score(Dataset.from_list(ALIGNED), Provenance(teacher=llama_b, student=llama, distilled=nobos))
    assert "prov_logprob_distilled" in out.column_names and f"prov_frac_{BOOSTED}" in out.column_names
    for row in out:
        fracs = [row[f"prov_frac_{c}"] for c in (TEACHER, STUDENT, PRE_EXISTING, BOOSTED)]
        assert sum(fracs) == pytest.approx(1.0)
        assert len(row["prov_category"]) == len(row["prov_sentence_spans"])
    meta = read_metadata(out)
    assert (
        meta["scores"]["provenance"]["margin"] == 0.1
        and "teacher_originated if" in meta["scores"]["provenance"]["rule"]
    )
    assert meta["scores"]["provenance_teacher"]["model_identity"] == llama_b.identity


def test_score_runs_one_model_at_a_time_and_releases_models_it_loaded(tiny_root):
    teacher = load_model(str(tiny_root / "gpt2"), device="cpu", lazy=True)
    student = load_model(str(tiny_root / "llama"), device="cpu", lazy=True)
    seen = []
    original = SentenceLogprobs.__call__

    def spy(self, batch, indices=None):
        seen.append((self.params.role, teacher.loaded, student.loaded))
        return original(self, batch, indices)

    SentenceLogprobs.__call__ = spy
    try:
        out = score(Dataset.from_list(ALIGNED), Provenance(teacher=teacher, student=student))
    finally:
        SentenceLogprobs.__call__ = original
    assert not teacher.loaded and not student.loaded  # both released after their pass
    assert ("student", True, True) not in seen  # never both in memory at once
    assert out.num_rows == len(ALIGNED) and "prov_divergence" in out.column_names


def test_bad_rows_with_on_error_nan(llama, llama_b):
    rows = Dataset.from_list(ALIGNED + [{"prompt": "x", "response": ""}])
    out = score(rows, Provenance(teacher=llama_b, student=llama, on_error="nan"))
    assert math.isnan(out[3]["prov_divergence"]) and out[3]["prov_category"] is None
    assert "provenance_teacher: row 3" in out[3]["hf_select_error"]
    assert not math.isnan(out[0]["prov_divergence"])


def test_provenance_does_not_depend_on_batching_or_order(llama, gpt2):
    rows = Dataset.from_list(ALIGNED * 2)
    one = score(rows, Provenance(teacher=gpt2, student=llama), batch_size=1)
    many = score(rows.select([5, 3, 1, 4, 2, 0]), Provenance(teacher=gpt2, student=llama), batch_size=64)
    order = [5, 3, 1, 4, 2, 0]
    for col in ("prov_logprob_teacher", "prov_logprob_student"):
        for pos, i in enumerate(order):
            np.testing.assert_allclose(many[pos][col], one[i][col], atol=1e-4, rtol=0)
    assert [many[pos]["prov_category"] for pos in range(6)] == [one[i]["prov_category"] for i in order]


def test_lazy_students_are_in_memory_one_at_a_time(tiny_root):
    """Two students given lazily: each is released once no later pass needs it; a model used again later stays."""
    from hf_select import LocalNaturalness, load_model, score

    rows = Dataset.from_list([{"prompt": "Q?", "response": "First step. Second step."}])
    first = load_model(str(tiny_root / "llama"), device="cpu", lazy=True)
    second = load_model(str(tiny_root / "gpt2"), device="cpu", lazy=True)
    seen = []
    original = first.release

    def release():
        seen.append(("first", second.loaded))
        original()

    first.release = release
    score(
        rows,
        LocalNaturalness(first, column_suffix="a"),
        LocalNaturalness(second, column_suffix="b"),
        LocalNaturalness(first, column_suffix="c", window=1),
    )
    assert seen == [("first", False)]  # released after its last pass, when the other one was already released
    assert not first.loaded and not second.loaded
    loaded = load_model(str(tiny_root / "nobos"), device="cpu")  # given loaded: the caller's to keep
    score(rows, LocalNaturalness(loaded))
    assert loaded.loaded
