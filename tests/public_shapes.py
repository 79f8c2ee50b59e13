"""Small rows in exactly the schemas of public reasoning-distillation sets on the Hub, built here (no download).

Each function returns a list of rows with the public column names and value types:
- open-r1/Mixture-of-Thoughts: ``messages`` [{role, content}], ``num_tokens``, ``source``
- nvidia/Llama-Nemotron-Post-Training-Dataset: ``input`` (messages), ``output`` (str), ``generator``,
  ``system_prompt`` ("detailed thinking on" / "off"), ``reasoning``
- open-thoughts/OpenThoughts-114k (and Bespoke-Stratos-17k): ``system``, ``conversations`` [{from, value}] with
  user/assistant turns whose replies are ``<|begin_of_thought|> ... <|end_of_thought|>`` then
  ``<|begin_of_solution|> ... <|end_of_solution|>``
- classic ShareGPT: ``conversations`` of ``human``/``gpt`` turns (and a ``system`` column)
- TRL prompt/completion: ``prompt``, ``completion``, as strings or as message lists
- open-r1/OpenR1-Math-220k: ``problem``, ``answer``, ``generations`` [str], ``correctness_math_verify`` [bool],
  ``is_reasoning_complete`` [bool], ``finish_reasons`` [str] (null in many rows), ``correctness_llama`` (often
  null), ``messages`` (the problem and one correct generation)
- simplescaling/s1K-1.1: ``question``, ``solution``, ``gemini_thinking_trajectory``, ``gemini_attempt``,
  ``deepseek_thinking_trajectory``, ``deepseek_attempt``
- HuggingFaceH4/Multilingual-Thinking (gpt-oss Harmony): ``reasoning_language``, ``developer``, ``user``,
  ``analysis``, ``final``, ``messages`` [{content, role, thinking}] (``thinking`` null but on the assistant turn)
- Qwen3 / DeepSeek API / vLLM and SGLang reasoning parsers: ``messages`` whose assistant turns carry
  ``reasoning_content`` (null on other turns; null ``content`` when the generation was cut off while reasoning)
- typed content parts: ``content`` [{type, text}] with ``reasoning`` and ``text`` parts
- a reasoning column beside the answer: ``question``, ``reasoning``, ``answer``
Responses are DeepSeek-R1 traces (``<think> ... </think>`` then a ``\\boxed{}`` answer) where the sets have them,
and each shape has the quirks of the real set: nulls, traces cut off at the token limit, system prompts in their
own columns.
"""

from __future__ import annotations

PROBLEMS = [
    ("What is 6 times 7?", "42", "First, 6 * 7 = 42.\n\nCheck: 42 / 7 = 6.", "42"),
    ("Add 3.5 and 4.", "7.5", "We add 3.5 and 4. That gives 7.5.\n\nCheck: 7.5 - 4 = 3.5.", "7.5"),
    (
        "A rectangle has sides 5 cm and 8 cm. What is its perimeter?",
        "26",
        "The perimeter is 2(5 + 8).\n\nSo 2 * 13 = 26 cm.",
        "26",
    ),
    (
        "Natalia sold 48 clips in April and half as many in May. How many in all?",
        "72",
        "In May she sold half of 48, which is 24.\n\nTotal: 48 + 24 = 72.",
        "72",
    ),
]


def r1(reasoning: str, answer: str) -> str:
    return f"<think>\n{reasoning}\n</think>\n\nThe answer is $\\boxed{{{answer}}}$."


def cut_off(reasoning: str) -> str:
    """A trace that hit the token limit inside its reasoning: short, confident, and never finished."""
    return "<think>\n" + reasoning.split("\n\n")[0]


def thought_solution(reasoning: str, answer: str) -> str:
    return (
        f"<|begin_of_thought|>\n\n{reasoning}\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n"
        f"The answer is $\\boxed{{{answer}}}$.\n\n<|end_of_solution|>"
    )


def mixture_of_thoughts() -> list[dict]:
    rows = [
        {
            "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": r1(reasoning, a)}],
            "num_tokens": 40 + i,
            "source": "math",
        }
        for i, (q, _, reasoning, a) in enumerate(PROBLEMS)
    ]
    q, _, reasoning, _ = PROBLEMS[0]
    rows.append(
        {
            "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": cut_off(reasoning)}],
            "num_tokens": 16000,
            "source": "math",
        }
    )
    return rows


