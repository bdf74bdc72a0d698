"""The paired comparison of two runs on the same questions: McNemar's exact test.

Two runs of one eval on the same questions differ only where one answered right and the
other wrong; the questions both got right (or wrong) say nothing about which run is
better. Under "no difference" each discordant question is a fair coin, so the number
lost is Binomial(lost + gained, 1/2); the two-sided exact p-value is twice the smaller
tail (capped at 1). Reused by anything that judges two builds on one eval (bisect)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Paired:
    shared: int  # questions both runs answered
    lost: int  # right in the reference, wrong now
    gained: int  # wrong in the reference, right now
    p_value: float

    def describe(self) -> str:
        return (
            f"{self.lost} questions lost, {self.gained} gained of {self.shared} shared"
            f" (McNemar's exact test p = {self.p_value:.3g})"
        )


def mcnemar_exact(lost: int, gained: int) -> float:
    """Two-sided exact McNemar p-value for ``lost`` vs ``gained`` discordant pairs."""
    if lost < 0 or gained < 0:
        raise ValueError("counts must be non-negative")
    n = lost + gained
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(lost, gained) + 1))
    return min(1.0, 2 * tail / (1 << n))


def discordant(reference: Mapping[int, bool], current: Mapping[int, bool]) -> tuple[int, int]:
    """Questions both answered that ``current`` lost and gained against ``reference``."""
    shared = reference.keys() & current.keys()
    lost = sum(reference[q] and not current[q] for q in shared)
    return lost, sum(current[q] and not reference[q] for q in shared)


def compare(reference: Mapping[int, bool], current: Mapping[int, bool]) -> Paired:
    """``current`` against ``reference`` on the questions both answered."""
    lost, gained = discordant(reference, current)
    shared = len(reference.keys() & current.keys())
    return Paired(shared, lost, gained, mcnemar_exact(lost, gained))
