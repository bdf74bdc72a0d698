"""``history ingest DIR...``: every result.json below the folders, with its per-question
records, into the store; one run per transaction, so a bad file is skipped whole.

A run's id is its CI run (GitHub run id and attempt, from the result's provenance) or,
without one, its host and start time; with the job that makes the run's key, so reading
the same artifacts twice adds nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sglang_ci.config.text import ATTEMPT
from sglang_ci.engines.registry import is_rehearsal
from sglang_ci.history.rows import Answers, RunRow
from sglang_ci.history.store import HistoryStore
from sglang_ci.outcome.verdict import Status
from sglang_ci.results.result_file import JobResult

RECORD_FILES = ("gsm8k", "hellaswag")


@dataclass
class IngestReport:
    added: int = 0
    known: int = 0
    rehearsals: int = 0  # runs on the stub: stored, never evidence
    skipped: list[str] = field(default_factory=list)  # one line per malformed file

    def summary(self, store: str) -> str:
        text = f"history: {self.added} runs added, {self.known} already known"
        if self.rehearsals:
            text += f" ({self.rehearsals} stub-engine runs stored but marked: never evidence)"
        if self.skipped:
            text += f", {len(self.skipped)} files skipped"
        return text + f" -> {store}"


def result_files(folders: Sequence[Path]) -> Iterator[Path]:
    """Every final result.json below the folders (a retry's earlier attempt is part of
    its run's result, not a run of its own)."""
    for folder in folders:
        for path in sorted(folder.rglob("result.json")):
            if not any(ATTEMPT in part for part in path.relative_to(folder).parts):
                yield path


def ingest(store: HistoryStore, folders: Sequence[Path]) -> IngestReport:
    report = IngestReport()
    for path in result_files(folders):
        try:
            run, answers = read_run(path)
        except (ValueError, TypeError, KeyError, OSError) as error:
            report.skipped.append(f"{path}: skipped, not a complete result.json ({error})")
            continue
        if store.add(run, answers):
            report.added += 1
            report.rehearsals += run.rehearsal
        else:
            report.known += 1
    return report


def read_run(path: Path) -> tuple[RunRow, list[Answers]]:
    """One result.json and the records beside it; ValueError when it is partial (a run
    still running, a record file cut short) so nothing of it is stored."""
    result = JobResult.load(path)
    if result.status is Status.RUNNING or result.finished_at is None:
        raise ValueError("the run has no verdict yet (status running)")
    if not isinstance(result.phases, dict) or not isinstance(result.provenance, dict):
        raise ValueError("phases and provenance must be objects")
    answers = [
        read_answers(path.parent / f"{name}.jsonl", name)
        for name in RECORD_FILES
        if (path.parent / f"{name}.jsonl").is_file()
    ]
    return row_of(result), answers


def row_of(result: JobResult) -> RunRow:
    facts: dict[str, Any] = result.provenance
    gpus = facts.get("gpus") or []
    run_id = ci_run_id(facts) or f"local:{facts.get('host') or 'unknown'}:{result.started_at}"
    return RunRow(
        uid=f"{run_id}/{result.job}",
        run_id=run_id,
        job=result.job,
        stage=result.stage,
        engine=result.engine,
        rehearsal=is_rehearsal(result.engine),
        status=str(result.status),
        failure_kind=result.failure_kind.value if result.failure_kind else None,
        score=_number(result.score),
        threshold=_number(result.threshold),
        comparator=result.comparator,
        accept_length=_number(result.accept_length),
        occupancy=_number(result.occupancy),
        seconds=round(float(result.seconds), 3),
        phases={str(k): float(v) for k, v in result.phases.items()},
        started_at=result.started_at,
        finished_at=result.finished_at,
        sglang_version=facts.get("sglang_version"),
        sglang_commit=facts.get("sglang_commit"),
        gpu=str(gpus[0]) if gpus else "",
        driver=facts.get("driver"),
        host=facts.get("host"),
    )


def ci_run_id(facts: dict[str, Any]) -> str | None:
    run = facts.get("github_run_id")
    return f"gh:{run}-{facts.get('github_run_attempt') or 1}" if run else None


def read_answers(path: Path, name: str) -> Answers:
    correct: dict[int, bool] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            try:
                record = json.loads(line)
                correct[int(record["index"])] = bool(record["correct"])
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"{path.name} line {number}: {error}") from None
    return Answers(name, correct)


def _number(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{value!r} is not a number")
    return float(value)
