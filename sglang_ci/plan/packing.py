"""Packing a stage's jobs onto one runner with G GPUs: a pure, deterministic scheduler.

The queue is longest processing time first (measured duration, else est_time; ties: more
GPUs first, then id). A job starts as soon as enough GPUs are free, in queue order, with
EASY backfilling: when the job at the head of the queue does not fit, a later job may
start only if it ends (as predicted) before the head's reserved start, or uses GPUs the
head will not need then. So no job starves: the head's start is never pushed later by a
job behind it. The same decision (``next_to_start``) drives the simulation here and the
live slot runner (run.packed), so a plan and a run agree when durations hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sglang_ci.config.errors import UsageError


@dataclass(frozen=True)
class PackJob:
    id: str
    gpus: int
    seconds: float  # predicted: measured, else est_time


@dataclass(frozen=True)
class Placement:
    id: str
    gpus: tuple[int, ...]  # indices into the runner's GPUs (0 .. G-1)
    start: float
    end: float


@dataclass(frozen=True)
class Running:
    """A job holding GPUs, and when it is predicted to give them back."""

    gpus: int
    predicted_end: float


def check_fits(jobs: Sequence[PackJob], gpu_count: int) -> None:
    """At plan time: a job needing more GPUs than the runner has is one line."""
    if gpu_count < 1:
        raise UsageError(f"packing needs 1 or more GPUs, got {gpu_count}")
    for job in jobs:
        if job.gpus > gpu_count:
            raise UsageError(
                f"{job.id} needs {job.gpus} GPUs but the runner has {gpu_count}: give the"
                f" stage a runner with {job.gpus} or more, or move the job to another stage"
            )


def queue_order(jobs: Sequence[PackJob]) -> list[PackJob]:
    """Longest first; more GPUs first on equal time; then by id (deterministic)."""
    return sorted(jobs, key=lambda job: (-job.seconds, -job.gpus, job.id))


def next_to_start(
    queue: Sequence[PackJob], free: int, now: float, running: Sequence[Running],
) -> int | None:  # fmt: skip
    """The index in ``queue`` of the job to start now on ``free`` GPUs, or None."""
    if not queue:
        return None
    head = queue[0]
    if head.gpus <= free:
        return 0
    # The head's reservation: when enough running jobs will have ended for it to fit.
    available, shadow = free, now
    for done in sorted(running, key=lambda r: r.predicted_end):
        available += done.gpus
        shadow = max(now, done.predicted_end)
        if available >= head.gpus:
            break
    spare = available - head.gpus  # GPUs the head will not need at its start
    for index, job in enumerate(queue[1:], start=1):
        if job.gpus <= free and (now + job.seconds <= shadow or job.gpus <= spare):
            return index
    return None


def pick_gpus(free: Sequence[int], count: int) -> tuple[int, ...]:
    """``count`` of the ``free`` GPU indices: the shortest contiguous run that holds them
    (neighbouring GPUs share NVLink switches and PCIe roots on most boards), else the
    lowest indices."""
    ordered = sorted(free)
    runs: list[list[int]] = []
    for gpu in ordered:
        if runs and runs[-1][-1] == gpu - 1:
            runs[-1].append(gpu)
        else:
            runs.append([gpu])
    fitting = [run for run in runs if len(run) >= count]
    if fitting:
        best = min(fitting, key=lambda run: (len(run), run[0]))
        return tuple(best[:count])
    return tuple(ordered[:count])


def simulate(
    jobs: Sequence[PackJob], gpu_count: int, max_concurrent: int | None = None
) -> list[Placement]:
    """The schedule the slot runner would follow if every job took its predicted time."""
    check_fits(jobs, gpu_count)
    queue = queue_order(jobs)
    free = list(range(gpu_count))
    now = 0.0
    active: list[Placement] = []
    done: list[Placement] = []
    while queue or active:
        while queue and (max_concurrent is None or len(active) < max_concurrent):
            running = [Running(len(p.gpus), p.end) for p in active]
            index = next_to_start(queue, len(free), now, running)
            if index is None:
                break
            job = queue.pop(index)
            gpus = pick_gpus(free, job.gpus)
            free = [gpu for gpu in free if gpu not in gpus]
            active.append(Placement(job.id, gpus, now, now + job.seconds))
        if not active:
            break  # unreachable: the head fits on an idle runner (check_fits)
        now = min(p.end for p in active)
        for placement in [p for p in active if p.end <= now]:
            active.remove(placement)
            done.append(placement)
            free.extend(placement.gpus)
    return sorted(done, key=lambda p: (p.start, p.gpus, p.id))


def makespan(placements: Sequence[Placement]) -> float:
    return max((p.end for p in placements), default=0.0)


def lower_bound(jobs: Sequence[PackJob], gpu_count: int) -> float:
    """No packing on ``gpu_count`` GPUs ends sooner: the GPU-seconds spread over every
    GPU, or the longest job."""
    area = sum(job.gpus * job.seconds for job in jobs) / gpu_count
    return max(area, max((job.seconds for job in jobs), default=0.0))
