"""Reasoning kept beside the answer (#34): a message's ``thinking`` or ``reasoning_content``, typed content parts, a
reasoning column. Each is scored, split into steps, checked, shown and trained on exactly as the same trace inline."""

from __future__ import annotations

import json
import math

import public_shapes
import pytest
from datasets import Dataset
from public_shapes import PROBLEMS, inline
from trl_check import assert_trains_on_the_pick

from hf_select import GlobalNaturalness, LocalNaturalness, Shape, score
from hf_select.answers import CheckAnswers
from hf_select.errors import ConfigError, ScoringInputError
from hf_select.layout import prompt_prefix, reasoning_rendering
from hf_select.metadata import read_metadata
from hf_select.sft import to_sft

COLUMN = Shape(prompt_column="question", response_column="answer", reasoning_column="reasoning")
FIELDS = [  # (rows in the public schema, how they are read, how the same rows inline are read)
    ("multilingual_thinking", Shape("messages"), Shape("messages")),
    ("reasoning_content", Shape("messages"), Shape("messages")),
    ("reasoning_parts", Shape("messages"), Shape("messages")),
    ("reasoning_column", COLUMN, Shape(prompt_column="question")),
]
# A Qwen3-like template: reasoning (a field, or inline) rendered as <think> before the answer in the last turns,
# stripped from assistant turns before the last user turn.
QWEN_LIKE = (
    "{%- set ns = namespace(last=-1) -%}"
    "{%- for m in messages %}{% if m['role'] == 'user' %}{% set ns.last = loop.index0 %}{% endif %}{% endfor -%}"
    "{%- for m in messages -%}{%- set content = m['content'] -%}"
    "{%- if m['role'] == 'assistant' -%}"
    "{%- set reasoning = m['reasoning_content'] if m['reasoning_content'] is defined and m['reasoning_content'] "
    "else '' -%}"
    "{%- if '</think>' in content -%}"
    "{%- set reasoning = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') -%}"
    "{%- set content = content.split('</think>')[-1].lstrip('\\n') -%}{%- endif -%}"
    "{%- if loop.index0 > ns.last and reasoning -%}"
    "<|assistant|><think>\n{{ reasoning.strip('\\n') }}\n</think>\n\n{{ content.lstrip('\\n') }}<|end|>\n"
    "{%- else -%}<|assistant|>{{ content }}<|end|>\n{%- endif -%}"
    "{%- else -%}<|{{ m['role'] }}|>{{ content }}<|end|>\n{%- endif -%}{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|assistant|>{%- endif -%}"
)
# DeepSeek-R1's distills' template: every assistant turn keeps only the text after </think>.
STRIPS_THINK = (
    "{% for m in messages %}<|{{ m['role'] }}|>{% if m['role'] == 'assistant' %}"
    "{{ m['content'].split('</think>')[-1] }}{% else %}{{ m['content'] }}{% endif %}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def _scores(ds: Dataset, shape: Shape, llama) -> dict[str, list]:
    scored = score(
        ds,
        GlobalNaturalness(llama, shape=shape, on_error="nan"),
        LocalNaturalness(llama, shape=shape, window=1, on_error="nan"),
    )
    return {
        c: scored[c]
        for c in (
            "global_num_tokens",
            "global_naturalness",
            "local_num_steps",
            "local_naturalness",
            "complete",
            "incomplete_reason",
        )
    }


def _same(a: list, b: list) -> bool:
    return all(
        (x is None and y is None)
        or (isinstance(x, float) and math.isnan(x) and math.isnan(y))
        or x == pytest.approx(y, abs=1e-9)
        for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize(("rows", "shape", "inline_shape"), FIELDS)
@pytest.mark.parametrize("part", ["all", "reasoning", "answer"])
def test_reasoning_in_its_own_field_scores_as_the_same_trace_inline(rows, shape, inline_shape, part, llama):
    rows = getattr(public_shapes, rows)()
    field = _scores(Dataset.from_list(rows), shape.replace(part=part), llama)
    written = _scores(Dataset.from_list(inline(rows)), inline_shape.replace(part=part), llama)
    for column in field:
        assert _same(field[column], written[column]), column
    if part == "all":  # the reasoning is scored: more tokens and steps than the answer alone
        alone = _scores(Dataset.from_list(inline(rows, reasoning=False)), inline_shape, llama)
        both = [i for i, r in enumerate(inline(rows)) if "</think>" in json.dumps(r)]
        assert all(field["global_num_tokens"][i] > alone["global_num_tokens"][i] + 10 for i in both)
        assert all(field["local_num_steps"][i] > alone["local_num_steps"][i] for i in both)


def test_a_cut_off_reply_and_one_without_reasoning_are_read_as_inline(llama):
    rows = public_shapes.reasoning_content()
    scored = _scores(Dataset.from_list(rows), Shape("messages"), llama)
    assert scored["complete"][-1] is False and "reasoning cut off" in scored["incomplete_reason"][-1]
    column = public_shapes.reasoning_column()
    assert column[-1]["reasoning"] is None  # no reasoning: the answer alone, as a reply without a trace
    (turn,) = COLUMN.read(column[-1])
    assert turn.text == column[-1]["answer"]
    cut = {**column[0], "answer": None}
    assert COLUMN.reply(cut) == "<think>\n" + column[0]["reasoning"]
    blank = [
        {
            "messages": [
                {"role": "user", "content": "Q?", "reasoning_content": None},
                {"role": "assistant", "content": "It is 4.", "reasoning_content": reasoning},
            ]
        }
        for reasoning in (None, "", "\n")
    ]
    assert {Shape("messages").reply(r) for r in blank} == {"It is 4."}


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (
            {"content": "<think>\nHmm.\n</think>\n\nIt is 4.", "thinking": "Hmm."},
            "inline in its content and in `thinking`",
        ),
        ({"content": "It is 4.", "reasoning_content": ["Hmm."]}, "`reasoning_content` must be a string.*list"),
        ({"content": "It is 4.", "thinking": "Hmm.", "reasoning_content": "Other."}, "two different reasonings"),
        ({"content": [{"type": "image", "text": None}, {"type": "text", "text": "It is 4."}]}, "content part 0"),
    ],
)
def test_a_bad_reasoning_field_names_the_row_and_the_field(message, error, llama):
    good = [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "It is 4."}]
    batch = {"messages": [good, [good[0], {"role": "assistant", **message}]]}
    with pytest.raises(ScoringInputError, match=f"row 1, column 'messages': message 1.*{error}"):
        GlobalNaturalness(llama, format="messages")(batch, [0, 1])
    marked = GlobalNaturalness(llama, format="messages", on_error="nan")(batch, [0, 1])
    assert not math.isnan(marked["global_naturalness"][0]) and math.isnan(marked["global_naturalness"][1])
    assert "row 1" in marked["hf_select_error"][1] and "message 1" in marked["hf_select_error"][1]


