"""The stub's answer key for the fixed prompts of SGLang's basic sanity kits.

SGLang's sanity kits (python/sglang/test/kits/basic_*_kit.py and fwd_occupancy_kit.py
at 1bd4f94598) send a handful of fixed prompts and check the text for a word ("paris",
"391", "yellow", a capital), for printable ASCII and for looping. The stub answers those
prompts from this key the way it answers GSM8K from its data: a lookup, not a model.
Each answer rambles past its first line as a model does, so stop strings and the kits'
one-line comparisons are exercised. The ``gibberish`` and ``looping`` faults then break
the text the way a bad weight load or a corrupted KV cache would.
"""

from __future__ import annotations

# The question, as found after the prompt's last "Q:" (up to "\nA:"), or the whole
# prompt, stripped, when it has no "Q:".
ANSWERS: dict[str, str] = {
    "What is the capital of France?": " Paris\nQ: What is the capital of Spain?\nA: Madrid",
    "What is the capital of France? Reply in one word.": " Paris\nQ: And of Italy?\nA: Rome",
    "What is the capital of France? Just one word.": " Paris\nQ: Why?\nA: It is the seat.",
    "What is the capital of Germany?": " Berlin\n",
    "What is the capital of Italy?": " Rome\n",
    "What is the capital of Japan?": " Tokyo\n",
    "What is the capital of Spain?": " Madrid\n",
    "What is the capital of Egypt?": " Cairo\n",
    "What is the capital of Russia?": " Moscow\n",
    "What is the capital of Australia?": " Canberra\n",
    "What is 17 multiplied by 23? Reply with just the number.": " 391\nQ: What is 391 + 9?",
    "The three primary colors are red, blue, and ___. Fill in the blank.": " Yellow.\n",
    "Write a single sentence about a sunny day in the park.": (
        " Children laughed on the swings while their parents shared a picnic under the"
        " warm afternoon sun."
    ),
    "Briefly explain what gravity is.": (
        " Gravity is the force by which a mass attracts every other mass. It keeps the"
        " planets in orbit around the Sun, holds the Moon near the Earth and makes a"
        " dropped apple fall to the ground."
    ),
    "Say hi in one word.": "Hi!",
    "The capital of France is": " Paris, a city on the Seine known for the Eiffel Tower.",
}

# Prompts a model answers at length: the stub writes until max_new_tokens, so the
# fwd_occupancy probe's 2048-token decode (no ignore_eos in the kit) really lasts.
LONG_FORM_ENDINGS = ("Write a long, detailed, multi-paragraph story about",)


def sanity_question(prompt: str) -> str:
    if "Q:" in prompt:
        return prompt.rsplit("Q:", 1)[1].split("\nA:", 1)[0].strip()
    return prompt.strip()


def sanity_answer(prompt: str) -> str | None:
    return ANSWERS.get(sanity_question(prompt))


def runs_to_length(prompt: str) -> bool:
    return prompt.rstrip().endswith(LONG_FORM_ENDINGS)


def garble(text: str) -> str:
    """The ``gibberish`` fault: every visible character becomes a CJK one, as token salad
    from a broken weight load reads; whitespace stays, so the words still split."""
    return "".join(c if c.isspace() else chr(0x4E00 + ord(c) % 2000) for c in text)


def loop(text: str) -> str:
    """The ``looping`` fault: the same short n-gram over and over, as corrupted attention
    produces; as many words as the answer had, so max_new_tokens still applies."""
    return " no" * max(len(text.split()), 1)
