"""One row of history: one job's run, as the analyses see it (frozen, plain values)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Statuses that carry a trustworthy score verdict; the rest (error, timeout, cancelled)
# say the run measured nothing.
SCORED_STATUSES = ("passed", "failed")


@dataclass(frozen=True)
class RunRow:
    uid: str
    run_id: str
    job: str
    stage: str
    engine: str
    rehearsal: bool  # on a protocol stand-in (the stub): stored, never evidence
    status: str
    failure_kind: str | None
    score: float | None
    threshold: float | None
    comparator: str | None
    accept_length: float | None
    occupancy: float | None
    seconds: float
    phases: dict[str, float] = field(default_factory=dict, hash=False)
    started_at: str = ""
    finished_at: str | None = None
    sglang_version: str | None = None
    sglang_commit: str | None = None
    gpu: str = ""
    driver: str | None = None
    host: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def evidence(self) -> bool:
        """A run that may count as evidence: a model's (never the stub's)."""
        return not self.rehearsal

    @property
    def commit(self) -> str:
        return self.sglang_commit or self.sglang_version or "unknown"

    @property
    def line(self) -> str:
        """The SGLang release line (``0.5``) the run was on; ``unknown`` without one."""
        if not self.sglang_version:
            return "unknown"
        return ".".join(self.sglang_version.split(".")[:2])

    @property
    def group(self) -> tuple[str, str, str]:
        """What a job's history is judged within: the job, on one GPU model and SGLang line."""
        return (self.job, self.gpu, self.line)


@dataclass(frozen=True)
class Answers:
    """Per-question correctness of one run's eval: question index -> correct."""

    eval: str
    correct: dict[int, bool]