def test_the_rendering_is_recorded_and_told_apart_per_template(llama, tiny_root):
    from transformers import AutoTokenizer

    assert "no place for reasoning" in reasoning_rendering(llama.tokenizer, "auto")
    qwen = AutoTokenizer.from_pretrained(tiny_root / "llama")
    qwen.chat_template = QWEN_LIKE
    assert "as the chat template renders `reasoning_content`" in reasoning_rendering(qwen, "chat")
    assert "plain layout" in reasoning_rendering(llama.tokenizer, "plain")
    rows = Dataset.from_list(public_shapes.multilingual_thinking())
    scored = score(rows, GlobalNaturalness(llama, format="messages"))
    assert "no place for reasoning" in read_metadata(scored)["scores"]["global_naturalness"]["reasoning_rendering"]


def test_earlier_turns_keep_their_reasoning_as_the_template_renders_it(llama, tiny_root):
    """Multi-turn: an earlier reply's reasoning is context, rendered by the student's template as inline text would
    be: kept by a template that renders content as it is, stripped by a Qwen3-like one, in scoring and training."""
    from transformers import AutoTokenizer

    (q1, _, r1, a1), (q2, _, r2, a2) = PROBLEMS[:2]
    row = {
        "messages": [
            {"role": "user", "content": q1, "reasoning_content": None},
            {"role": "assistant", "content": f"It is {a1}.", "reasoning_content": r1},
            {"role": "user", "content": q2, "reasoning_content": None},
            {"role": "assistant", "content": f"It is {a2}.", "reasoning_content": r2},
        ]
    }
    (turn,) = Shape("messages").read(row)
    assert turn.text == f"<think>\n{r2}\n</think>\n\nIt is {a2}." and r1 in turn.context[1]["content"]
    assert r1 in prompt_prefix(llama.tokenizer, turn.context, "auto")[0]  # kept: the template renders content
    qwen = AutoTokenizer.from_pretrained(tiny_root / "llama")
    qwen.chat_template = QWEN_LIKE
    assert (
        r1 not in prompt_prefix(qwen, turn.context, "chat")[0]
        and f"It is {a1}." in prompt_prefix(qwen, turn.context, "chat")[0]
    )
    written = inline([row])[0]
    for turns in ("last", "all"):
        shape = Shape("messages", turns=turns)
        assert [t.text for t in shape.read(row)] == [t.text for t in shape.read(written)]
        assert [t.context for t in shape.read(row)] == [t.context for t in shape.read(written)]
    # the last turn alone trains under either template; every turn under Qwen3's would lose the first reasoning
    to_sft(Dataset.from_list([row]), Shape("messages"), tokenizer=qwen)
    with pytest.raises(ConfigError, match="row 0: .*assistant turn 0's reasoning.*turns='last'"):
        to_sft(Dataset.from_list([row]), Shape("messages", turns="all"), tokenizer=qwen)
    sft = to_sft(Dataset.from_list([row]), Shape("messages", turns="all"), tokenizer=llama.tokenizer)
    assert [m["content"] for m in sft[0]["messages"] if m["role"] == "assistant"] == [
        t.text for t in Shape("messages", turns="all").read(row)
    ]


