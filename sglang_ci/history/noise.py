"""Thresholds inside the noise: how likely a healthy build scores under its threshold.

The healthy runs' scores are summarized by their mean and spread (the spread already
holds both the questions' sampling noise and the engine's nondeterminism); the chance
of a healthy score failing is the normal tail beyond the threshold, floored by the share
of healthy runs that actually failed it (a skewed history is not argued away by a fit).
A threshold is "inside the noise" when that chance is above ``limit`` (1% by default);
the recommended threshold is what calibrate recommends from the same runs (the job's
rule in baselines.toml: min - margin by default)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from sglang_ci.config.baselines import DEFAULT_K, DEFAULT_MARGIN, DEFAULT_RULE
from sglang_ci.config.stats import recommended_threshold
from sglang_ci.history.rows import RunRow

DEFAULT_LIMIT = 0.01
MIN_RUNS = 10  # fewer healthy runs say too little about a spread


@dataclass(frozen=True)
class Noise:
    job: str
    runs: int
    mean: float
    std: float
    minimum: float
    threshold: float
    comparator: str
    chance: float  # of a healthy build failing the threshold
    failed_share: float  # of the healthy runs that did
    recommended: float
    limit: float = DEFAULT_LIMIT
    scores: tuple[float, ...] = ()  # the healthy runs' scores, oldest first

    @property
    def inside(self) -> bool:
        return self.chance > self.limit

    def describe(self) -> str:
        return (
            f"{self.job}: threshold {self.comparator} {self.threshold:g} is inside the noise:"
            f" a healthy build fails it with chance {self.chance:.1%} (mean {self.mean:.3f},"
            f" std {self.std:.3f}, lowest {self.minimum:.3f} over {self.runs} runs,"
            f" {self.failed_share:.0%} of them failed); recommended {self.recommended:.3f}"
        )


def fail_chance(score_mean: float, std: float, threshold: float, comparator: str) -> float:
    """P(score fails ``comparator threshold``) for a normal score; with std 0 it is 0 or 1."""
    if std <= 0:
        passes = score_mean > threshold if comparator == ">" else score_mean >= threshold
        return 0.0 if passes else 1.0
    return 0.5 * math.erfc((score_mean - threshold) / (std * math.sqrt(2)))


def noise_of(
    healthy: Sequence[RunRow],
    rule: str = DEFAULT_RULE,
    margin: float = DEFAULT_MARGIN,
    k: float = DEFAULT_K,
    limit: float = DEFAULT_LIMIT,
) -> Noise | None:
    """The noise verdict on the latest threshold of one job's healthy runs (None: too few
    runs, or no threshold)."""
    scored = [r for r in healthy if r.score is not None]
    if len(scored) < MIN_RUNS or scored[-1].threshold is None:
        return None
    last = scored[-1]
    threshold, comparator = float(last.threshold or 0.0), last.comparator or ">="
    scores = [float(r.score or 0.0) for r in scored]
    mean, std = statistics.fmean(scores), statistics.stdev(scores)
    failed = sum(not _passes(s, threshold, comparator) for s in scores) / len(scores)
    chance = max(fail_chance(mean, std, threshold, comparator), failed)
    return Noise(
        last.job,
        len(scores),
        mean,
        std,
        min(scores),
        threshold,
        comparator,
        chance,
        failed,
        recommended_threshold(scores, rule, margin, k),
        limit,
        tuple(scores),
    )


def _passes(score: float, threshold: float, comparator: str) -> bool:
    return score > threshold if comparator == ">" else score >= threshold


def share_at_or_below(healthy: Sequence[RunRow], score: float) -> tuple[int, int]:
    """How many of the healthy runs scored this low or lower, of how many."""
    scores = [r.score for r in healthy if r.score is not None]
    return sum(s <= score for s in scores), len(scores)
