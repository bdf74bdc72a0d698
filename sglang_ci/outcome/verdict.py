"""A job's status and its ``Verdict``: how it ended, why (the failure kind), one line for
people and the long text apart. The status of each failure kind is decided here, once."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sglang_ci.outcome.kinds import FailureKind, exit_code


class Status(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"  # a check failed: the server ran, the result did not meet the bar
    ERROR = "error"  # the job could not produce a trustworthy result
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    RUNNING = "running"
    SKIPPED = "skipped"  # planned, not run (the reason says why)

    def __str__(self) -> str:  # "passed", not "Status.PASSED", in every f-string
        return self.value


# The status a failure of each kind gives the job.
_STATUS_OF_KIND = {
    FailureKind.BELOW_THRESHOLD: Status.FAILED,
    FailureKind.CHECK_FAILED: Status.FAILED,
    FailureKind.TIME_LIMIT: Status.TIMEOUT,
    FailureKind.CANCELLED: Status.CANCELLED,
}


@dataclass(frozen=True)
class Verdict:
    """How a job ended: its status, why (kind), one line for people, and the long text
    (log tails) apart from that line."""

    status: Status
    kind: FailureKind | None = None
    reason: str = ""
    diagnostics: str = ""

    @classmethod
    def passed(cls) -> Verdict:
        return cls(Status.PASSED)

    @classmethod
    def failure(cls, kind: FailureKind, reason: str, diagnostics: str = "") -> Verdict:
        return cls(_STATUS_OF_KIND.get(kind, Status.ERROR), kind, reason, diagnostics)

    @classmethod
    def skipped(cls, reason: str, kind: FailureKind | None = None) -> Verdict:
        return cls(Status.SKIPPED, kind, reason)

    @property
    def exit_code(self) -> int:
        if self.status is Status.SKIPPED and self.kind is None:
            return 0
        return exit_code(self.kind)
