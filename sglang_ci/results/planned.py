"""What should have run: the plan a report is checked against.

A report built from the result files alone cannot see a job that left none (its runner
died, its artifact never uploaded, the partition stopped before it): it printed
``extra-a: 1/1 passed`` for a 7-job stage. Here the plan is read from the matrix the
plan job emitted (``python -m sglang_ci matrix``, or the plan job's outputs as
``toJSON(needs)`` gives them), or from stages.toml's stages.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sglang_ci.config.errors import UsageError
from sglang_ci.config.schema import unit_of_session

# GitHub job results of a stage job that ran nothing because gating (a label, an `if`)
# left it out on purpose: its stage is not part of this run's plan.
_GATED_OFF = "skipped"
_STOPPING = ("failure", "cancelled")  # results that make GitHub skip the stages after


@dataclass(frozen=True)
class PlannedJob:
    job: str
    stage: str
    partition: str = ""  # "2/3"; empty when the plan came from stages.toml


@dataclass(frozen=True)
class Plan:
    jobs: tuple[PlannedJob, ...]
    gated_off: tuple[str, ...] = ()  # stages the workflow left out (GitHub: skipped)
    # Stages GitHub skipped because a stage they wait for failed or was cancelled: (stage,
    # what stopped it). Not gating: their jobs are planned, none ran, the run failed.
    blocked: tuple[tuple[str, str], ...] = ()


def from_matrix(data: Any, where: str) -> list[PlannedJob]:
    """``{"include": [{stage, partition, sessions}, ...]}`` -> the planned jobs."""
    if not isinstance(data, dict) or not isinstance(data.get("include"), list):
        raise UsageError(f'{where}: not a stage matrix (expected {{"include": [...]}})')
    planned = []
    for entry in data["include"]:
        try:
            stage, partition, sessions = entry["stage"], entry["partition"], entry["sessions"]
        except (KeyError, TypeError):
            missing = f"{where}: a matrix entry without stage, partition and sessions"
            raise UsageError(missing) from None
        # A registered file's session is file(path='...'); its results carry the path.
        planned += [PlannedJob(unit_of_session(str(job)), str(stage), str(partition))
                    for job in sessions]  # fmt: skip
    return planned


def _stopped_by(stage: str, results: Mapping[str, str], after: Mapping[str, Sequence[str]] | None
                ) -> str | None:  # fmt: skip
    """What made GitHub skip ``stage``, when it was not gating: a stage it waits for
    (transitively) that failed or was cancelled. Without stages.toml's ``after`` (``after``
    None) any failed stage may be the cause, so the skip cannot count as gating."""
    failed = sorted(name for name, result in results.items() if result in _STOPPING)
    if after is None:
        return f"{', '.join(failed)} {results[failed[0]]}" if failed else None
    seen, waiting = set(), list(after.get(stage, ()))
    while waiting:
        upstream = waiting.pop()
        if upstream in seen:
            continue
        seen.add(upstream)
        if results.get(upstream) in _STOPPING:
            return f"{upstream} {results[upstream]}"
        waiting += after.get(upstream, ())
    return None


def _from_needs(data: dict[str, Any], where: str,
                after: Mapping[str, Sequence[str]] | None = None) -> Plan:  # fmt: skip
    """``toJSON(needs)`` of the report job: the plan job's outputs (one matrix per stage,
    as JSON text) and every stage job's result. An output that is not a JSON object is
    no plan (the workflow's ``gpu: "true"``) and is passed over; an object must be a
    matrix."""
    outputs = data["plan"].get("outputs") or {}
    results = {name: str(need.get("result")) for name, need in data.items()
               if name != "plan" and isinstance(need, dict)}  # fmt: skip
    skipped = sorted(name for name, result in results.items() if result == _GATED_OFF)
    blocked = tuple((name, cause) for name in skipped
                    if (cause := _stopped_by(name, results, after)))  # fmt: skip
    gated = [name for name in skipped if name not in dict(blocked)]
    planned: list[PlannedJob] = []
    for name, text in sorted(outputs.items()):
        try:
            matrix = json.loads(text) if isinstance(text, str) else text
        except json.JSONDecodeError:
            continue  # a plain value (a flag, a count): not a plan
        if not isinstance(matrix, dict):
            continue
        planned += [job for job in from_matrix(matrix, f"{where}: {name}")
                    if job.stage not in gated]  # fmt: skip
    return Plan(tuple(planned), tuple(gated), blocked)


def read_plan(path: Path, after: Mapping[str, Sequence[str]] | None = None) -> Plan:
    """A matrix file (one matrix, or a list of them) or the report job's ``toJSON(needs)``;
    ``after`` (stages.toml's stage -> the stages it waits for) tells a skip by gating from
    a skip after a failure."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise UsageError(f"--plan {path}: {error}") from None
    if isinstance(data, dict) and isinstance(data.get("plan"), dict):
        return _from_needs(data, f"--plan {path}", after)
    matrices = data if isinstance(data, list) else [data]
    return Plan(tuple(job for matrix in matrices for job in from_matrix(matrix, f"--plan {path}")))


def from_stages(stages: Iterable[tuple[str, Iterable[str]]]) -> Plan:
    """Every job of the named stages (stage, job ids), as stages.toml lists them."""
    return Plan(tuple(PlannedJob(job, stage) for stage, jobs in stages for job in jobs))
