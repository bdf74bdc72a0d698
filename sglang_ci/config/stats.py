"""The statistics behind a threshold: spread over runs, binomial error of an accuracy.

An accuracy over ``n`` questions is a binomial proportion: even a perfectly repeatable
server has a sampling error of sqrt(p(1-p)/n) against the population of questions it
stands for, which is what a margin must cover when the eval set changes. Wilson's
interval is used because it stays inside [0, 1] and is sensible at p = 0 or 1.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal


def binomial_se(p: float, n: int) -> float:
    return math.sqrt(p * (1.0 - p) / n)


def wilson_interval(p: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``p`` observed over ``n`` trials."""
    z2 = z * z
    denominator = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n)) / denominator
    # Rounded: at p = 0 or 1 the exact bound is 0 or 1, float arithmetic gives 1e-18 off.
    return max(0.0, round(center - half, 12)), min(1.0, round(center + half, 12))


@dataclass(frozen=True)
class Spread:
    runs: int
    mean: float
    std: float  # sample standard deviation (n - 1); 0 for a single run
    minimum: float
    maximum: float
    distinct: int

    @classmethod
    def of(cls, scores: Sequence[float]) -> Spread:
        if not scores:
            raise ValueError("no scores")
        std = statistics.stdev(scores) if len(scores) > 1 else 0.0
        return cls(len(scores), statistics.fmean(scores), std, min(scores), max(scores),
                   len(set(scores)))  # fmt: skip


RULES = ("min-margin", "mean-k-std")


def recommended_threshold(scores: Sequence[float], rule: str, margin: float, k: float) -> float:
    """``min - margin`` (seed 001's rule) or ``mean - k * std``, rounded down to 0.001 so a
    printed threshold never exceeds the value it was computed as."""
    spread = Spread.of(scores)
    if rule == "min-margin":
        value = spread.minimum - margin
    elif rule == "mean-k-std":
        value = spread.mean - k * spread.std
    else:
        raise ValueError(f"unknown rule {rule!r}")
    return math.floor(round(value, 9) * 1000) / 1000
