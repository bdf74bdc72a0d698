"""How close the partitioner gets to the best possible split (target: within 2%).

For durations files of a few hundred ids drawn from realistic spreads (log-normal test
times as CI suites show, with and without a tail of very long jobs), and 2..16
partitions, prints the longest partition divided by the lower bound
max(total / n, longest job), plus LPT alone for comparison, and the split's run time.

    python benchmarks/partition_quality.py
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sglang_ci.plan import partition


def lognormal(rng: random.Random) -> float:
    return rng.lognormvariate(4.8, 1.0)


def long_tail(rng: random.Random) -> float:
    return rng.uniform(900, 2400) if rng.random() < 0.03 else lognormal(rng)


def uniform(rng: random.Random) -> float:
    return rng.uniform(30, 600)


SPREADS: dict[str, Callable[[random.Random], float]] = {
    "log-normal (median 120 s)": lognormal,
    "log-normal + long tail": long_tail,
    "uniform 30-600 s": uniform,
}


def lpt_only(ids: list[str], durations: dict[str, float], n: int) -> float:
    loads = [0.0] * n
    for job_id in sorted(ids, key=lambda i: (-durations[i], i)):
        loads[loads.index(min(loads))] += durations[job_id]
    return max(loads)


def main() -> None:
    print(
        f"{'spread':28s} {'ids':>4s} {'n':>3s} {'split/bound':>12s} {'LPT/bound':>10s} {'ms':>6s}"
    )
    worst = 0.0
    for label, draw in SPREADS.items():
        for count in (200, 400):
            rng = random.Random(f"{label}-{count}")
            durations = {f"test_{i:04d}": round(draw(rng), 1) for i in range(count)}
            ids = list(durations)
            for n in range(2, 17):
                started = time.perf_counter()
                parts = partition.split(ids, durations, n)
                elapsed = (time.perf_counter() - started) * 1000
                units = partition.units_of(ids, durations)
                bound = partition.lower_bound(units, n)
                ratio = max(p.seconds for p in parts) / bound
                worst = max(worst, ratio)
                if n in (2, 4, 8, 12, 16):
                    lpt = lpt_only(ids, durations, n) / bound
                    print(f"{label:28s} {count:4d} {n:3d} {ratio:12.4f} {lpt:10.4f} {elapsed:6.1f}")
    print(f"worst ratio over all spreads, sizes and n = 2..16: {worst:.4f}"
          f" ({(worst - 1) * 100:.2f}% above the lower bound)")  # fmt: skip


if __name__ == "__main__":
    main()
