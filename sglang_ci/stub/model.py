"""What the stub "answers": a lookup in an answer key, right with a chosen probability.

Not a model. GSM8K-style prompts are answered from the key (the gold number, or a wrong
one); the sanity kits' fixed prompts from ``sanity_key`` (always right: the accuracy
setting is for evals); every other prompt gets filler text. Whether a question is
answered right is a hash of (seed, epoch, question). With
--enable-deterministic-inference the seed is fixed and the epoch stays 0, so every run
gives the same answers. Without it the seed is drawn
at start-up and the epoch moves on at every cache flush: runs vary the way a
nondeterministic server's do between evals (seed 001's 0.33-0.50 swings), at the same
expected accuracy, while identical requests within one run still agree.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from sglang_ci.engines.stub import STUB_DATA_ENV
from sglang_ci.stub.sanity_key import sanity_answer

DATA_ENV = STUB_DATA_ENV
ACCURACY_ENV = "SGLANG_CI_STUB_ACCURACY"
ACCEPT_LENGTH_ENV = "SGLANG_CI_STUB_ACCEPT_LENGTH"
# A rehearsal tests the harness, so by default every shipped threshold (up to dsv4's
# 0.95) passes; tests set lower values to see failures. The stub's score is a property
# of this setting, never of a model.
DEFAULT_ACCURACY = "1.0"
# The bisect's test seam, explicit and labelled: SGLANG_CI_STUB_ACCURACY=installed-sglang
# reads the accuracy from the installed ``sglang`` package's SGLANG_CI_STUB_ACCURACY, which
# only the stand-in package the bisect tests write defines (each of its commits sets one).
# Still a setting, never a model's score: the stub is chosen explicitly, never evidence.
FROM_INSTALLED = "installed-sglang"

_GOLD_RE = re.compile(r"####\s*(-?[\d,]*\.?\d+)")


def unit_hash(*parts: object) -> float:
    """A stable pseudo-random number in [0, 1) for the given parts."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def question_of(prompt: str) -> str:
    """The last ``Question: ...`` of a few-shot prompt, as run_eval's gsm8k writes it."""
    tail = prompt.rsplit("Question:", 1)[-1]
    return tail.split("\nAnswer:", 1)[0].strip()


@dataclass
class AnswerKey:
    """GSM8K: question -> gold number. HellaSwag: "{activity_label}: {ctx} " -> (endings,
    gold index), the question exactly as the eval writes it."""

    gsm8k: dict[str, str]
    hellaswag: dict[str, tuple[list[str], int]]


def load_answer_key(paths: list[Path]) -> AnswerKey:
    """Read GSM8K-format and HellaSwag-format JSONL lines, told apart by their fields."""
    key = AnswerKey({}, {})
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                record = json.loads(line)
                if "endings" in record and "ctx" in record:
                    question = f"{record['activity_label']}: {record['ctx']} "
                    key.hellaswag[question] = (list(record["endings"]), int(record["label"]))
                    continue
                match = _GOLD_RE.search(str(record.get("answer", "")))
                if "question" in record and match:
                    key.gsm8k[str(record["question"]).strip()] = match.group(1).replace(",", "")
    return key


@dataclass
class StubModel:
    key: AnswerKey
    accuracy: float
    seed: str
    deterministic: bool = True
    epoch: int = 0

    def next_epoch(self) -> None:
        """A cache flush: a nondeterministic server's next eval draws anew."""
        if not self.deterministic:
            self.epoch += 1

    @property
    def draw(self) -> str:
        return f"{self.seed}/{self.epoch}"

    @property
    def answers(self) -> dict[str, str]:
        return self.key.gsm8k

    @classmethod
    def from_env(cls, deterministic: bool) -> StubModel:
        data = os.environ.get(DATA_ENV, "")
        answers = load_answer_key([Path(part) for part in data.split(os.pathsep) if part])
        accuracy = accuracy_setting(os.environ.get(ACCURACY_ENV, DEFAULT_ACCURACY))
        if not 0.0 <= accuracy <= 1.0:
            raise ValueError(f"{ACCURACY_ENV} must be within 0..1, got {accuracy}")
        seed = "deterministic" if deterministic else os.urandom(8).hex()
        return cls(answers, accuracy, seed, deterministic)

    def complete(self, prompt: str) -> str:
        question = question_of(prompt)
        gold = self.answers.get(question)
        if gold is None:
            fixed = sanity_answer(prompt)  # the sanity kits' fixed prompts
            if fixed is not None:
                return fixed
            return " I have no answer key entry for this prompt.\n\nQuestion: next"
        if unit_hash(self.draw, question) < self.accuracy:
            answer = gold
        else:
            answer = _wrong(gold, unit_hash(self.draw, "wrong", question))
        # Trailing text past the stop string, as a real model rambles on: the client's
        # stop handling must cut it.
        return f" Let me work it out step by step. The answer is {answer}.\n\nQuestion: another"

    def token_logprob(self, text: str, position: int) -> float:
        """A stable logprob for a token, so logprob-based scoring is reproducible."""
        return -0.05 - 3.0 * unit_hash(self.seed, "lp", text, position)

    def ending_logprob(self, text: str) -> tuple[int, float] | None:
        """For ``prefix + ending`` of a HellaSwag question in the key: how many trailing
        words are the ending, and the logprob each gets. The ending the stub "prefers"
        (the gold one with probability ``accuracy``) scores far above the others."""
        tail = text.rsplit("\n\n", 1)[-1]
        for question, (endings, label) in self.key.hellaswag.items():
            if not tail.startswith(question):
                continue
            ending = tail[len(question) :]
            if ending not in endings:
                return None
            preferred = label
            if unit_hash(self.draw, "hs", question) >= self.accuracy:
                shift = 1 + int(unit_hash(self.draw, "hs-wrong", question) * 3)
                preferred = (label + shift) % len(endings)
            value = -0.2 if endings.index(ending) == preferred else -2.5
            return len(ending.split()), value
        return None


def accuracy_setting(value: str) -> float:
    if value != FROM_INSTALLED:
        return float(value)
    import importlib

    try:
        return float(importlib.import_module("sglang").SGLANG_CI_STUB_ACCURACY)
    except (ImportError, AttributeError) as error:
        raise ValueError(
            f"{ACCURACY_ENV}={FROM_INSTALLED}: the installed sglang sets no"
            f" SGLANG_CI_STUB_ACCURACY ({error})"
        ) from None


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
