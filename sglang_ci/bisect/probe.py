"""One run of the job at the installed commit: a child ``python -m sglang_ci`` in the
bisect venv (the same job runner, teardown and result.json as every CI run), read back.

A scored job runs as ``job JOB``; a registered file as ``run-file WORKTREE FILE`` against
the candidate's own worktree (the file under test is that commit's). A run that measured
nothing (an error, a timeout: the job never got to its verdict) is kept and shown, and
the commit is then skipped as untestable, never judged on it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sglang_ci.bisect.child import run_child
from sglang_ci.config.errors import UsageError
from sglang_ci.history.ingest import read_run
from sglang_ci.history.rows import SCORED_STATUSES


@dataclass(frozen=True)
class Target:
    """What the bisect runs: a scored job of stages.toml, or a registered file."""

    job: str
    scored: bool  # judged on per-question records; else pass/fail
    registered_file: bool
    gpus: int
    engine: str  # sglang, or stub: a rehearsal, never evidence
    config: str | None = None


@dataclass(frozen=True)
class Run:
    commit: str
    number: int
    status: str
    score: float | None
    seconds: float
    version: str | None
    correct: dict[int, bool] = field(default_factory=dict)
    folder: str = ""

    @property
    def measured(self) -> bool:
        return self.status in SCORED_STATUSES

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["correct"] = {str(q): ok for q, ok in self.correct.items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Run:
        values = dict(data)
        values["correct"] = {int(q): bool(ok) for q, ok in data.get("correct", {}).items()}
        return cls(**values)


def argv(target: Target, python: Path, worktree: Path, results: Path) -> list[str]:
    if target.registered_file:
        return [str(python), "-m", "sglang_ci", "run-file", str(worktree), target.job,
                "--results", str(results)]  # fmt: skip
    extra = ["--config", target.config] if target.config else []
    return [str(python), "-m", "sglang_ci", "job", target.job, "--engine", target.engine,
            "--results", str(results), *extra]  # fmt: skip


def run_once(target: Target, commit: str, number: int, python: Path, worktree: Path,
             folder: Path, env: Mapping[str, str]) -> Run:  # fmt: skip
    """Run the job once into ``folder`` (a folder of its own: no run overwrites another)."""
    if folder.exists():
        raise UsageError(f"{folder}: a run's folder is there already; resume the bisect"
                         " with --resume, or give another --state")  # fmt: skip
    results = folder / "results"
    done = run_child(argv(target, python, worktree, results), env, folder / "output.log")
    found = sorted(results.rglob("result.json"))
    if not found:
        return Run(commit, number, "error", None, 0.0, None, {}, str(folder))
    row, answers = read_run(found[0])
    correct = answers[0].correct if target.scored and answers else {}
    status = row.status if done.code in (0, 1) or row.status in SCORED_STATUSES else "error"
    return Run(commit, number, status, row.score, row.seconds, row.sglang_version, correct,
               str(folder))  # fmt: skip
