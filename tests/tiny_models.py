"""Tiny causal LMs and tokenizers built in-process (no network), saved to disk and loaded like real ones.

Three shapes cover what the scorers must handle:
- ``llama``: rotary positions, a BOS token the tokenizer adds to every text, and a chat template;
- ``nobos``: rotary positions, no BOS token (the empty context falls back to EOS), no chat template;
- ``gpt2``: absolute positions and a different tokenizer (for cross-tokenizer provenance);
- ``llama_b``: ``llama``'s tokenizer with other weights (a same-vocabulary teacher).
Weights are random but wide (``initializer_range`` 0.3), so log-probs depend strongly on the context and
an off-by-one in the engine shows up as a large error.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

CORPUS = [
    "First, we compute 3.5 times 4, which gives 14. Then we add 7 to get 21.",
    "Let me check the units: 12 apples at $0.25 each cost $3.00 in total.",
    "Wait, that is not right. The ratio of 3 to 4 is \\frac{3}{4}, not \\frac{4}{3}.",
    "So the answer is \\boxed{42}.\n\nWe verify: 6 * 7 = 42, as required.",
    "The perimeter of a rectangle with sides 5 cm and 8 cm is 2(5 + 8) = 26 cm.",
    "Natalia sold clips to 48 of her friends in April, and then half as many in May.",
    "Step 1: read the problem.\nStep 2: set up the equation x + 5 = 12.\nStep 3: x = 7.",
    "Therefore, the probability is 1/6 because the die is fair and has six faces.",
]
CHAT_TEMPLATE = (  # role-aware, so that a rendered prompt is a prefix of the rendered prompt + reply (as TRL needs)
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def _tokenizer(vocab_size: int, specials: list[str], seed_text: list[str]) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(seed_text * 4, trainer=trainer)
    return tok


def build(kind: str, root: Path) -> Path:
    """Write a tiny model + tokenizer of the given kind under ``root`` and return its folder."""
    folder = root / kind
    if (folder / "config.json").exists():
        return folder
    torch.manual_seed({"llama": 0, "nobos": 1, "gpt2": 2, "llama_b": 3}[kind])
    if kind == "llama_b":  # same tokenizer as ``llama``, other weights: a same-vocabulary teacher
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(build("llama", root))
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=4,
            max_position_embeddings=1024,
            initializer_range=0.3,
            bos_token_id=0,
            eos_token_id=1,
        )
        model = LlamaForCausalLM(config)
    elif kind == "llama":
        raw = _tokenizer(400, ["<s>", "</s>", "<|user|>", "<|assistant|>", "<|end|>"], CORPUS)
        raw.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>")
        tokenizer.chat_template = CHAT_TEMPLATE
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=48,
            intermediate_size=96,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=1024,
            initializer_range=0.3,
            bos_token_id=0,
            eos_token_id=1,
            tie_word_embeddings=False,
        )
        model = LlamaForCausalLM(config)
    elif kind == "nobos":
        raw = _tokenizer(300, ["<eos>"], CORPUS)
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<eos>")
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=1024,
            initializer_range=0.3,
            bos_token_id=None,
            eos_token_id=0,
            tie_word_embeddings=True,
        )
        model = LlamaForCausalLM(config)
    elif kind == "gpt2":
        raw = _tokenizer(350, ["<|endoftext|>"], [t.lower() for t in CORPUS] + CORPUS)
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<|endoftext|>", eos_token="<|endoftext|>")
        config = GPT2Config(
            vocab_size=len(tokenizer),
            n_embd=32,
            n_layer=2,
            n_head=2,
            n_positions=1024,
            initializer_range=0.3,
            bos_token_id=0,
            eos_token_id=0,
        )
        model = GPT2LMHeadModel(config)
    else:
        raise KeyError(kind)
    model.eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


# -- pytest fixtures (imported by conftest.py) ------------------------------------------------------------
import pytest  # noqa: E402

from hf_select.models import load_model  # noqa: E402


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny_models")
    for kind in ("llama", "nobos", "gpt2", "llama_b"):
        build(kind, root)
    return root


@pytest.fixture(scope="session")
def llama(tiny_root):
    return load_model(str(tiny_root / "llama"), device="cpu")


@pytest.fixture(scope="session")
def nobos(tiny_root):
    return load_model(str(tiny_root / "nobos"), device="cpu")


@pytest.fixture(scope="session")
def gpt2(tiny_root):
    return load_model(str(tiny_root / "gpt2"), device="cpu")


@pytest.fixture(scope="session")
def llama_b(tiny_root):
    return load_model(str(tiny_root / "llama_b"), device="cpu")


@pytest.fixture(params=["llama", "nobos", "gpt2"])
def tiny(request):
    """Each tiny model in turn."""
    return request.getfixturevalue(request.param)
