"""Run an eval by name against a server: the one entry point for the eval CLI, the
suites and calibrate."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from sglang_ci.config.checks import EvalOptions
from sglang_ci.evals.data import GSM8K, HELLASWAG, load_lines
from sglang_ci.evals.gsm8k import run_gsm8k
from sglang_ci.evals.hellaswag import run_hellaswag
from sglang_ci.evals.records import EvalOutcome, SampleRecord
from sglang_ci.launch.http_client import make_session


def run_eval(
    name: str,
    url: str,
    options: EvalOptions,
    *,
    data: str | None,
    env: Mapping[str, str],
    api_key: str | None,
    request_timeout: float,
    stop: threading.Event,
    on_record: Callable[[SampleRecord], None] | None = None,
) -> EvalOutcome:
    """``data``: a local JSONL; without it the eval's environment variable, else the hub."""
    lines = load_lines(GSM8K if name == "gsm8k" else HELLASWAG, data, env)
    runner = run_gsm8k if name == "gsm8k" else run_hellaswag
    with make_session(api_key) as session:
        return runner(
            session, url.rstrip("/"), lines, num_examples=options.num_examples,
            num_shots=options.num_shots, threads=options.threads,
            request_timeout=request_timeout, on_record=on_record, stop=stop,
        )  # fmt: skip