def multi_turn_messages() -> list[dict]:
    return [
        {
            "messages": [
                {"role": "system", "content": "You are a careful tutor."},
                {"role": "user", "content": "What is 6 times 7?"},
                {"role": "assistant", "content": "6 * 7 = 42."},
                {"role": "user", "content": "And 42 plus 8?"},
                {"role": "assistant", "content": "42 + 8 = 50. So the answer is 50."},
            ],
            "num_tokens": 30,
            "source": "chat",
        }
    ]


def llama_nemotron() -> list[dict]:
    """Reasoning on: an R1 trace under "detailed thinking on"; off: a plain answer under "detailed thinking off"."""
    rows = []
    for i, (q, _, reasoning, a) in enumerate(PROBLEMS):
        on = i % 2 == 0
        rows.append(
            {
                "input": [{"role": "user", "content": q}],
                "output": r1(reasoning, a) if on else f"{reasoning}\n\nThe answer is $\\boxed{{{a}}}$.",
                "category": "math",
                "license": "cc-by-4.0",
                "reasoning": "on" if on else "off",
                "generator": "DeepSeek-R1" if on else "Qwen-2.5-72B-Instruct",
                "system_prompt": f"detailed thinking {'on' if on else 'off'}",
                "used_in_training": "yes",
                "version": "v1",
            }
        )
    return rows


OPENTHOUGHTS_SYSTEM = (
    "Your role as an assistant involves thoroughly exploring questions through a systematic long "
    "thinking process before providing the final precise and accurate solutions. Please structure "
    "your response into two main sections: Thought and Solution."
)


def openthoughts() -> list[dict]:
    rows = [
        {
            "system": OPENTHOUGHTS_SYSTEM,
            "conversations": [{"from": "user", "value": q}, {"from": "assistant", "value": thought_solution(r, a)}],
        }
        for q, _, r, a in PROBLEMS
    ]
    q, _, reasoning, _ = PROBLEMS[1]
    rows.append(
        {
            "system": OPENTHOUGHTS_SYSTEM,
            "conversations": [
                {"from": "user", "value": q},
                {"from": "assistant", "value": f"<|begin_of_thought|>\n\n{reasoning}"},
            ],
        }
    )
    return rows


def classic_sharegpt() -> list[dict]:
    return [
        {
            "system": "You are a helpful math tutor.",
            "conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": r1(reasoning, a)}],
        }
        for q, _, reasoning, a in PROBLEMS
    ]


def multilingual_thinking() -> list[dict]:
    """gpt-oss's Harmony data: the reasoning under ``thinking``; the developer prompt is the system turn."""
    rows = []
    for i, (q, _, reasoning, a) in enumerate(PROBLEMS):
        language = ["French", "German", "Spanish", "Italian"][i]
        developer = "You are a careful math tutor."
        final = f"The answer is $\\boxed{{{a}}}$."
        rows.append(
            {
                "reasoning_language": language,
                "developer": developer,
                "user": q,
                "analysis": reasoning,
                "final": final,
                "messages": [
                    {"content": f"reasoning language: {language}\n\n{developer}", "role": "system", "thinking": None},
                    {"content": q, "role": "user", "thinking": None},
                    {"content": final, "role": "assistant", "thinking": reasoning},
                ],
            }
        )
    return rows


def reasoning_content() -> list[dict]:
    """Generated through a reasoning parser: ``reasoning_content`` beside the answer; the last row was cut off while
    reasoning (the parser puts everything in ``reasoning_content``, ``content`` is null)."""
    rows = [
        {
            "messages": [
                {"role": "user", "content": q, "reasoning_content": None},
                {"role": "assistant", "content": f"The answer is $\\boxed{{{a}}}$.", "reasoning_content": reasoning},
            ],
            "source": "math",
        }
        for q, _, reasoning, a in PROBLEMS
    ]
    q, _, reasoning, _ = PROBLEMS[0]
    rows.append(
        {
            "messages": [
                {"role": "user", "content": q, "reasoning_content": None},
                {
                    "role": "assistant",
                    "content": None,
                    "reasoning_content": cut_off(reasoning).removeprefix("<think>\n"),
                },
            ],
            "source": "math",
        }
    )
    return rows


def reasoning_parts() -> list[dict]:
    """Typed content parts: every message's content a list of parts, the reply a reasoning part then a text part."""

    def reply(reasoning: str, a: str) -> list[dict]:
        return [{"type": "reasoning", "text": reasoning}, {"type": "text", "text": f"The answer is $\\boxed{{{a}}}$."}]

    return [
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": q}]},
                {"role": "assistant", "content": reply(reasoning, a)},
            ]
        }
        for q, _, reasoning, a in PROBLEMS
    ]


