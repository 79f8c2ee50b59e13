"""Answer checking: hand-checked extraction/equivalence cases and the `Dataset.map` contract."""

from __future__ import annotations

import json
import pickle
import socket
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata

import datasets
import evaluate
import pytest

from hf_select.answers import METRIC_PATH, CheckAnswers, MissingColumnError, load_answer_metric

# (response, reference, expected correct, expected extracted answer)
CASES = [
    ("So the result is $\\boxed{42}$.", "42", True, "42"),
    ("Hence $\\boxed{\\frac{1}{2}}$", "0.5", True, "\\frac{1}{2}"),
    ("Hence $\\boxed{\\frac{1}{2}}$", "1/2", True, "\\frac{1}{2}"),
    ("Hence $\\boxed{\\frac{1}{2}}$", "\\frac{1}{2}", True, "\\frac{1}{2}"),
    ("First \\boxed{3}. Wait, recheck: \\boxed{4}", "4", True, "4"),
    ("First \\boxed{3}. Wait, recheck: \\boxed{4}", "3", False, "4"),
    ("The answer is 7. Check: 7 * 2 = 14", "7", True, "7"),
    ("The answer is $\\frac{3}{4}$.", "3/4", True, "\\frac{3}{4}"),
    ("Answer: -3", "-3", True, "-3"),
    ("so we get\n#### 1,000", "1000", True, "1000"),
    ("We have 3 apples and 5 pears, 8 in total", "8", True, "8"),
    ("\\boxed{12.50}", "12.5", True, "12.50"),
    ("\\boxed{41}", "42", False, "41"),
    ("The answer is 6.", "7", False, "6"),
    ("I cannot solve this.", "3", False, None),
    ("", "3", False, None),
    ("cut off: \\boxed{4} so \\boxed{\\frac{1}{2", "4", False, None),
    ("\\boxed{\\{1, 2\\}}", "\\{1,2\\}", True, "\\{1, 2\\}"),
    ("\\boxed{5}", "$\\boxed{5}$", True, "5"),
]


@pytest.fixture(scope="module")
def answer_metric() -> evaluate.EvaluationModule:
    return load_answer_metric()


def test_metric_hand_checked_cases(answer_metric: evaluate.EvaluationModule) -> None:
    result = answer_metric.compute(predictions=[c[0] for c in CASES], references=[c[1] for c in CASES])
    for case, correct, extracted in zip(CASES, result["correct"], result["extracted"], strict=True):
        assert (correct, extracted) == (case[2], case[3]), case
    assert result["accuracy"] == pytest.approx(sum(c[2] for c in CASES) / len(CASES))


def test_metric_info_cites_math_verify(answer_metric: evaluate.EvaluationModule) -> None:
    assert "math-verify" in answer_metric.citation.lower()
    assert set(answer_metric.features) == {"predictions", "references"}


@pytest.mark.parametrize("reference", ["", "   ", "\\boxed{}"])
def test_metric_rejects_unusable_reference(answer_metric: evaluate.EvaluationModule, reference: str) -> None:
    with pytest.raises(ValueError, match="reference at position 0"):
        answer_metric.compute(predictions=["\\boxed{1}"], references=[reference])


