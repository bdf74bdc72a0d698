"""HellaSwag as SGLang's hellaswag kit scores it (test_programs.test_hellaswag_select).

Each question is ``"{activity_label}: {ctx} "`` after 20 examples with their gold
ending; the choice is the ending with the highest length-normalized prompt logprob,
computed the way sgl.select does over ``/generate``: the prefix's token count sets
``logprob_start_len = prompt_tokens - 2``, each ``prefix + ending`` is scored with
``return_logprob``, the mean of the non-zero logprobs is taken, and the first returned
token is dropped again when the prefix already ends with it (token healing).
As in SGLang, the evaluated questions are the first N lines and the examples the first
20 of them: the two overlap. Kept as is, so scores compare with SGLang's.
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
from sglang_ci.evals.client import RequestFailed, post_json
from sglang_ci.evals.data import require_fields
from sglang_ci.evals.pool import map_in_threads
from sglang_ci.evals.records import EvalOutcome, SampleRecord


def example(line: dict[str, Any], include_answer: bool) -> str:
    text = f"{line['activity_label']}: {line['ctx']} "
    return text + line["endings"][int(line["label"])] if include_answer else text


def few_shot_prefix(lines: Sequence[dict[str, Any]], shots: int) -> str:
    return "".join(example(line, True) + "\n\n" for line in lines[:shots])


def normalized_logprob(entries: list[list[Any]]) -> float:
    """Mean of the truthy logprobs, as sglang's compute_normalized_prompt_logprobs."""
    values = [entry[0] for entry in entries if entry[0]]
    return sum(values) / len(values) if values else -math.inf


def choose(prefix: str, per_choice: list[list[list[Any]]]) -> int:
    """Index of the chosen ending from each ``prefix + ending``'s input_token_logprobs."""
    scores = []
    for entries in per_choice:
        score = normalized_logprob(entries)
        first = entries[0] if entries else None
        # Token healing: the first scored token belongs to the prefix, drop it again.
        if first and first[0] is not None and first[2] and prefix.endswith(first[2]) \
                and len(entries) > 1:  # fmt: skip
            score = (score * len(entries) - first[0]) / (len(entries) - 1)
        scores.append(score)
    return max(range(len(scores)), key=lambda index: (scores[index], -index))


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
    prefix = few_shot_prefix(lines, num_shots)
    evaluated = list(lines if num_examples is None else lines[:num_examples])
    return [
        HellaswagSample(
            index, prefix + example(line, False), list(line["endings"]), int(line["label"])
        )
        for index, line in enumerate(evaluated)
    ]


def run_hellaswag(
    session: requests.Session,
    base_url: str,
    lines: Sequence[dict[str, Any]],
    *,
    num_examples: int | None = 200,
    num_shots: int = 20,
    threads: int = 64,
    request_timeout: float = 600.0,
    on_record: Callable[[SampleRecord], None] | None = None,
    stop: threading.Event,
) -> EvalOutcome:
    samples = build_samples(lines, num_shots, num_examples)
    url = base_url + "/generate"

    def score(sample: HellaswagSample) -> SampleRecord:
        started = time.monotonic()
        try:
            cached = post_json(session, url, {
                "text": sample.prompt, "sampling_params": {"max_new_tokens": 0}},
                request_timeout, stop)  # fmt: skip
            start = max(int(cached["meta_info"]["prompt_tokens"]) - 2, 0)
            scored = post_json(session, url, {
                "text": [sample.prompt + ending for ending in sample.endings],
                "sampling_params": {"max_new_tokens": 0, "temperature": 0},
                "return_logprob": True, "return_text_in_logprobs": True,
                "logprob_start_len": start,
            }, request_timeout, stop)  # fmt: skip
            chosen = choose(sample.prompt, [r["meta_info"]["input_token_logprobs"] for r in scored])
            output, error, error_kind = sample.endings[chosen], None, None
        except RequestFailed as failure:
            chosen, output, error, error_kind = -1, "", str(failure), failure.kind.value
        return SampleRecord(
            index=sample.index, question=sample.prompt.rsplit("\n\n", 1)[-1], output=output,
            extracted=chosen, gold=sample.label, correct=chosen == sample.label,
            latency=round(time.monotonic() - started, 4), error=error, error_kind=error_kind,
        )  # fmt: skip

    started = time.monotonic()
    records = map_in_threads(score, samples, threads, "hellaswag", stop, on_record)
    settings = {"num_shots": num_shots, "threads": threads}
    return EvalOutcome("hellaswag", records, time.monotonic() - started, settings)
