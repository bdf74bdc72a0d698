"""Which failures are worth a second attempt, and the per-job time limit.

A retry is for what can pass on its own next time: a score just under its threshold, a
timeout, a transient HTTP failure. Never for what will fail again the same way and
only burn GPU time: a crash, out-of-memory, a missing module, a bad config, or a
cancellation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Looked for in the reason (which carries the servers' log tails).
NEVER = [
    (
        "out of memory",
        re.compile(r"out of memory|OutOfMemoryError|CUDA error: out of memory", re.I),
    ),
    ("import error", re.compile(r"\b(ModuleNotFoundError|ImportError)\b")),
    ("crash", re.compile(r"exited with code -?\d+|died during the eval")),
]
TRANSIENT = re.compile(
    r"answered 50[234]|connection (lost|failed)|gave no answer within|request errors"
)


def classify(result: Mapping[str, Any]) -> tuple[bool, str]:
    """(retriable, why) for a finished job's result.json."""
    status = result.get("status")
    reason = str(result.get("reason", ""))
    if status == "passed":
        return False, "passed"
    if status == "cancelled":
        return False, "cancelled"
    if result.get("exit_code") == 2:
        return False, "config or usage error"
    for name, pattern in NEVER:
        if pattern.search(reason):
            return False, name
    if status == "timeout":
        return True, "timeout"
    if status == "failed":
        # Only when every failed check missed a score threshold: a setting the server did
        # not apply, or a missing metric, fails the same way next time.
        failures = [part for part in reason.split("; ") if part.strip()]
        if failures and all("< threshold" in part for part in failures):
            return True, "below threshold"
        return False, "a check failed that a second run will not change"
    if status == "error" and TRANSIENT.search(reason):
        return True, "transient HTTP failure"
    return False, "not a retriable kind"


def job_timeout(est_time: float) -> float:
    """SGLang's per-file limit: max(1.5 x est, est + 30 min)."""
    return max(1.5 * est_time, est_time + 30 * 60)
