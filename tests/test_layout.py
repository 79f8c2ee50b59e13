"""Text requests tokenised a batch at a time give exactly the ids of one call per text, for every tokenizer."""

import pytest

from hf_select import layout
from hf_select.layout import TextRequest, encode_context, encode_requests, encode_target

TEXTS = ["", "First, 6 * 7 = 42.", " leading space", "a\n\nb", "\\frac{3}{4} and ünïcödé", "First, 6 * 7 = 42."]


@pytest.mark.parametrize("model_name", ["llama", "nobos", "gpt2"])  # BOS added, no BOS, another vocabulary
def test_a_batch_of_text_requests_equals_one_call_per_text(model_name, request):
    tokenizer = request.getfixturevalue(model_name).tokenizer
    requests = [
        TextRequest(context, special, target) for context in TEXTS for special in (True, False) for target in TEXTS[1:]
    ]
    expected = [(encode_context(tokenizer, r.context, r.special), encode_target(tokenizer, r.target)) for r in requests]
    assert encode_requests(tokenizer, requests) == expected
    assert layout._backend_agrees(tokenizer)  # the fast path was taken


def test_a_backend_that_disagrees_is_not_used(llama, monkeypatch):
    tokenizer = llama.tokenizer
    monkeypatch.setitem(layout._AGREES, tokenizer, False)
    calls = []
    original = type(tokenizer).__call__
    monkeypatch.setattr(type(tokenizer), "__call__", lambda self, *a, **k: calls.append(a) or original(self, *a, **k))
    assert encode_requests(tokenizer, [TextRequest("Q?", True, "A.")]) == [
        (encode_context(tokenizer, "Q?", True), encode_target(tokenizer, "A."))
    ]
    assert calls  # through the transformers call
