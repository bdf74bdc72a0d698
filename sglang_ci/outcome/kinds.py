"""Every kind of failure the runner reports and its exit code: the one table of both.

A passed job exits 0; each kind has its code (the README's exit-code table is this one).
"""

from __future__ import annotations

import enum


class FailureKind(str, enum.Enum):
    """Why a job did not pass, recorded where the failure is known."""

    BELOW_THRESHOLD = "below threshold"
    CHECK_FAILED = "check failed"  # a setting not applied, a metric missing
    LAUNCH_EXIT = "launch exit"
    LAUNCH_TIMEOUT = "launch timeout"
    SERVER_DIED = "server died"
    TRANSIENT_HTTP = "transient HTTP"
    REQUEST_TIMEOUT = "request timeout"
    TIME_LIMIT = "time limit"
    CONFIG = "config"
    GPU_SHORTAGE = "GPU shortage"
    INTERNAL = "internal"
    CANCELLED = "cancelled"
    TEARDOWN_INCOMPLETE = "teardown incomplete"
    RUNNER_DIED = "runner died"  # written by a cleanup for a runner killed mid-job

    def __str__(self) -> str:  # "server died", not "FailureKind.SERVER_DIED"
        return self.value


# The exit code of each kind; a passed job exits 0.
EXIT_CODES: dict[FailureKind, int] = {
    FailureKind.BELOW_THRESHOLD: 1,
    FailureKind.CHECK_FAILED: 1,
    FailureKind.TRANSIENT_HTTP: 1,
    FailureKind.REQUEST_TIMEOUT: 1,
    FailureKind.INTERNAL: 1,
    FailureKind.CONFIG: 2,
    FailureKind.GPU_SHORTAGE: 3,
    FailureKind.LAUNCH_EXIT: 5,
    FailureKind.LAUNCH_TIMEOUT: 5,
    FailureKind.SERVER_DIED: 5,
    FailureKind.TEARDOWN_INCOMPLETE: 6,
    FailureKind.RUNNER_DIED: 1,
    FailureKind.TIME_LIMIT: 124,
    FailureKind.CANCELLED: 130,
}


def exit_code(kind: FailureKind | None) -> int:
    """0 for no failure, else the kind's code."""
    return 0 if kind is None else EXIT_CODES[kind]
