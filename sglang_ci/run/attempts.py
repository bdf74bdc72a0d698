"""A unit (a job or a registered file) attempted as SGLang's run_unittest_files attempts a
file (ci_utils.py @ 6ed5780c4f): until it passes, fails in a way not worth another try,
or runs out of attempts (one unless retries are on), ``retry_wait`` seconds apart. Each
failed attempt's folder is kept beside the final one, and result.json lists them all.

Between attempts (the retry wait, the folder moved aside) the cancellation signals are
ours too: a signal there ends the unit `cancelled` (exit 130) with a final result.json,
where the default handlers would end the runner with 143, 129 or a traceback and no
result at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from sglang_ci.launch.cancel import CancelToken, CancelWatch
from sglang_ci.outcome.retry import attempt_row
from sglang_ci.outcome.verdict import Status
from sglang_ci.plan.policy import RunPolicy
from sglang_ci.results.result_file import JobResult
from sglang_ci.run.console import say
from sglang_ci.run.verdict_rules import interruption_verdict

WAIT_POLL_S = 0.05  # how soon a signal recorded during the retry wait ends it


def attempted(
    unit: str,
    folder: Path,
    policy: RunPolicy,
    attempt_once: Callable[[], JobResult],
    decide: Callable[[JobResult], tuple[bool, str]],
) -> JobResult:
    """The last attempt's result, with every attempt recorded; written to ``folder``.
    Each attempt watches the signals itself; around the attempts a shielded watch
    records them, so that a signal between attempts is a cancellation, never an exit."""
    token = CancelToken()
    earlier: list[dict[str, object]] = []
    with CancelWatch(token) as watch, watch.shielded():
        for attempt in range(1, policy.attempts + 1):
            result = attempt_once()
            if token.interruption is not None and result.status is Status.PASSED:
                result.finish(interruption_verdict(token.interruption, None))
            retriable, why = decide(result)
            row = attempt_row(attempt, result.verdict, retriable, why)
            last = attempt == policy.attempts
            if result.status is Status.PASSED or not retriable or last:
                break
            earlier.append(row)
            kept = folder.with_name(f"{folder.name}-attempt-{attempt}")
            folder.rename(kept)  # the failed attempt's logs and records stay on disk
            say(f"{unit}: attempt {attempt} {result.status} ({why}); retrying in"
                f" {policy.retry_wait:g} s (its files: {kept})")  # fmt: skip
            wait(policy.retry_wait, token)  # ci_utils.py: retry_wait_seconds between attempts
            if token.interruption is not None:
                result, row = cancelled_before(attempt + 1, result, token)
                break
    result.attempts = [*earlier, row]
    result.write(folder / "result.json")
    return result


def wait(seconds: float, token: CancelToken) -> None:
    """``seconds``, or less when a signal is recorded on ``token``."""
    deadline = time.monotonic() + seconds
    while token.interruption is None and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(WAIT_POLL_S, left))


def cancelled_before(attempt: int, previous: JobResult, token: CancelToken
                     ) -> tuple[JobResult, dict[str, object]]:  # fmt: skip
    """The unit's final result when a signal ended the wait before ``attempt``: cancelled,
    with the earlier attempt's folder named in the attempts it lists."""
    assert token.interruption is not None
    result = JobResult(previous.job, previous.stage, previous.engine, previous.gpus)
    result.provenance = previous.provenance
    verdict = interruption_verdict(token.interruption, None)
    result.finish(replace(verdict, reason=f"{verdict.reason} during the wait before attempt"
                                          f" {attempt}"))  # fmt: skip
    return result, attempt_row(attempt, result.verdict, False, "cancelled before it started")