@pytest.mark.parametrize(("rows", "shape", "inline_shape"), FIELDS)
def test_trl_trains_on_the_picked_reasoning(rows, shape, inline_shape, llama):
    rows = getattr(public_shapes, rows)()
    scored = score(Dataset.from_list(rows), GlobalNaturalness(llama, shape=shape, on_error="nan"))
    sft = to_sft(scored.filter(lambda r: r["complete"]), shape, tokenizer=llama.tokenizer)
    assert_trains_on_the_pick(sft, scored, shape, llama)
    trained = [row["completion"][0]["content"] for row in sft]
    with_reasoning = [r for r in rows if "<think>" in inline([r])[0].get("response", json.dumps(r))]
    assert sum("</think>" in t for t in trained) >= min(3, len(with_reasoning))
    for text in trained:
        assert not text.startswith("<think>") or "</think>" in text


def test_assistant_only_loss_trains_on_every_turns_reasoning(llama, tiny_root, tmp_path):
    """Every turn scored (``turns="all"``) trains as one conversation with TRL's assistant-only loss: the trained
    tokens hold each turn's reasoning."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(tiny_root / "llama")
    tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>{% if m['role'] == 'assistant' %}{% generation %}"
        "{{ m['content'] }}<|end|>{% endgeneration %}{% else %}{{ m['content'] }}<|end|>{% endif %}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    (q1, _, r1, a1), (q2, _, r2, a2) = PROBLEMS[:2]
    row = {
        "messages": [
            {"role": "user", "content": q1, "thinking": None},
            {"role": "assistant", "content": f"It is {a1}.", "thinking": r1},
            {"role": "user", "content": q2, "thinking": None},
            {"role": "assistant", "content": f"It is {a2}.", "thinking": r2},
        ]
    }
    sft = to_sft(Dataset.from_list([row]), Shape("messages", turns="all"), tokenizer=tokenizer)
    args = SFTConfig(output_dir=str(tmp_path), report_to=[], use_cpu=True, max_length=None, assistant_only_loss=True)
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_root / "llama"),
        args=args,
        train_dataset=sft,
        processing_class=tokenizer,
    )
    (prepared,) = list(trainer.train_dataset)
    mask = prepared.get("assistant_masks") or [int(label != -100) for label in prepared.get("labels", [])]
    text = tokenizer.decode([t for t, m in zip(prepared["input_ids"], mask, strict=True) if m])
    assert r1 in text and r2 in text and f"It is {a2}." in text and q1 not in text


def test_a_template_that_strips_the_reasoning_is_refused(llama, tiny_root, tmp_path, monkeypatch):
    """DeepSeek-R1's distills' template drops every reply's <think> block: a split for it would train on answers
    alone. `to_sft` refuses it, and a recipe whose student has it is refused before scoring."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    rows = public_shapes.reasoning_content()
    tokenizer = AutoTokenizer.from_pretrained(tiny_root / "llama")
    tokenizer.chat_template = STRIPS_THINK
    with pytest.raises(ConfigError, match="row 0: the chat template .* leaves the reply's reasoning"):
        to_sft(Dataset.from_list(rows), Shape("messages"), tokenizer=tokenizer)
    answers_only = [
        {"messages": [{"role": m["role"], "content": m["content"]} for m in r["messages"]]} for r in rows[:-1]
    ]
    assert len(to_sft(Dataset.from_list(answers_only), Shape("messages"), tokenizer=tokenizer)) == 4
    student = tmp_path / "student"
    AutoModelForCausalLM.from_pretrained(tiny_root / "llama").save_pretrained(student)
    tokenizer.save_pretrained(student)
    data = tmp_path / "rows.jsonl"
    Dataset.from_list(rows).to_json(data)
    from hf_select import runner

    monkeypatch.setattr(runner, "score_split", lambda *a, **k: pytest.fail("scored before the check"))
    with pytest.raises(ConfigError, match="leaves the reply's reasoning"):
        runner.run_recipe_file(
            "multilingual_thinking_chat",
            [
                f"models.student.name_or_path={student}",
                f"dataset.path={data}",
                "dataset.name=null",
                f"output.dir={tmp_path / 'out'}",
            ],
            push=False,
        )


