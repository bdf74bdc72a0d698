"""Splitting a stage's jobs over N CI machines: a pure, deterministic function.

Longest processing time first, ties broken by id, so every machine of a matrix computes
the same split from the same input. Measured durations (from earlier reports) override
``est_time``. Jobs that share an identical server launch form one unit: they stay in one
partition, next to each other, so they can run against one launch (a large model's
launch costs minutes of GPU time). After LPT, single moves and pairwise swaps out of the
longest partition are tried while they shorten it; LPT alone can stay a few per cent
above the lower bound when a handful of long jobs dominate.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sglang_ci.config.errors import UsageError

# compute_partitions.py's sizing: LPT's worst case is 4/3 of optimal, so a partition is
# planned to fill 0.75 of the stage's timeout.
TIMEOUT_FILL = 0.75


@dataclass(frozen=True)
class Unit:
    """Jobs that must run together (one shared launch), in their given order."""

    ids: tuple[str, ...]
    seconds: float

    @property
    def key(self) -> str:
        return self.ids[0]


@dataclass(frozen=True)
class Partition:
    index: int  # 0-based
    ids: tuple[str, ...]
    seconds: float


def units_of(
    ids: Sequence[str], durations: Mapping[str, float], groups: Mapping[str, str] | None = None
) -> list[Unit]:
    """One unit per group key (ids without a group are units of their own), in the order
    their first member appears."""
    members: dict[str, list[str]] = {}
    for job_id in ids:
        members.setdefault((groups or {}).get(job_id, job_id), []).append(job_id)
    return [Unit(tuple(jobs), sum(durations[j] for j in jobs)) for jobs in members.values()]


def lower_bound(units: Sequence[Unit], n: int) -> float:
    """No split of these units over n machines can finish sooner."""
    total = sum(unit.seconds for unit in units)
    return max(total / n, max((unit.seconds for unit in units), default=0.0))


def _loads(assignment: list[list[Unit]]) -> list[float]:
    return [sum(unit.seconds for unit in units) for units in assignment]


def _improve(assignment: list[list[Unit]]) -> None:
    """Move or swap units out of the longest partition while that shortens it."""
    for _ in range(10_000):  # bounded; each step strictly lowers the makespan or stops
        loads = _loads(assignment)
        worst = max(range(len(loads)), key=lambda i: (loads[i], -i))
        best_gain = 1e-9
        best_move: tuple[Unit, int, Unit | None] | None = None
        for unit in assignment[worst]:
            for other in range(len(assignment)):
                if other == worst:
                    continue
                moved = max(loads[worst] - unit.seconds, loads[other] + unit.seconds)
                if loads[worst] - moved > best_gain:
                    best_gain, best_move = loads[worst] - moved, (unit, other, None)
                for swap in assignment[other]:
                    delta = unit.seconds - swap.seconds
                    if delta <= 0:
                        continue
                    swapped = max(loads[worst] - delta, loads[other] + delta)
                    if loads[worst] - swapped > best_gain:
                        best_gain, best_move = loads[worst] - swapped, (unit, other, swap)
        if best_move is None:
            return
        moving, target, swapped_back = best_move
        assignment[worst].remove(moving)
        assignment[target].append(moving)
        if swapped_back is not None:
            assignment[target].remove(swapped_back)
            assignment[worst].append(swapped_back)


def split(
    ids: Sequence[str],
    durations: Mapping[str, float],
    n: int,
    groups: Mapping[str, str] | None = None,
) -> list[Partition]:
    """``ids`` over ``n`` partitions. Within a partition, jobs keep the order of ``ids``."""
    if n < 1:
        raise UsageError(f"the partition count must be 1 or more, got {n}")
    missing = [job_id for job_id in ids if job_id not in durations]
    if missing:
        raise UsageError(f"no duration for {missing[0]} (and {len(missing) - 1} more)"
                         if len(missing) > 1 else f"no duration for {missing[0]}")  # fmt: skip
    units = units_of(ids, durations, groups)
    assignment: list[list[Unit]] = [[] for _ in range(n)]
    loads = [0.0] * n
    for unit in sorted(units, key=lambda u: (-u.seconds, u.key)):
        target = min(range(n), key=lambda i: (loads[i], i))
        assignment[target].append(unit)
        loads[target] += unit.seconds
    _improve(assignment)
    position = {job_id: index for index, job_id in enumerate(ids)}
    partitions = []
    for index, chosen in enumerate(assignment):
        ordered = sorted(chosen, key=lambda u: position[u.key])
        job_ids = tuple(job_id for unit in ordered for job_id in unit.ids)
        partitions.append(Partition(index, job_ids, sum(u.seconds for u in chosen)))
    return partitions


@dataclass(frozen=True)
class Shards:
    """A stage's shard count and how many of them GitHub may run at once."""

    size: int
    max_parallel: int