def test_load_works_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)  # evaluate reads the env at import

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("answer checking tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    fresh = load_answer_metric()
    assert fresh.name == "answer_accuracy"
    assert fresh.compute(predictions=["\\boxed{2}"], references=["2"])["accuracy"] == 1.0
    assert METRIC_PATH.is_file()


def _dataset() -> datasets.Dataset:
    return datasets.Dataset.from_dict({"response": [c[0] for c in CASES], "answer": [c[1] for c in CASES]})


def test_map_batched_and_unbatched_agree() -> None:
    ds = _dataset()
    batched = ds.map(CheckAnswers(), batched=True, batch_size=4)
    single = ds.map(CheckAnswers(), batched=False)
    assert batched["is_correct"] == single["is_correct"] == [c[2] for c in CASES]
    assert batched["extracted_answer"] == single["extracted_answer"] == [c[3] for c in CASES]
    assert batched.features["is_correct"].dtype == "bool"


def test_map_with_num_proc() -> None:
    ds = _dataset()
    out = ds.map(CheckAnswers(), batched=True, batch_size=3, num_proc=2)
    assert out["is_correct"] == [c[2] for c in CASES]


def test_numeric_references_are_accepted() -> None:
    ds = datasets.Dataset.from_dict({"response": ["\\boxed{42}", "\\boxed{0.5}"], "answer": [42, 0.5]})
    assert ds.map(CheckAnswers(), batched=True)["is_correct"] == [True, True]


def test_custom_columns_and_scalar_call() -> None:
    check = CheckAnswers(response_column="text", answer_column="gold", output_column="ok")
    assert check({"text": "The answer is 7.", "gold": "7"}) == {"ok": True, "extracted_answer": "7", "answer_note": ""}
    assert check({"text": ["", "\\boxed{1}"], "gold": ["1", "2"]}) == {
        "ok": [False, False],
        "extracted_answer": [None, "1"],
        "answer_note": ["no final answer found in the response", ""],
    }
    assert check({"text": [], "gold": []}) == {"ok": [], "extracted_answer": [], "answer_note": []}


def test_missing_column_names_it_and_the_available_ones() -> None:
    ds = datasets.Dataset.from_dict({"completion": ["\\boxed{1}"], "answer": ["1"]})
    with pytest.raises(KeyError, match=r"'response'.*\(columns: \['answer', 'completion'\]\)"):
        ds.map(CheckAnswers(), batched=True)
    with pytest.raises(ValueError, match="'response'"):  # also a ValueError
        CheckAnswers()({"answer": "1"})
    assert issubclass(MissingColumnError, KeyError)


def test_non_string_response_names_row_and_column() -> None:
    rows = {"response": ["\\boxed{1}", "\\boxed{2}", None], "answer": ["1", "2", "3"]}
    ds = datasets.Dataset.from_dict(rows)
    with pytest.raises(ValueError, match=r"row 2, column 'response'.*must be a string"):
        ds.map(CheckAnswers(), batched=True, with_indices=True)
    with pytest.raises(ValueError, match=r"row 2 of this batch \(pass with_indices=True.*\), column 'response'"):
        ds.map(CheckAnswers(), batched=True)
    with pytest.raises(ValueError, match=r"row 0 of this batch .*, column 'response'"):
        CheckAnswers()({"response": [42], "answer": ["42"]})  # numbers are NOT str()-ed for responses


def test_bad_reference_names_row_and_column() -> None:
    check = CheckAnswers()
    with pytest.raises(ValueError, match=r"row 8, column 'answer'.*string or a finite number"):
        check({"response": ["\\boxed{1}"], "answer": [None]}, indices=[8])
    with pytest.raises(ValueError, match=r"row 11, column 'answer'.*is empty"):
        check({"response": ["\\boxed{1}", "\\boxed{2}"], "answer": ["1", ""]}, indices=[10, 11])


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="distinct strings"):
        CheckAnswers(output_column="response")
    with pytest.raises(ValueError, match="timeout_seconds"):
        CheckAnswers(timeout_seconds=2.5)


def test_works_off_the_main_thread() -> None:
    # math-verify's default timeout uses signal.alarm, which raises outside the main thread.
    check = CheckAnswers()
    batch = {"response": ["\\boxed{\\frac{1}{2}}", "\\boxed{3}"], "answer": ["0.5", "4"]}
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(check, [batch, batch]))
    assert all(r["is_correct"] == [True, False] for r in results)


def test_pickles_and_config_tracks_what_changes_the_output() -> None:
    check = CheckAnswers()
    clone = pickle.loads(pickle.dumps(check))
    assert clone({"response": "\\boxed{2}", "answer": "2"})["is_correct"] is True
    config = check.config()
    assert json.loads(json.dumps(config)) == config
    assert config["math_verify_version"] == metadata.version("math-verify")
    assert len(config["grader_sha256"]) == 64
    hasher = datasets.fingerprint.Hasher
    assert hasher.hash(CheckAnswers()) == hasher.hash(check)
    assert hasher.hash(CheckAnswers(output_column="ok")) != hasher.hash(check)
