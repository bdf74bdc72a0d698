"""A job's result.json and the typed verdict in it: written when the job starts and again
after every phase, so a runner killed in between still leaves a record, and never
half-written (write a temporary file of its own, then rename)."""

from __future__ import annotations

import contextlib
import enum
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sglang_ci.config.errors import UsageError
from sglang_ci.config.text import job_dir_name as job_dir_name  # the folder of an id
from sglang_ci.config.text import number
from sglang_ci.outcome.kinds import FailureKind
from sglang_ci.outcome.verdict import Status, Verdict
from sglang_ci.results.consistency import type_problem


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class JobResult:
    job: str
    stage: str
    engine: str
    gpus: int
    status: Status = Status.RUNNING
    reason: str = ""
    failure_kind: FailureKind | None = None
    exit_code: int | None = None
    started_at: str = field(default_factory=_now)
    finished_at: str | None = None
    phases: dict[str, float] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    servers: list[dict[str, Any]] = field(default_factory=list)
    score: float | None = None
    threshold: float | None = None
    # How the score is compared with the threshold: ">" or ">=" (None in result files
    # written before comparators were recorded).
    comparator: str | None = None
    # How the threshold was set: rule ("pinned" or e.g. "min - 0.03"), observations,
    # the lowest of them and its margin over the threshold.
    threshold_evidence: dict[str, Any] = field(default_factory=dict)
    accept_length: float | None = None
    occupancy: float | None = None
    engine_version: str | None = None
    server_args: dict[str, list[str]] = field(default_factory=dict)
    # One row per check: check, value, comparator, threshold, passed (and problem,
    # request_errors where there are any).
    checks: list[dict[str, Any]] = field(default_factory=list)
    # The job whose launch this one shared (identical servers), if it did not launch its own.
    launched_by: str | None = None
    # Earlier attempts of this job in this run (retries), oldest first; this one is last.
    attempts: list[dict[str, Any]] = field(default_factory=list)
    # Tests of the suite that failed and were tried again, as SGLang's CustomTestCase
    # retries a test method in CI: test, error, and the check rows of the failed try.
    test_retries: list[dict[str, Any]] = field(default_factory=list)
    server_info: dict[str, Any] = field(default_factory=dict)
    # Runner, SGLang and sgl-kernel versions and commits, host, GPUs, driver, CUDA, Python
    # (results.provenance): what a score can be traced to.
    provenance: dict[str, Any] = field(default_factory=dict)
    # Long text that explains the reason: the servers' exit codes and log tails.
    diagnostics: str = ""
    # A registered SGLang file (run-file): the argv it ran, its test counts as its output
    # reported them, and what the sweep after it found and ended.
    command: list[str] = field(default_factory=list)
    tests: dict[str, int] = field(default_factory=dict)
    sweep: dict[str, Any] = field(default_factory=dict)
    # The suite test that had started and not passed when the job was stopped (a server's
    # death, the time limit, a cancel): junit.xml gives it the job's error.
    running_test: str = ""
    # SGLang's name of the suite the job's stage reproduces, for its dashboards.
    sglang_suite: str = ""

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.phases[name] = round(time.monotonic() - started, 3)

    def finish(self, verdict: Verdict) -> None:
        self.status, self.failure_kind = verdict.status, verdict.kind
        self.reason, self.diagnostics = verdict.reason, verdict.diagnostics
        self.exit_code = verdict.exit_code
        self.finished_at = _now()

    @property
    def seconds(self) -> float:
        """Wall time of the phases that ran (launch, checks, eval, teardown)."""
        return float(sum(self.phases.values()))

    @property
    def pass_when(self) -> str:
        """``> 0.95`` for the score, or the bare threshold for an older result file."""
        return pass_when(self.comparator, self.threshold)

    @property
    def verdict(self) -> Verdict:
        return Verdict(self.status, self.failure_kind, self.reason, self.diagnostics)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        values = asdict(self)
        # The engine first: a reader sees at once whether this is a model or the stub.
        values = {"engine": values.pop("engine"), **values}
        text = json.dumps(values, indent=2, default=_plain) + "\n"
        try:
            write_atomically(path, text)
        except OSError as error:  # a full disk, a quota: the last complete version stays
            raise UsageError(
                f"{path}: cannot write it ({error.strerror or error}); its last complete"
                " version is kept: free space there, or name another folder with --results"
            ) from None

    @classmethod
    def load(cls, path: Path) -> JobResult:
        """A result.json as written by ``write`` (unknown keys ignored: newer writers)."""
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        problem = type_problem(data)  # a hand-edited file: one line, never a traceback
        if problem:
            raise ValueError(problem)
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["status"] = Status(values.get("status", Status.RUNNING))
        kind = values.get("failure_kind")
        values["failure_kind"] = FailureKind(kind) if kind else None
        return cls(**values)


def write_atomically(path: Path, text: str) -> None:
    """``text`` into ``path`` through a temporary file of this writer's own (two writers
    never share one), renamed over it; a failed write leaves no temporary behind."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as out:
            os.fchmod(out.fileno(), 0o644)  # mkstemp's 0600 would hide it from other users
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def pass_when(comparator: object, threshold: object) -> str:
    """A check row's comparator and threshold as one cell: ``>= 0.65``; empty without a
    threshold (a settings check)."""
    if threshold is None:
        return ""
    return f"{comparator} {number(threshold)}" if comparator else number(threshold)


def _plain(value: object) -> object:
    return value.value if isinstance(value, enum.Enum) else str(value)
