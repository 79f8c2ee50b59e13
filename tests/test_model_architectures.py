"""Every architecture a student is likely to be gives, in every batch, exactly what its own batch-1 forward gives.

Tiny random configs of each family transformers ships (wide initialisation, so any mistake shows up as a large
error): rotary Llama-likes, sliding windows (Mistral, Gemma 2/3), soft-capped logits (Gemma 2), LongRoPE (Phi-3,
which switches rotary factors on sequence length), dynamic NTK (whose frequencies depend on the length and on the
longest sequence seen), scaled logits (Granite, Cohere), absolute positions (GPT-2) and a recurrent model (Mamba).
Each is scored through the engine at several token budgets (one request per pass up to everything in one pass),
in two orders, and with long requests fed over a KV cache, and compared with the reference: one fresh batch-1
forward over the whole sequence per request.
"""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest
import transformers

from hf_select.engine import ScoringEngine
from hf_select.engine_io import ScoringRequest
from hf_select.models import ScoringModel
from hf_select.reference import naive_token_scores

VOCAB = 96
SWITCH = 24  # LongRoPE's original context, and dynamic NTK's: requests on both sides of it


def _rope(kind: str) -> dict:
    head_dim = 8
    if kind == "longrope":
        return {
            "rope_type": "longrope",
            "short_factor": [1.0] * (head_dim // 2),
            "long_factor": [1.0 + i for i in range(head_dim // 2)],
            "original_max_position_embeddings": SWITCH,
            "rope_theta": 10000.0,
        }
    return {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0}


COMMON = {
    "vocab_size": VOCAB,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 256,
    "initializer_range": 0.3,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 0,
}
ARCHITECTURES = {
    "llama": ("LlamaConfig", "LlamaForCausalLM", {}),
    "mistral (sliding window)": ("MistralConfig", "MistralForCausalLM", {"sliding_window": 12}),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", {}),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", {"head_dim": 8}),
    "gemma2 (soft-capping, sliding)": (
        "Gemma2Config",
        "Gemma2ForCausalLM",
        {"head_dim": 8, "final_logit_softcapping": 3.0, "sliding_window": 12, "attn_logit_softcapping": None},
    ),
    "gemma3": ("Gemma3TextConfig", "Gemma3ForCausalLM", {"head_dim": 8, "sliding_window": 12}),
    "phi3 (LongRoPE)": (
        "Phi3Config",
        "Phi3ForCausalLM",
        {"num_key_value_heads": 4, "original_max_position_embeddings": SWITCH, "rope_parameters": _rope("longrope")},
    ),
    "llama (dynamic NTK)": (
        "LlamaConfig",
        "LlamaForCausalLM",
        {"max_position_embeddings": SWITCH, "rope_parameters": _rope("dynamic")},
    ),
    "granite (logits scaling)": ("GraniteConfig", "GraniteForCausalLM", {"logits_scaling": 4.0}),
    "cohere (logit scale)": ("CohereConfig", "CohereForCausalLM", {"logit_scale": 0.5, "tie_word_embeddings": True}),
    "olmo": ("OlmoConfig", "OlmoForCausalLM", {}),
    "gpt2 (absolute positions)": (
        "GPT2Config",
        "GPT2LMHeadModel",
        {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 256},
    ),
    "mamba (recurrent)": (
        "MambaConfig",
        "MambaForCausalLM",
        {"hidden_size": 32, "state_size": 8, "num_hidden_layers": 2, "expand": 2},
    ),
}


def _model(name: str):
    config_name, model_name, extra = ARCHITECTURES[name]
    config_class = getattr(transformers, config_name)
    keys = set(config_class().to_dict())  # only the settings this family has
    config = config_class(**{k: v for k, v in {**COMMON, **extra}.items() if k in keys or k in extra})
    import torch

    torch.manual_seed(0)
    return getattr(transformers, model_name)(config).eval()


def _requests(seed: int = 0) -> list[ScoringRequest]:
    rng = random.Random(seed)
    lengths = [
        (1, 4),
        (3, 9),
        (10, 13),
        (5, SWITCH - 5),
        (4, SWITCH - 4),
        (12, SWITCH - 11),
        (2, 30),
        (20, 40),
        (1, 60),
        (7, 2),
        (15, 23),
        (30, 50),
    ]  # (context, target): whole lengths on both sides of SWITCH
    return [
        ScoringRequest([rng.randrange(3, VOCAB) for _ in range(c)], [rng.randrange(3, VOCAB) for _ in range(t)])
        for c, t in lengths
    ]


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_batch_equals_each_requests_own_batch1_forward(name):
    pristine = _model(name)
    requests = _requests()
    expected = []
    for request in requests:  # a freshly loaded model per request: no state carried between forwards
        fresh = ScoringModel.from_objects(copy.deepcopy(pristine), None, model_id=f"{name}-reference")
        expected.append(naive_token_scores(fresh, list(request.context), list(request.target))[0])
    model = ScoringModel.from_objects(pristine, None, model_id=name)
    for budget, long_threshold in ((16, 10_000), (64, 10_000), (100_000, 100_000), (16, 40)):
        for order in (list(range(len(requests))), list(reversed(range(len(requests))))):
            engine = ScoringEngine(model, token_budget=budget, long_threshold=long_threshold)
            got = engine.score([requests[i] for i in order])
            for position, i in enumerate(order):
                np.testing.assert_allclose(
                    got[position].logprobs,
                    expected[i],
                    atol=1e-4,
                    rtol=0,
                    err_msg=f"{name}: request {i}, budget {budget}, long {long_threshold}",
                )
