"""Small rows in exactly the schemas of public reasoning-distillation sets on the Hub, built here (no download).

Each function returns a list of rows with the public column names and value types:
- open-r1/Mixture-of-Thoughts: ``messages`` [{role, content}], ``num_tokens``, ``source``
- nvidia/Llama-Nemotron-Post-Training-Dataset: ``input`` (messages), ``output`` (str), ``generator``
- open-thoughts/OpenThoughts-114k: ``system``, ``conversations`` [{from, value}]
- TRL prompt/completion: ``prompt``, ``completion``, as strings or as message lists
- open-r1/OpenR1-Math-220k: ``problem``, ``answer``, ``generations`` [str], ``correctness_math_verify`` [bool],
  ``is_reasoning_complete`` [bool], ``finish_reasons`` [str]
- simplescaling/s1K-1.1: ``question``, ``solution``, ``gemini_thinking_trajectory``, ``gemini_attempt``,
  ``deepseek_thinking_trajectory``, ``deepseek_attempt``
Responses are DeepSeek-R1 traces (``<think> ... </think>`` then a ``\\boxed{}`` answer) where the sets have them.
"""

from __future__ import annotations

PROBLEMS = [
    ("What is 6 times 7?", "42", "First, 6 * 7 = 42.\n\nCheck: 42 / 7 = 6.", "42"),
    ("Add 3.5 and 4.", "7.5", "We add 3.5 and 4. That gives 7.5.\n\nCheck: 7.5 - 4 = 3.5.", "7.5"),
    ("A rectangle has sides 5 cm and 8 cm. What is its perimeter?", "26",
     "The perimeter is 2(5 + 8).\n\nSo 2 * 13 = 26 cm.", "26"),
    ("Natalia sold 48 clips in April and half as many in May. How many in all?", "72",
     "In May she sold half of 48, which is 24.\n\nTotal: 48 + 24 = 72.", "72"),
]


def r1(reasoning: str, answer: str) -> str:
    return f"<think>\n{reasoning}\n</think>\n\nThe answer is $\\boxed{{{answer}}}$."


def mixture_of_thoughts() -> list[dict]:
    return [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": r1(reasoning, a)}],
             "num_tokens": 40 + i, "source": "math"} for i, (q, _, reasoning, a) in enumerate(PROBLEMS)]


def multi_turn_messages() -> list[dict]:
    return [{"messages": [
        {"role": "system", "content": "You are a careful tutor."},
        {"role": "user", "content": "What is 6 times 7?"},
        {"role": "assistant", "content": "6 * 7 = 42."},
        {"role": "user", "content": "And 42 plus 8?"},
        {"role": "assistant", "content": "42 + 8 = 50. So the answer is 50."},
    ], "num_tokens": 30, "source": "chat"}]


def llama_nemotron() -> list[dict]:
    return [{"input": [{"role": "user", "content": q}], "output": r1(reasoning, a),
             "generator": ["DeepSeek-R1", "Qwen-2.5-72B-Instruct"][i % 2], "category": "math"}
            for i, (q, _, reasoning, a) in enumerate(PROBLEMS)]


def openthoughts() -> list[dict]:
    system = "Your role as an assistant involves thoroughly exploring questions through a systematic thinking process."
    return [{"system": system, "conversations": [{"from": "user", "value": q},
                                                  {"from": "assistant", "value": r1(reasoning, a)}]}
            for q, _, reasoning, a in PROBLEMS]


def trl_prompt_completion(as_messages: bool = False) -> list[dict]:
    if as_messages:
        return [{"prompt": [{"role": "user", "content": q}],
                 "completion": [{"role": "assistant", "content": r1(reasoning, a)}]}
                for q, _, reasoning, a in PROBLEMS]
    return [{"prompt": q, "completion": r1(reasoning, a)} for q, _, reasoning, a in PROBLEMS]


def openr1_math() -> list[dict]:
    rows = []
    for i, (q, answer, reasoning, a) in enumerate(PROBLEMS):
        wrong = str(int(float(a)) + 1) if "." not in a else a + "1"
        generations = [r1(reasoning, a), r1(reasoning + "\n\nWait, let me recount.", wrong),
                       "<think>\nLet me think about this carefully. " + reasoning]  # the last one is cut off
        rows.append({"problem": q, "solution": reasoning, "answer": answer, "problem_type": "Algebra",
                     "question_type": "math-word-problem", "source": "olympiads", "uuid": f"u{i}",
                     "is_reasoning_complete": [True, True, False], "generations": generations,
                     "correctness_math_verify": [True, False, False], "correctness_llama": None,
                     "finish_reasons": ["stop", "stop", "length"], "correctness_count": 1,
                     "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": generations[0]}]})
    return rows


def s1k() -> list[dict]:
    return [{"solution": f"The answer is {a}.", "question": q, "cot_type": "math", "source_type": "AI-MO/NuminaMath",
             "metadata": "{}", "gemini_thinking_trajectory": reasoning, "gemini_attempt": f"$\\boxed{{{a}}}$",
             "deepseek_thinking_trajectory": reasoning + "\n\nLet me double-check: it holds.",
             "deepseek_attempt": f"The final answer is $\\boxed{{{a}}}$.", "gemini_grade": "Yes",
             "deepseek_grade": "Yes"} for q, _, reasoning, a in PROBLEMS]
