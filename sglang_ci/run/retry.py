"""Which failures are worth a second attempt, and the per-job time limit.

Decided on the failure's kind, recorded where the failure was known, never on the text
of its reason (which once carried 50-line log tails). A retry is for what can pass on
its own next time: a score just under its threshold, a timeout, a transient HTTP
failure. Never for what will fail again the same way and only burn GPU time: a server
that exited (crash, out-of-memory, import error), a check that is not a score, a bad
config, or a cancellation.
"""

from __future__ import annotations

from sglang_ci.config.errors import FailureKind
from sglang_ci.results.result_file import Status, Verdict

RETRIABLE = {
    FailureKind.BELOW_THRESHOLD: "below threshold",
    FailureKind.TIME_LIMIT: "timeout",
    FailureKind.TRANSIENT_HTTP: "transient HTTP failure",
    FailureKind.REQUEST_TIMEOUT: "request timeout",
}


def classify(verdict: Verdict) -> tuple[bool, str]:
    """(retriable, why) for a finished attempt."""
    if verdict.status is Status.PASSED:
        return False, "passed"
    if verdict.kind in RETRIABLE:
        return True, RETRIABLE[verdict.kind]
    return False, f"{verdict.kind.value if verdict.kind else verdict.status.value}: not retried"


def job_timeout(est_time: float) -> float:
    """A job's time limit: max(1.5 x est, est + 30 min)."""
    return max(1.5 * est_time, est_time + 30 * 60)