def reasoning_column() -> list[dict]:
    """The reasoning in a column beside the answer (large aggregated SFT sets); one row without reasoning."""
    rows = [
        {"question": q, "reasoning": reasoning, "answer": f"The answer is $\\boxed{{{a}}}$."}
        for q, _, reasoning, a in PROBLEMS
    ]
    rows[-1]["reasoning"] = None
    return rows


def inline(rows: list[dict], reasoning: bool = True) -> list[dict]:
    """The same rows with every reasoning written inline (``r1``), as R1 sets keep it: what they must score as
    (``reasoning=False``: the answers alone, what was scored before reasoning fields were read)."""
    keep = reasoning
    out = []
    for row in rows:
        if "messages" in row:
            messages = []
            for m in row["messages"]:
                content, reasoning = m["content"], m.get("thinking") or m.get("reasoning_content")
                if isinstance(content, list):
                    reasoning = "".join(p["text"] for p in content if p["type"] == "reasoning") or None
                    content = "".join(p["text"] for p in content if p["type"] == "text")
                reasoning = reasoning if keep else None
                if reasoning and content:
                    content = f"<think>\n{reasoning}\n</think>\n\n{content}"
                elif reasoning:
                    content = f"<think>\n{reasoning}"
                messages.append({"role": m["role"], "content": content})
            out.append({**row, "messages": messages})
        else:
            reasoning, answer = row["reasoning"] if keep else None, row["answer"]
            text = f"<think>\n{reasoning}\n</think>\n\n{answer}" if reasoning else answer
            out.append({"question": row["question"], "response": text})
    return out


def trl_prompt_completion(as_messages: bool = False) -> list[dict]:
    if as_messages:
        return [
            {
                "prompt": [{"role": "user", "content": q}],
                "completion": [{"role": "assistant", "content": r1(reasoning, a)}],
            }
            for q, _, reasoning, a in PROBLEMS
        ]
    return [{"prompt": q, "completion": r1(reasoning, a)} for q, _, reasoning, a in PROBLEMS]


def openr1_math() -> list[dict]:
    """Three generations per problem: the first correct, the second wrong, the third cut off at the token limit;
    odd rows also have a second correct generation (a longer one), and null ``finish_reasons`` /
    ``correctness_llama``, as many rows of the real set do. ``messages`` holds the first correct generation."""
    rows = []
    for i, (q, answer, reasoning, a) in enumerate(PROBLEMS):
        wrong = str(int(float(a)) + 1) if "." not in a else a + "1"
        generations = [
            r1(reasoning, a),
            r1(reasoning + "\n\nWait, let me recount.", wrong),
            "<think>\nLet me think about this carefully. " + reasoning,
        ]  # the last one is cut off
        correct, finish, llama = [True, False, False], ["stop", "stop", "length"], [True, False, None]
        if i % 2:
            generations.append(r1("Let me restate the problem first.\n\n" + reasoning + "\n\nThis checks out.", a))
            correct, finish, llama = [*correct, True], None, None
        rows.append(
            {
                "problem": q,
                "solution": reasoning,
                "answer": answer,
                "problem_type": "Algebra",
                "question_type": "math-word-problem",
                "source": "olympiads",
                "uuid": f"u{i}",
                "is_reasoning_complete": [True, True, False] + [True] * (len(generations) - 3),
                "generations": generations,
                "correctness_math_verify": correct,
                "correctness_llama": llama,
                "finish_reasons": finish,
                "correctness_count": sum(correct),
                "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": generations[0]}],
            }
        )
    return rows


def s1k() -> list[dict]:
    return [
        {
            "solution": f"The answer is {a}.",
            "question": q,
            "cot_type": "math",
            "source_type": "AI-MO/NuminaMath",
            "metadata": "{}",
            "gemini_thinking_trajectory": reasoning,
            "gemini_attempt": f"$\\boxed{{{a}}}$",
            "deepseek_thinking_trajectory": reasoning + "\n\nLet me double-check: it holds.",
            "deepseek_attempt": f"The final answer is $\\boxed{{{a}}}$.",
            "gemini_grade": "Yes",
            "deepseek_grade": "Yes",
        }
        for q, _, reasoning, a in PROBLEMS
    ]
