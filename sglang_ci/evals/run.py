"""Run an eval by name against a server: the one entry point for the eval CLI, the
suites and calibrate."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping

from sglang_ci.config.checks import EvalOptions
from sglang_ci.config.errors import UsageError
from sglang_ci.evals import gsm8k, hellaswag
from sglang_ci.evals.data import GSM8K, HELLASWAG, HUB, load_lines
from sglang_ci.evals.gsm8k import run_gsm8k
from sglang_ci.evals.hellaswag import run_hellaswag
from sglang_ci.evals.records import ALL_FAILED_CHOICES, ALL_FAILED_ENV, EvalOutcome, SampleRecord
from sglang_ci.launch.http_client import make_session


def all_failed_is_error(env: Mapping[str, str]) -> bool:
    """The switch of the labelled improvement in records.py (default: error)."""
    value = env.get(ALL_FAILED_ENV, "error") or "error"
    if value not in ALL_FAILED_CHOICES:
        choices = ", ".join(ALL_FAILED_CHOICES)
        raise UsageError(f"{ALL_FAILED_ENV}={value!r}: expected one of {choices}")
    return value == "error"


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
    """``data``: a local JSONL or "hub"; without it the eval's environment variable, else
    the file SGLang's eval downloads."""
    strict = all_failed_is_error(env)
    lines = load_lines(GSM8K if name == "gsm8k" else HELLASWAG, data, env)
    runner = run_gsm8k if name == "gsm8k" else run_hellaswag
    # No connection retries in the session: the eval's own policy (client.py) is SGLang's
    # whole retry schedule, and httpx / urllib under SGLang's clients retry nothing more.
    with make_session(api_key, connect_retries=0) as session:
        outcome = runner(
            session, url.rstrip("/"), lines, num_examples=options.num_examples,
            num_shots=options.num_shots, threads=options.threads,
            request_timeout=request_timeout, on_record=on_record, stop=stop,
        )  # fmt: skip
    return dataclasses.replace(outcome, all_failed_is_error=strict)


EVALS = ("gsm8k", "hellaswag")


def check_local_data(name: str, options: EvalOptions, env: Mapping[str, str]) -> None:
    """Before anything starts: the local file the eval's variable names is read and its
    records checked as the eval would (labels valid, SGLang asserts it), so bad data is
    one line and exit 2, not a score of 1.0. SGLang's own file (the default, checked by
    its SHA-256) and the hub's copy are read when the eval runs."""
    source = GSM8K if name == "gsm8k" else HELLASWAG
    chosen = env.get(source.env)
    if not chosen or chosen == HUB:
        return
    lines = load_lines(source, chosen, env)
    build = gsm8k.build_samples if name == "gsm8k" else hellaswag.build_samples
    try:
        build(lines, options.num_shots, options.num_examples)
    except UsageError as error:
        raise UsageError(f"{source.env}={chosen}: {error}") from None