def test_answers_are_graded_in_the_answer_and_the_viewer_shades_the_reasoning(llama):
    from hf_select.viewer import viewer_files

    rows = public_shapes.multilingual_thinking()
    ds = Dataset.from_list([{**r, "gold": p[1]} for r, p in zip(rows, PROBLEMS, strict=True)])
    checked = ds.map(CheckAnswers(format="messages", answer_column="gold"), batched=True)
    assert checked["is_correct"] == [True] * 4 and checked["extracted_answer"][0] == "42"
    scored = score(ds, LocalNaturalness(llama, format="messages", window=1))
    files = viewer_files(scored)
    text = files["data/page-00000.js"].decode().strip()
    page = json.loads(text[text.index(", ") + 2 : -2])
    reply = page[0]["responses"][0]["turns"][0]
    assert reply["text"][reply["think"][0] : reply["think"][1]].strip() == PROBLEMS[0][2]
    assert [s[2] for s in reply["shades"]["steps"]] == scored[0]["local_step_scores"]
    assert any(a < reply["think"][1] for a, _, _, _ in reply["shades"]["steps"])  # steps in the reasoning, shaded


def test_a_reasoning_column_goes_in_by_name_in_a_recipe_and_on_the_cli(llama, tiny_root, tmp_path):
    from datasets import load_dataset, load_from_disk

    from hf_select.cli import main
    from hf_select.runner import run_recipe_file

    rows = public_shapes.reasoning_column()
    data = tmp_path / "rows.jsonl"
    Dataset.from_list(rows).to_json(data)
    python = score(Dataset.from_list(rows), GlobalNaturalness(llama, shape=COLUMN))
    out = tmp_path / "scored"
    assert (
        main(
            [
                "score",
                str(data),
                "--model",
                str(tiny_root / "llama"),
                "--scores",
                "global",
                "--prompt-column",
                "question",
                "--response-column",
                "answer",
                "--reasoning-column",
                "reasoning",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    cli = load_from_disk(str(out))
    assert cli["global_num_tokens"] == python["global_num_tokens"]
    assert cli["global_naturalness"] == pytest.approx(python["global_naturalness"], abs=1e-9)
    result = run_recipe_file(
        "mixture_of_thoughts_chat",
        [
            f"models.student.name_or_path={tiny_root / 'llama'}",
            f"dataset.path={data}",
            "dataset.name=null",
            "dataset.format=text",
            "dataset.prompt_column=question",
            "dataset.response_column=answer",
            "dataset.reasoning_column=reasoning",
            f"output.dir={tmp_path / 'out'}",
        ],
        push=False,
    )
    assert result.scored["local_num_steps"][0] >= 3
    # the card says how the reasoning was rendered (in a code span, so a Markdown renderer shows <think>)
    assert (
        "| reasoning_rendering | `inline: <think> before the answer (the chat template has no place" in result.card.text
    )
    curated = load_dataset(str(tmp_path / "out"), split="train")
    assert not {"question", "reasoning", "answer"} & set(curated.column_names)  # folded into prompt/completion
    reasonings = {r["reasoning"] for r in rows if r["reasoning"]}
    assert all(
        f"<think>\n{r}\n</think>" in c[0]["content"]
        for row in curated
        for c in [row["completion"]]
        for r in reasonings
        if r.split(".")[0] in c[0]["content"]
    )
    assert sum("</think>" in row["completion"][0]["content"] for row in curated) >= 1


def test_sharegpt_turns_and_a_mistyped_or_doubled_reasoning_column(llama):
    (q, _, r, a) = PROBLEMS[0]
    sharegpt = {
        "conversations": [
            {"from": "human", "value": q, "reasoning_content": None},
            {"from": "gpt", "value": f"It is {a}.", "reasoning_content": r},
        ]
    }
    assert Shape("sharegpt").reply(sharegpt) == f"<think>\n{r}\n</think>\n\nIt is {a}."
    rows = Dataset.from_list(public_shapes.reasoning_column())
    with pytest.raises(Exception, match="'reasonin' is not in the dataset.*reasoning_column="):
        score(rows, GlobalNaturalness(llama, shape=COLUMN.replace(reasoning_column="reasonin")))
    doubled = {
        "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "It is 42.", "thinking": r}],
        "reasoning": r,
    }
    with pytest.raises(ScoringInputError, match="has a reasoning trace already.*'reasoning' holds reasoning too"):
        Shape("messages", reasoning_column="reasoning").read(doubled)


def test_a_tokenizer_without_a_chat_template_checks_nothing_and_breaks_nothing(nobos):
    """No template: TRL cannot render chat examples with it, so there is nothing to check (and no crash)."""
    rows = Dataset.from_list(public_shapes.reasoning_content()[:2])
    sft = to_sft(rows, Shape("messages"), tokenizer=nobos.tokenizer)
    assert all("</think>" in row["completion"][0]["content"] for row in sft)
