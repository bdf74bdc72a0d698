"""A job's score eval (its suite's ``score``) against a running deployment."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sglang_ci.config import Job
from sglang_ci.evals.data import GSM8K, HELLASWAG, load_lines
from sglang_ci.evals.gsm8k import run_gsm8k
from sglang_ci.evals.hellaswag import run_hellaswag
from sglang_ci.evals.records import EvalOutcome, SampleRecord
from sglang_ci.http_client import make_session


def run_job_eval(
    job: Job,
    name: str,
    url: str,
    api_key: str | None,
    env: Mapping[str, str],
    request_timeout: float,
    on_record: Callable[[SampleRecord], None] | None = None,
) -> EvalOutcome:
    options = job.eval
    if options is None:
        raise ValueError(f"{job.id} has no eval options")
    source = GSM8K if name == "gsm8k" else HELLASWAG
    lines = load_lines(source, None, env)  # a local file via its env variable, else the hub
    runner = run_gsm8k if name == "gsm8k" else run_hellaswag
    with make_session(api_key) as session:
        return runner(
            session, url, lines, num_examples=options.num_examples,
            num_shots=options.num_shots, threads=options.threads,
            request_timeout=request_timeout, on_record=on_record,
        )  # fmt: skip