def shard_budget(timeout_minutes: int) -> float:
    """compute_partitions.py per_shard_target_seconds: 0.75 x the stage's timeout."""
    return TIMEOUT_FILL * timeout_minutes * 60


def max_parallel_for(size: int) -> int:
    """compute_partitions.py compute_max_parallel: a third of the shards, at least one
    (self-hosted GPU runners are scarce)."""
    return max(size // 3, 1)


def shard_count(
    stage: str, total_seconds: float, units: int, timeout_minutes: int, *,
    coeff: float = 1.0, bias: float = 0.0, pinned: int | None = None,
    full_parallel: bool = False,
) -> Shards:  # fmt: skip
    """compute_partitions.py's sizing of one suite: a pinned count as is (base-a's
    override; max_parallel = size); else ceil(coeff x total / (budget - bias)), an error
    when that needs more shards than there are units, throttled to size // 3 at once
    unless full_parallel (scheduled runs, the `high priority` label)."""
    if pinned is not None:
        if pinned > units:
            raise UsageError(f"stage {stage}: partitions = {pinned} but only {units} units of"
                             f" work; pin {units} or fewer")  # fmt: skip
        return Shards(pinned, pinned)
    if coeff <= 0:  # a non-positive slope is regression noise: the static estimate
        coeff, bias = 1.0, 0.0
    target = shard_budget(timeout_minutes)
    budget = target - bias
    if budget <= 0:
        raise UsageError(f"stage {stage}: fit bias {bias:g} s >= the shard budget"
                         f" {target:g} s (0.75 x timeout); raise the stage's timeout")  # fmt: skip
    size = max(1, math.ceil(coeff * total_seconds / budget))
    if size > units:
        raise UsageError(
            f"stage {stage}: needs {size} shards but has only {units} units of work"
            f" (budget {target:.0f} s per shard, coeff {coeff:g}, bias {bias:g} s, total"
            f" {total_seconds:.0f} s); raise its timeout"
        )
    return Shards(size, size if full_parallel else max_parallel_for(size))


def read_durations(path: Path) -> dict[str, float]:
    """pytest-split's format: a JSON object ``{"id": seconds}``."""
    try:
        data = json.loads(path.read_text())
    except OSError as error:
        raise UsageError(f"{path}: {error.strerror}") from None
    except ValueError as error:
        raise UsageError(f"{path}: not JSON ({error})") from None
    if not isinstance(data, dict) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
        for v in data.values()
    ):
        raise UsageError(f'{path}: expected {{"id": seconds, ...}} with seconds >= 0')
    return {str(key): float(value) for key, value in data.items()}


def parse_partition(text: str) -> tuple[int, int]:
    """``2/4`` -> (1, 4): the 0-based index and the count, as CI's matrix names them."""
    try:
        number, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise UsageError(f"--partition {text!r}: expected K/N, e.g. 2/4") from None
    if not 1 <= number <= count:
        raise UsageError(f"--partition {text!r}: K must be within 1..N")
    return number - 1, count


def partition_json(durations_path: Path, count: int) -> str:
    """`partition`: the split of a durations file's ids over ``count`` partitions."""
    durations = read_durations(durations_path)
    parts = split(sorted(durations), durations, count)
    return json.dumps({"partitions": [list(p.ids) for p in parts],
                       "predicted_seconds": [round(p.seconds, 1) for p in parts]})  # fmt: skip
