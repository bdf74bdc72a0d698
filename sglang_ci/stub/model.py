"""What the stub "answers": a lookup in an answer key, right with a chosen probability.

Not a model. GSM8K-style prompts are answered from the key (the gold number, or a wrong
one); every other prompt gets filler text. Whether a question is answered right is a
hash of (seed, question): with --enable-deterministic-inference the seed is fixed, so
every run gives the same answers; without it the seed is drawn at start-up, so runs vary
the way a nondeterministic server's do, at the same expected accuracy.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

DATA_ENV = "SGLANG_CI_STUB_DATA"
ACCURACY_ENV = "SGLANG_CI_STUB_ACCURACY"
ACCEPT_LENGTH_ENV = "SGLANG_CI_STUB_ACCEPT_LENGTH"

_GOLD_RE = re.compile(r"####\s*(-?[\d,]*\.?\d+)")


def unit_hash(*parts: object) -> float:
    """A stable pseudo-random number in [0, 1) for the given parts."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def question_of(prompt: str) -> str:
    """The last ``Question: ...`` of a few-shot prompt, as run_eval's gsm8k writes it."""
    tail = prompt.rsplit("Question:", 1)[-1]
    return tail.split("\nAnswer:", 1)[0].strip()


def load_answer_key(path: Path) -> dict[str, str]:
    """question -> gold answer, from GSM8K JSONL ({"question", "answer": "... #### 72"})."""
    key: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            record = json.loads(line)
            match = _GOLD_RE.search(str(record.get("answer", "")))
            if "question" in record and match:
                key[str(record["question"]).strip()] = match.group(1).replace(",", "")
    return key


@dataclass
class StubModel:
    answers: dict[str, str]
    accuracy: float
    seed: str

    @classmethod
    def from_env(cls, deterministic: bool) -> StubModel:
        data = os.environ.get(DATA_ENV)
        answers = load_answer_key(Path(data)) if data else {}
        accuracy = float(os.environ.get(ACCURACY_ENV, "1.0"))
        if not 0.0 <= accuracy <= 1.0:
            raise ValueError(f"{ACCURACY_ENV} must be within 0..1, got {accuracy}")
        seed = "deterministic" if deterministic else os.urandom(8).hex()
        return cls(answers, accuracy, seed)

    def complete(self, prompt: str) -> str:
        question = question_of(prompt)
        gold = self.answers.get(question)
        if gold is None:
            return " I have no answer key entry for this prompt.\n\nQuestion: next"
        if unit_hash(self.seed, question) < self.accuracy:
            answer = gold
        else:
            answer = _wrong(gold, unit_hash(self.seed, "wrong", question))
        # Trailing text past the stop string, as a real model rambles on: the client's
        # stop handling must cut it.
        return f" Let me work it out step by step. The answer is {answer}.\n\nQuestion: another"

    def token_logprob(self, text: str, position: int) -> float:
        """A stable logprob for a token, so logprob-based scoring is reproducible."""
        return -0.05 - 3.0 * unit_hash(self.seed, "lp", text, position)


def _wrong(gold: str, noise: float) -> str:
    value = float(gold) + 1 + int(noise * 7)
    return str(int(value)) if value.is_integer() else f"{value:g}"


def accept_length(steps: int, draft_tokens: int, seed: str, deterministic: bool) -> float:
    """Average accepted tokens per verify step, rising with the speculative settings."""
    override = os.environ.get(ACCEPT_LENGTH_ENV)
    if override:
        return float(override)
    base = 1.0 + 0.7 * max(0, min(steps, draft_tokens - 1))
    jitter = 0.0 if deterministic else (unit_hash(seed, "accept") - 0.5) * 0.1
    return round(base + jitter, 4)
