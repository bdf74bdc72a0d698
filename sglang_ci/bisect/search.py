"""Which commit to probe next, and what the verdicts so far conclude (pure).

Commits are indexed 0 (the good end) .. n (the bad end), oldest first. As git bisect:
the first bad commit lies after the last known good and at or before the first known
bad; a probe is the commit nearest the middle of that range; a skipped commit (its
install failed) is never called good or bad, and the search probes its neighbours
instead. An "undecided" commit (the budget ran out before the evidence did) is set aside
the same way: probing a neighbour is cheaper than more runs on a commit that sits in
the noise. When only skipped or undecided commits stand between the bounds, the answer
is that set, as git bisect's "only skipped commits left to test"."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sglang_ci.bisect.evidence import BAD, GOOD


@dataclass(frozen=True)
class Bounds:
    last_good: int
    first_bad: int
    open: tuple[int, ...]  # indices between them still worth a probe
    set_aside: tuple[int, ...]  # skipped or undecided between them


def bounds_of(n: int, verdicts: Mapping[int, str]) -> Bounds:
    """The narrowest range the verdicts allow. A good verdict after a bad one (noise the
    test let through) keeps the first bad: the search trusts the earliest bad it has."""
    first_bad = min((i for i, v in verdicts.items() if v == BAD), default=n)
    last_good = max((i for i, v in verdicts.items() if v == GOOD and i < first_bad), default=0)
    inside = range(last_good + 1, first_bad)
    open_ = tuple(i for i in inside if i not in verdicts)
    aside = tuple(i for i in inside if i in verdicts)
    return Bounds(last_good, first_bad, open_, aside)


def next_probe(n: int, verdicts: Mapping[int, str]) -> int | None:
    """The open commit nearest the middle of the range (the older one on a tie), or None
    when nothing is left to probe."""
    span = bounds_of(n, verdicts)
    if not span.open:
        return None
    middle = (span.last_good + span.first_bad) / 2
    return min(span.open, key=lambda i: (abs(i - middle), i))


def conclusion(n: int, verdicts: Mapping[int, str]) -> tuple[int, ...]:
    """The candidates for the first bad commit once the search is over: one index when
    it is found; the set-aside commits and the first bad when they hide it."""
    span = bounds_of(n, verdicts)
    return (*span.set_aside, span.first_bad)
