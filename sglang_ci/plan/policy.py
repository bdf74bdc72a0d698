"""How a stage's jobs run: attempts, time limit, the wait between attempts and whether
a failure stops the partition, resolved from the stage's settings in stages.toml and
the command line, by SGLang's rules (test/run_suite.py and
python/sglang/test/ci/ci_utils.py run_unittest_files @ 6ed5780c4f):

- one attempt unless retries are enabled (``--enable-retry``; SGLang's CUDA PR CI never
  passes it: _pr-test-stage.yml's run_suite.py line has no such flag);
- with retries on: up to ``max_attempts`` (2), ``retry_wait`` (60 s) between attempts,
  and every attempt's time limit raised by ``retry_timeout_increase`` (600 s);
- a flat time limit per SGLang test file (``--timeout-per-file``, default 1200 s),
  whatever its est-time, shared by the jobs that reproduce that file (plan.file_budget);
- fail-fast: the partition stops at its first failing job unless continue-on-error.
"""

from __future__ import annotations

from dataclasses import dataclass

from sglang_ci.config.schema import StagePolicy
from sglang_ci.config.text import number


@dataclass(frozen=True)
class RunPolicy:
    attempts: int
    time_limit: float  # seconds per job and attempt
    retry_wait: float
    continue_on_error: bool

    @property
    def fail_fast(self) -> bool:
        return not self.continue_on_error

    def describe(self) -> str:
        attempts = "1 attempt (no retries)" if self.attempts == 1 else (
            f"up to {self.attempts} attempts ({number(self.retry_wait)} s apart, accuracy and"
            " timeout failures only)")  # fmt: skip
        stop = "continue-on-error" if self.continue_on_error else "fail-fast"
        limit = f"time limit {number(self.time_limit)} s per SGLang file (its jobs share it)"
        return f"{attempts}, {limit}, {stop}"


def resolve(
    stage: StagePolicy, *, timeout: float | None = None, enable_retry: bool = False,
    max_attempts: int | None = None, retry_wait: float | None = None,
    retry_timeout_increase: float | None = None, continue_on_error: bool = False,
) -> RunPolicy:  # fmt: skip
    """The command line's values where given, else the stage's (schema.StagePolicy holds
    SGLang's defaults). A flag can turn retries or continue-on-error on, never off."""
    retry = enable_retry or stage.enable_retry
    limit = timeout if timeout is not None else stage.timeout_per_job
    if retry:  # run_suite.py: timeout += args.retry_timeout_increase when retry is enabled
        increase = retry_timeout_increase
        limit += stage.retry_timeout_increase if increase is None else increase
    return RunPolicy(
        attempts=(max_attempts or stage.max_attempts) if retry else 1,
        time_limit=limit,
        retry_wait=stage.retry_wait if retry_wait is None else retry_wait,
        continue_on_error=continue_on_error or stage.continue_on_error,
    )
