"""What should have run: the plan a report is checked against.

A report built from the result files alone cannot see a job that left none (its runner
died, its artifact never uploaded, the partition stopped before it): it printed
``extra-a: 1/1 passed`` for a 7-job stage. Here the plan is read from the matrix the
plan job emitted (``python -m sglang_ci matrix``, or the plan job's outputs as
``toJSON(needs)`` gives them), or from stages.toml's stages.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sglang_ci.config.errors import UsageError
from sglang_ci.config.schema import unit_of_session

# GitHub job results of a stage job that ran nothing because gating (a label, an `if`)
# left it out on purpose: its stage is not part of this run's plan.
_GATED_OFF = "skipped"


@dataclass(frozen=True)
class PlannedJob:
    job: str
    stage: str
    partition: str = ""  # "2/3"; empty when the plan came from stages.toml


@dataclass(frozen=True)
class Plan:
    jobs: tuple[PlannedJob, ...]
    gated_off: tuple[str, ...] = ()  # stages the workflow left out (GitHub: skipped)


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


def _from_needs(data: dict[str, Any], where: str) -> Plan:
    """``toJSON(needs)`` of the report job: the plan job's outputs (one matrix per stage,
    as JSON text) and every stage job's result. An output that is not a JSON object is
    no plan (the workflow's ``gpu: "true"``) and is passed over; an object must be a
    matrix."""
    outputs = data["plan"].get("outputs") or {}
    gated = sorted(name for name, need in data.items()
                   if name != "plan" and isinstance(need, dict)
                   and need.get("result") == _GATED_OFF)  # fmt: skip
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
    return Plan(tuple(planned), tuple(gated))


def read_plan(path: Path) -> Plan:
    """A matrix file (one matrix, or a list of them) or the report job's ``toJSON(needs)``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise UsageError(f"--plan {path}: {error}") from None
    if isinstance(data, dict) and isinstance(data.get("plan"), dict):
        return _from_needs(data, f"--plan {path}")
    matrices = data if isinstance(data, list) else [data]
    return Plan(tuple(job for matrix in matrices for job in from_matrix(matrix, f"--plan {path}")))


def from_stages(stages: Iterable[tuple[str, Iterable[str]]]) -> Plan:
    """Every job of the named stages (stage, job ids), as stages.toml lists them."""
    return Plan(tuple(PlannedJob(job, stage) for stage, jobs in stages for job in jobs))
