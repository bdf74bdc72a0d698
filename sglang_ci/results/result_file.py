"""A job's result.json: written when the job starts and again when it ends, so a runner
killed in between still leaves a record, and never half-written (write, then rename)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

STATUSES = ("running", "passed", "failed", "error", "cancelled", "timeout")


def job_dir_name(job_id: str) -> str:
    """``spec(model='gemma4-31b', topk=3)`` -> ``spec-model-gemma4-31b-topk-3``."""
    return re.sub(r"[^A-Za-z0-9._]+", "-", job_id).strip("-")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class JobResult:
    job: str
    stage: str
    engine: str
    gpus: int
    status: str = "running"
    reason: str = ""
    exit_code: int | None = None
    started_at: str = field(default_factory=_now)
    finished_at: str | None = None
    phases: dict[str, float] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    servers: list[dict[str, Any]] = field(default_factory=list)
    score: float | None = None
    threshold: float | None = None
    # How the threshold was set: rule ("pinned" or e.g. "min - 0.03"), observations,
    # the lowest of them and its margin over the threshold.
    threshold_evidence: dict[str, Any] = field(default_factory=dict)
    accept_length: float | None = None
    occupancy: float | None = None
    engine_version: str | None = None
    server_args: dict[str, list[str]] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    # The job whose launch this one shared (identical servers), if it did not launch its own.
    launched_by: str | None = None
    # Earlier attempts of this job in this run (retries), oldest first; this one is last.
    attempts: list[dict[str, Any]] = field(default_factory=list)
    server_info: dict[str, Any] = field(default_factory=dict)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.phases[name] = round(time.monotonic() - started, 3)

    def finish(self, status: str, reason: str, exit_code: int) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown job status {status!r}")
        self.status, self.reason, self.exit_code = status, reason, exit_code
        self.finished_at = _now()

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2, default=str) + "\n")
        os.replace(temporary, path)
