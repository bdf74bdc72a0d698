"""A stage's CI plan: its partitions and the GitHub matrix that runs them.

Everything here is derived from stages.toml and the durations file alone, so the plan
job, every matrix job and a contributor's ``run --stage S --partition K/N`` compute the
same split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sglang_ci.config.errors import UsageError
from sglang_ci.config.schema import Config
from sglang_ci.plan.partition import (
    Partition,
    partitions_for_timeout,
    read_durations,
    split,
    units_of,
)

DURATIONS_FILE = "durations.json"
GITHUB_MATRIX_CAP = 256  # GitHub refuses a matrix with more entries


@dataclass(frozen=True)
class StagePlan:
    stage: str
    partitions: list[Partition]


def durations_for(config: Config, path: str | None) -> dict[str, float]:
    """Measured durations: --durations FILE, else durations.json beside stages.toml."""
    chosen = Path(path) if path else config.source.parent / DURATIONS_FILE
    if path or chosen.is_file():
        return read_durations(chosen)
    return {}


def plan_stage(
    config: Config, stage: str, count: int | None, measured: dict[str, float]
) -> StagePlan:
    jobs = config.stage_jobs(stage)
    seconds = {job.id: measured.get(job.id, job.est_time) for job in jobs}
    groups = {job.id: job.launch_key for job in jobs}
    ids = [job.id for job in jobs]
    units = len(units_of(ids, seconds, groups))
    if count is None:
        timeout = config.stages[stage].timeout_minutes
        count = min(partitions_for_timeout(sum(seconds.values()), timeout), units)
    elif count > units:
        raise UsageError(
            f"stage {stage}: {count} partitions but only {units} units of work"
            f" ({len(ids)} jobs); use {units} or fewer"
        )
    return StagePlan(stage, split(ids, seconds, count, groups))


def matrix(config: Config, plans: list[StagePlan]) -> dict[str, Any]:
    """``{"include": [...]}`` for $GITHUB_OUTPUT: one entry per partition."""
    entries = []
    for plan in plans:
        stage = config.stages[plan.stage]
        count = len(plan.partitions)
        for part in plan.partitions:
            entries.append({
                "stage": plan.stage,
                "partition": f"{part.index + 1}/{count}",
                "runner": stage.runner,
                "gpus": stage.gpus,
                "timeout_minutes": stage.timeout_minutes,
                "sessions": list(part.ids),
                # What a contributor types to run exactly this CI job on their own box.
                "reproduce": f"nox -s \"stage(name='{plan.stage}')\" -- --partition"
                f" {part.index + 1}/{count}",
                "predicted_seconds": round(part.seconds, 1),
            })  # fmt: skip
    if len(entries) > GITHUB_MATRIX_CAP:
        raise UsageError(
            f"the matrix has {len(entries)} entries; GitHub accepts at most"
            f" {GITHUB_MATRIX_CAP}: use fewer partitions or split the stage"
        )
    return {"include": entries}
