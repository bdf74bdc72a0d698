"""A stage's CI plan: its partitions and the GitHub matrix that runs them.

Everything here is derived from stages.toml and the durations file alone, so the plan
job, every matrix job and a contributor's ``run --stage S --partition K/N`` compute the
same split.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from sglang_ci.config.errors import UsageError
from sglang_ci.config.schema import Config, StagePolicy
from sglang_ci.plan.file_budget import sglang_order
from sglang_ci.plan.partition import (
    Partition,
    max_parallel_for,
    read_durations,
    shard_count,
    split,
    units_of,
)
from sglang_ci.plan.policy import RunPolicy, resolve

DURATIONS_FILE = "durations.json"
GITHUB_MATRIX_CAP = 256  # GitHub refuses a matrix with more entries


@dataclass(frozen=True)
class StagePlan:
    stage: str
    partitions: list[Partition]
    max_parallel: int = 1


def durations_for(config: Config, path: str | None) -> dict[str, float]:
    """Measured durations: --durations FILE, else durations.json beside stages.toml."""
    chosen = Path(path) if path else config.source.parent / DURATIONS_FILE
    if path or chosen.is_file():
        return read_durations(chosen)
    return {}


def plan_stage(
    config: Config, stage: str, count: int | None, measured: dict[str, float],
    *, full_parallel: bool = False,
) -> StagePlan:  # fmt: skip
    """The stage's partitions: ``count`` of them, else as many as compute_partitions.py
    sizes (plan.partition.shard_count); measured durations override est-time."""
    jobs = config.stage_jobs(stage)
    ids = list(config.stages[stage].units)  # the jobs, then the registered files
    seconds = {unit: config.seconds_of(unit, measured) for unit in ids}
    if config.stages[stage].policy.packed:  # a packed runner's time is its GPU-seconds / G
        seconds = {unit: gpu_seconds(config, stage, unit, s) for unit, s in seconds.items()}
    # A file's jobs share its time limit, so they stay in one shard, as one unit.
    groups = {job.id: job.sglang_file or job.launch_key for job in jobs}
    units = len(units_of(ids, seconds, groups))
    if count is None:
        settings = config.stages[stage]
        policy = settings.policy
        shards = shard_count(
            stage, sum(seconds.values()), units, settings.timeout_minutes,
            coeff=policy.fit_coeff, bias=policy.fit_bias, pinned=policy.partitions,
            full_parallel=full_parallel,
        )  # fmt: skip
        count, parallel = shards.size, shards.max_parallel
    elif count > units:
        raise UsageError(
            f"stage {stage}: {count} partitions but only {units} units of work"
            f" ({len(ids)} {'jobs and files' if config.stages[stage].files else 'jobs'});"
            f" use {units} or fewer"
        )
    else:
        parallel = count if full_parallel else max_parallel_for(count)
    parts = [
        _sglang_file_order(part, config, seconds) for part in split(ids, seconds, count, groups)
    ]
    return StagePlan(stage, parts, parallel)


def gpu_seconds(config: Config, stage: str, unit: str, seconds: float) -> float:
    """A unit's share of a packed runner: its GPUs x seconds over the runner's GPUs."""
    gpus = config.unit(unit).gpus
    return seconds * gpus / max(1, config.stages[stage].gpus)


def _sglang_file_order(part: Partition, config: Config, seconds: dict[str, float]) -> Partition:
    """A partition's units in the order SGLang's run_suite gets a shard's files
    (plan.file_budget.sglang_order: longest first, then by name), so that fail-fast
    skips what SGLang's CI would skip; jobs before registered files."""
    return replace(part, ids=tuple(sglang_order(config, part.ids, seconds)))


class Policies(Protocol):
    def policy(self, stage: StagePolicy) -> RunPolicy: ...


def matrix(
    config: Config, plans: list[StagePlan], options: Policies | None = None
) -> dict[str, Any]:
    """``{"include": [...], "max_parallel": N}`` for $GITHUB_OUTPUT: one entry per
    partition, with the attempts, time limit and fail-fast its run has (``policy``: as
    resolved with the command line's ``options``, else each stage's own), and how many partitions
    may run at once (the smallest of the stages' throttles)."""
    entries = []
    for plan in plans:
        stage = config.stages[plan.stage]
        runs = options.policy(stage.policy) if options else resolve(stage.policy)
        count = len(plan.partitions)
        for part in plan.partitions:
            entries.append({
                "stage": plan.stage,
                "partition": f"{part.index + 1}/{count}",
                "runner": stage.runner,
                "gpus": stage.gpus,
                "timeout_minutes": stage.timeout_minutes,
                "sessions": [config.session_of(unit) for unit in part.ids],
                # What a contributor types to run exactly this CI job on their own box.
                "reproduce": f"nox -s \"stage(name='{plan.stage}')\" -- --partition"
                f" {part.index + 1}/{count}",
                "predicted_seconds": round(part.seconds, 1),
                "attempts": runs.attempts,
                "time_limit_s": runs.time_limit,
                "fail_fast": runs.fail_fast,
            })  # fmt: skip
    if len(entries) > GITHUB_MATRIX_CAP:
        raise UsageError(
            f"the matrix has {len(entries)} entries; GitHub accepts at most"
            f" {GITHUB_MATRIX_CAP}: use fewer partitions or split the stage"
        )
    throttle = min((plan.max_parallel for plan in plans), default=1)
    return {"include": entries, "max_parallel": throttle}
