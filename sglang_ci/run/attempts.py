"""A unit (a job or a registered file) attempted as SGLang's run_unittest_files attempts a
file (ci_utils.py @ 6ed5780c4f): until it passes, fails in a way not worth another try,
or runs out of attempts (one unless retries are on), ``retry_wait`` seconds apart. Each
failed attempt's folder is kept beside the final one, and result.json lists them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sglang_ci.plan.policy import RunPolicy
from sglang_ci.results.result_file import JobResult, Status
from sglang_ci.run.job_runner import say
from sglang_ci.run.retry import attempt_row


def attempted(
    unit: str,
    folder: Path,
    policy: RunPolicy,
    attempt_once: Callable[[], JobResult],
    decide: Callable[[JobResult], tuple[bool, str]],
) -> JobResult:
    """The last attempt's result, with every attempt recorded; written to ``folder``."""
    earlier: list[dict[str, object]] = []
    for attempt in range(1, policy.attempts + 1):
        result = attempt_once()
        retriable, why = decide(result)
        row = attempt_row(attempt, result, retriable, why)
        if result.status is Status.PASSED or not retriable or attempt == policy.attempts:
            break
        earlier.append(row)
        kept = folder.with_name(f"{folder.name}-attempt-{attempt}")
        folder.rename(kept)  # the failed attempt's logs and records stay on disk
        say(f"{unit}: attempt {attempt} {result.status} ({why}); retrying in"
            f" {policy.retry_wait:g} s (its files: {kept})")  # fmt: skip
        time.sleep(policy.retry_wait)  # ci_utils.py: retry_wait_seconds between attempts
    result.attempts = [*earlier, row]
    result.write(folder / "result.json")
    return result
