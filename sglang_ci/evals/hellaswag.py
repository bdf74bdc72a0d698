"""HellaSwag as SGLang's hellaswag kit scores it (test_programs.test_hellaswag_select).

Each question is ``"{activity_label}: {ctx} "`` after 20 examples with their gold
ending; the choice is the ending with the highest length-normalized prompt logprob,
computed the way sgl.select does over ``/generate``: the prefix's token count sets
``logprob_start_len = prompt_tokens - 2``, each ``prefix + ending`` is scored with
``return_logprob``, the mean of the non-zero logprobs is taken, and the first returned
token is dropped again when the prefix already ends with it (token healing).
As in SGLang, the evaluated questions are the first N lines and the examples the first
20 of them: the two overlap. Kept as is, so scores compare with SGLang's. Each pass
first sends the 20 examples alone (the frontend's prefix cache); the kit runs two
passes and asserts they agree within 0.1. Requests are never retried and any failed one
makes the eval an error, as sgl.select raises.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from sglang_ci.config.errors import UsageError
from sglang_ci.evals.client import (
    SGLANG_REQUEST_TIMEOUT_S,
    SGLANG_SELECT,
    RequestFailed,
    post_json,
)
from sglang_ci.evals.data import require_fields
from sglang_ci.evals.labels import check_hellaswag
from sglang_ci.evals.pool import map_in_threads
from sglang_ci.evals.records import EvalOutcome, SampleRecord
from sglang_ci.outcome.errors import FatalError


def example(line: dict[str, Any], include_answer: bool) -> str:
    text = f"{line['activity_label']}: {line['ctx']} "
    return text + line["endings"][int(line["label"])] if include_answer else text


def few_shot_prefix(lines: Sequence[dict[str, Any]], shots: int) -> str:
    return "".join(example(line, True) + "\n\n" for line in lines[:shots])


def normalized_logprob(entries: list[list[Any]]) -> float:
    """Mean of the truthy logprobs, as sglang's compute_normalized_prompt_logprobs (which
    divides by zero where none is truthy; -inf here keeps the other endings in play)."""
    values = [entry[0] for entry in entries if entry[0]]
    return sum(values) / len(values) if values else -math.inf


def choose(prefix: str, per_choice: list[list[list[Any]]], endings: Sequence[str]) -> int:
    """The predicted index, from each ``prefix + ending``'s input_token_logprobs, as
    RuntimeEndpoint.select and the kit compute it (runtime_endpoint.py at 1bd4f94598)."""
    scores = []
    for entries in per_choice:
        score = normalized_logprob(entries)
        first = entries[0] if entries else None
        # Token healing: when the prefix ends with the first scored token's text (an
        # empty text included, as str.endswith("") is true), that token belongs to the
        # prefix and leaves the mean. SGLang would crash on a None logprob or a single
        # entry; those keep the plain mean here.
        if first and isinstance(first[2], str) and prefix.endswith(first[2]) \
                and first[0] is not None and len(entries) > 1:  # fmt: skip
            score = (score * len(entries) - first[0]) / (len(entries) - 1)
        scores.append(score)
    best = max(range(len(scores)), key=lambda index: (scores[index], -index))  # np.argmax
    # test_hellaswag_select: preds = choices.index(ret["answer"]), the first equal ending.
    return list(endings).index(endings[best])


@dataclass(frozen=True)
class HellaswagSample:
    index: int
    prompt: str
    endings: list[str]
    label: int


def build_samples(
    lines: Sequence[dict[str, Any]], num_shots: int, num_examples: int | None
) -> list[HellaswagSample]:
    require_fields(lines, ("activity_label", "ctx", "endings", "label"), "hellaswag")
    if num_shots > len(lines):
        raise UsageError(f"hellaswag: {num_shots} shots but only {len(lines)} lines")
    evaluated = list(lines if num_examples is None else lines[:num_examples])
    check_hellaswag(lines, max(num_shots, len(evaluated)))
    prefix = few_shot_prefix(lines, num_shots)
    return [
        HellaswagSample(
            index, prefix + example(line, False), list(line["endings"]), int(line["label"])
        )
        for index, line in enumerate(evaluated)
    ]


# run_program_batch: cache_program sends the traced constant prefix (the 20 examples)
# once per batch when it is longer than 64 characters (interpreter.py at 1bd4f94598).
PRECACHE_MIN_CHARS = 64
# test_hellaswag_select runs the batch twice (plain, then generator_style) and asserts
# abs(accuracy_gen - accuracy) < 0.1; it returns the first run's accuracy.
PASSES = 2
PASS_AGREEMENT = 0.1


def select_bodies(prompt: str, endings: Sequence[str], start: int) -> dict[str, Any]:
    """The logprob request of RuntimeEndpoint.select for one question."""
    return {
        "text": [prompt + ending for ending in endings],
        "sampling_params": {"max_new_tokens": 0, "temperature": 0},
        "return_logprob": True, "return_text_in_logprobs": True,
        "logprob_start_len": start,
    }  # fmt: skip


def run_hellaswag(
    session: requests.Session,
    base_url: str,
    lines: Sequence[dict[str, Any]],
    *,
    num_examples: int | None = 200,
    num_shots: int = 20,
    threads: int = 64,
    request_timeout: float = SGLANG_REQUEST_TIMEOUT_S,
    passes: int = PASSES,
    on_record: Callable[[SampleRecord], None] | None = None,
    stop: threading.Event,
) -> EvalOutcome:
    samples = build_samples(lines, num_shots, num_examples)
    url = base_url + "/generate"
    prefix = few_shot_prefix(lines, num_shots)

    def send(body: dict[str, Any]) -> Any:
        # sglang.utils.http_request calls urlopen with no timeout at all; a request that
        # never ends is cut at request_timeout here instead (a deliberate difference: a
        # hang fails either way, here as a named request timeout).
        return post_json(session, url, body, request_timeout, stop, SGLANG_SELECT)

    def score(sample: HellaswagSample) -> SampleRecord:
        started = time.monotonic()
        try:
            # select: the prompt alone first (its token count), then every ending.
            cached = send({"text": sample.prompt, "sampling_params": {"max_new_tokens": 0}})
            start = max(int(cached["meta_info"]["prompt_tokens"]) - 2, 0)  # token healing
            scored = send(select_bodies(sample.prompt, sample.endings, start))
            per_choice = [r["meta_info"]["input_token_logprobs"] for r in scored]
            chosen = choose(sample.prompt, per_choice, sample.endings)
            output, error, error_kind = sample.endings[chosen], None, None
        except RequestFailed as failure:
            chosen, output, error, error_kind = -1, "", str(failure), failure.kind.value
        return SampleRecord(
            index=sample.index, question=sample.prompt.rsplit("\n\n", 1)[-1], output=output,
            extracted=chosen, gold=sample.label, correct=chosen == sample.label,
            latency=round(time.monotonic() - started, 4), error=error, error_kind=error_kind,
        )  # fmt: skip

    def one_pass(label: str, sink: Callable[[SampleRecord], None] | None) -> list[SampleRecord]:
        if len(prefix) > PRECACHE_MIN_CHARS:
            try:
                send({"text": prefix, "sampling_params": {"max_new_tokens": 0}})
            except RequestFailed as failure:
                raise FatalError(f"hellaswag: caching the examples failed ({failure})",
                                 kind=failure.kind) from None  # fmt: skip
        return map_in_threads(score, samples, threads, label, stop, sink)

    started = time.monotonic()
    records = one_pass("hellaswag", on_record)
    settings: dict[str, Any] = {"num_shots": num_shots, "threads": threads, "passes": passes,
                                "request_timeout": request_timeout}  # fmt: skip
    problems: tuple[str, ...] = ()
    if passes > 1 and not any(record.error for record in records):
        again = one_pass("hellaswag (second pass)", None)
        first, second = accuracy(records), accuracy(again)
        settings["second_pass_score"] = second
        if any(record.error for record in again):
            records = again  # its failed requests make the eval an error, as in SGLang
        elif not abs(second - first) < PASS_AGREEMENT:
            problems = (f"the two passes disagree: {first:.3f} then {second:.3f}"
                        f" (SGLang's kit asserts a difference < {PASS_AGREEMENT:g})",)  # fmt: skip
    return EvalOutcome("hellaswag", records, time.monotonic() - started, settings,
                       any_failure_is_error=True, problems=problems)  # fmt: skip


def accuracy(records: Sequence[SampleRecord]) -> float:
    return sum(record.correct for record in records) / len(records) if records else 0.0
