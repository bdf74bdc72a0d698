"""Drift and regressions: the first run (and SGLang commit) after which a job's score
distribution shifted.

The test: for every split of the scored runs between two SGLang commits (each side at
least ``min_side`` runs), a two-sample z statistic of the means with the pooled
within-segment spread; the largest |z| is the candidate. Its p-value is Bonferroni-
corrected for the number of splits tried, and a shift is reported only under ``alpha``
(0.001 by default) -- so, per job and check, a healthy history raises a false alarm with
probability at most ``alpha``, however many runs it has. Bonferroni rather than a
CUSUM with a tuned limit because its false-alarm bound holds without simulation and
without knowing the noise in advance; it costs power only on small shifts, which a
maintainer cannot act on anyway. Splits fall only between commits: a commit is the unit
that changes a build, so the first bad run is the first run of a commit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sglang_ci.history.rows import SCORED_STATUSES, RunRow

DEFAULT_ALPHA = 0.001
DEFAULT_MIN_SIDE = 8


@dataclass(frozen=True)
class Shift:
    job: str
    first_run: str  # uid of the first run after the shift
    commit: str  # its SGLang commit
    started_at: str
    before: float  # mean score before
    after: float
    p_value: float  # Bonferroni-corrected

    @property
    def regression(self) -> bool:
        return self.after < self.before

    def describe(self) -> str:
        what = "regression" if self.regression else "improvement"
        return (
            f"{self.job}: {what} from SGLang commit {self.commit} (first run {self.first_run},"
            f" {self.started_at}): mean {self.before:.3f} -> {self.after:.3f},"
            f" p = {self.p_value:.1e}"
        )


def scored(runs: Sequence[RunRow]) -> list[RunRow]:
    """The runs that are evidence of a score: a model's, with a verdict on a score."""
    return [r for r in runs if r.evidence and r.score is not None and r.status in SCORED_STATUSES]


def find_shift(
    runs: Sequence[RunRow], alpha: float = DEFAULT_ALPHA, min_side: int = DEFAULT_MIN_SIDE
) -> Shift | None:
    """The most significant shift in one job's scored runs (oldest first), or None."""
    rows = scored(runs)
    scores = [float(r.score) for r in rows if r.score is not None]
    n = len(scores)
    cuts = [i for i in range(min_side, n - min_side + 1) if rows[i].commit != rows[i - 1].commit]
    if not cuts:
        return None
    prefix, squares = [0.0], [0.0]
    for value in scores:
        prefix.append(prefix[-1] + value)
        squares.append(squares[-1] + value * value)
    best, best_z = cuts[0], -1.0
    for cut in cuts:
        z = _z(prefix, squares, cut, n)
        if z > best_z:
            best, best_z = cut, z
    p_value = min(1.0, len(cuts) * math.erfc(best_z / math.sqrt(2)))
    if p_value >= alpha:
        return None
    before, after = prefix[best] / best, (prefix[n] - prefix[best]) / (n - best)
    first = rows[best]
    return Shift(first.job, first.uid, first.commit, first.started_at, before, after, p_value)


def _z(prefix: list[float], squares: list[float], cut: int, n: int) -> float:
    left, right = cut, n - cut
    mean_l, mean_r = prefix[cut] / left, (prefix[n] - prefix[cut]) / right
    # Within-segment sum of squares, pooled: the noise once the shift is taken out.
    ss = (squares[cut] - left * mean_l**2) + (squares[n] - squares[cut] - right * mean_r**2)
    variance = max(ss, 0.0) / max(n - 2, 1)
    # A floor: identical scores (deterministic inference) would give a zero spread.
    variance = max(variance, 1e-12)
    return abs(mean_l - mean_r) / math.sqrt(variance * (1 / left + 1 / right))


def healthy(runs: Sequence[RunRow], shift: Shift | None) -> list[RunRow]:
    """The scored runs that stand for a healthy build: before a regression, after an
    improvement, all of them when nothing shifted."""
    rows = scored(runs)
    if shift is None:
        return rows
    cut = next(i for i, row in enumerate(rows) if row.uid == shift.first_run)
    return rows[:cut] if shift.regression else rows[cut:]
