"""GSM8K as SGLang's run_eval scores it (eval_name="gsm8k", api="completion").

Prompt: the first ``num_shots`` lines of the test set as examples, each
``"Question: {q}\\nAnswer: {a}\\n\\n"``, then ``"Question: {q}\\nAnswer:"``; the example
lines are excluded from the evaluated ones. Completion API, temperature 0, max_tokens
512, stop at "Question", "Assistant:" or "<|separator|>". The answer is the last number
in the text once commas are removed; the gold is the last number of the reference.
"""

from __future__ import annotations

import ast
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from sglang_ci.config.errors import UsageError
from sglang_ci.evals.client import (
    SGLANG_REQUEST_TIMEOUT_S,
    SGLANG_SAMPLER,
    RequestFailed,
    RetryPolicy,
    complete,
    completion_body,
    served_model,
)
from sglang_ci.evals.data import require_fields
from sglang_ci.evals.labels import check_gsm8k
from sglang_ci.evals.pool import map_in_threads
from sglang_ci.evals.records import EvalOutcome, SampleRecord

STOP = ["Question", "Assistant:", "<|separator|>"]
MAX_TOKENS = 512
INVALID = -9999999
_NUMBER = re.compile(r"-?\d+\.?\d*")


def example(line: dict[str, Any], include_answer: bool) -> str:
    text = f"Question: {line['question']}\nAnswer:"
    return f"{text} {line['answer']}" if include_answer else text


def few_shot_prefix(lines: Sequence[dict[str, Any]], shots: int) -> str:
    return "".join(example(line, True) + "\n\n" for line in lines[:shots])


def answer_value(text: str) -> int | float:
    """The last number of ``text`` (commas removed), or INVALID when there is none."""
    numbers = _NUMBER.findall(text.replace(",", ""))
    if not numbers:
        return INVALID
    try:
        value = ast.literal_eval(numbers[-1])
    except (SyntaxError, ValueError):
        return INVALID
    return value if isinstance(value, (int, float)) else INVALID


@dataclass(frozen=True)
class Gsm8kSample:
    index: int
    question: str
    prompt: str
    gold: int | float


def build_samples(
    lines: Sequence[dict[str, Any]], num_shots: int, num_examples: int | None
) -> list[Gsm8kSample]:
    require_fields(lines, ("question", "answer"), "gsm8k")
    if num_shots >= len(lines):
        raise UsageError(f"gsm8k: {num_shots} shots leave none of the {len(lines)} lines to score")
    evaluated = list(lines[num_shots:])
    if num_examples is not None:
        evaluated = evaluated[:num_examples]  # capped silently, as run_eval does
    check_gsm8k(lines, num_shots + len(evaluated), answer_value, INVALID)
    prefix = few_shot_prefix(lines, num_shots)
    return [
        Gsm8kSample(
            index, line["question"], prefix + example(line, False), answer_value(line["answer"])
        )
        for index, line in enumerate(evaluated)
    ]


def run_gsm8k(
    session: requests.Session,
    base_url: str,
    lines: Sequence[dict[str, Any]],
    *,
    num_examples: int | None = 200,
    num_shots: int = 5,
    threads: int = 128,
    request_timeout: float = SGLANG_REQUEST_TIMEOUT_S,
    model: str | None = None,
    policy: RetryPolicy = SGLANG_SAMPLER,
    on_record: Callable[[SampleRecord], None] | None = None,
    stop: threading.Event,
) -> EvalOutcome:
    samples = build_samples(lines, num_shots, num_examples)
    model_id = model or served_model(session, base_url)

    def score(sample: Gsm8kSample) -> SampleRecord:
        started = time.monotonic()
        error: str | None = None
        error_kind: str | None = None
        try:
            body = completion_body(model_id, sample.prompt, MAX_TOKENS, STOP)
            output = complete(session, base_url, body, timeout=request_timeout, cancel=stop,
                              policy=policy)  # fmt: skip
        except RequestFailed as failure:
            # SGLang's sampler returns "" for a 400 and after its last try: scored wrong.
            output, error, error_kind = "", str(failure), failure.kind.value
        extracted = answer_value(output)
        return SampleRecord(
            index=sample.index, question=sample.question, output=output, extracted=extracted,
            gold=sample.gold, correct=extracted == sample.gold,
            latency=round(time.monotonic() - started, 4), error=error, error_kind=error_kind,
        )  # fmt: skip

    started = time.monotonic()
    records = map_in_threads(score, samples, threads, "gsm8k", stop, on_record)
    settings = {"num_shots": num_shots, "threads": threads, "model": model_id,
                "max_tokens": MAX_TOKENS, "temperature": 0.0, "top_p": 1.0, "stop": STOP,
                "request_timeout": request_timeout, "tries": policy.tries,
                "attempts": policy.attempts}  # fmt: skip
    return EvalOutcome("gsm8k", records, time.monotonic() - started, settings)
