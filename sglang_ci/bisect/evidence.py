"""Judging one commit against the ends of the range, from its runs so far (pure).

Scored job: each run of a candidate is paired with a run of the good end on the same
questions; only the discordant questions carry information (McNemar). Under "the
candidate is like the good end" each discordant question is a fair coin; under "it is
like the bad end" it is lost at the rate the bad end loses against the good end
(``theta``, measured on the ends). Wald's sequential probability ratio test between
those two decides after each run, stopping as soon as the evidence crosses either
bound, or says "undecided" at the budget rather than guess. McNemar's exact p-value
against the good end is shown beside it: the same pairs, as a familiar number.

Registered file (pass/fail): the same sequential test on failures, between the good
end's and the bad end's failure rates, so a file that fails 30% of the time on good
commits does not make one failure look like the regression."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sglang_ci.history import paired
from sglang_ci.history.paired import mcnemar_exact

Correct = Mapping[int, bool]

GOOD, BAD, SKIP, UNDECIDED = "good", "bad", "skip", "undecided"
# Rates are kept off 0 and 1: one end that never failed in five runs is not proof that
# it never fails, and a rate of exactly 0 or 1 would make one run decide for ever.
RATE_FLOOR = 0.02


@dataclass(frozen=True)
class Judgement:
    verdict: str  # good, bad or undecided
    llr: float  # log likelihood ratio, "like the bad end" over "like the good end"
    p_value: float | None  # McNemar vs the good end (scored) or Fisher's (pass/fail)
    lost: int = 0
    gained: int = 0

    def describe(self) -> str:
        p = "" if self.p_value is None else f", p = {self.p_value:.3g}"
        pairs = (
            f"; {self.lost} lost / {self.gained} gained vs good" if self.lost + self.gained else ""
        )
        return f"{self.verdict} (log LR {self.llr:+.2f}{p}{pairs})"


def step_error(confidence: float, commits: int) -> float:
    """Each verdict's error rate, so the whole search (about log2 steps, plus the ends)
    is wrong with at most 1 - confidence (a union bound)."""
    steps = max(1, math.ceil(math.log2(commits + 1))) + 1
    return (1.0 - confidence) / steps


def bounds(error: float) -> tuple[float, float]:
    """Wald's bounds for equal error rates both ways: (accept good, accept bad)."""
    return math.log(error / (1 - error)), math.log((1 - error) / error)


def discordant(reference: Sequence[Correct], runs: Sequence[Correct]) -> tuple[int, int]:
    """Questions lost and gained by ``runs`` against ``reference``, run j paired with
    reference run j (cycling when the reference has fewer runs)."""
    pairs = [paired.discordant(reference[number % len(reference)], run)
             for number, run in enumerate(runs)]  # fmt: skip
    return sum(lost for lost, _ in pairs), sum(gained for _, gained in pairs)


def bad_rate(good: Sequence[Correct], bad: Sequence[Correct]) -> float:
    """theta: the share of discordant questions the bad end loses against the good end."""
    lost, gained = discordant(good, bad)
    return min(1 - RATE_FLOOR, (lost + 1) / (lost + gained + 2))


def looks(max_runs: int) -> list[int]:
    """When the ends are tested: after 1, 2, 4, 8... runs each, and at the budget. Few
    looks, so each gets a fair share of the error (Bonferroni) and a large drop is still
    shown after one run at each end."""
    counts = [2**i for i in range(max_runs.bit_length()) if 2**i < max_runs]
    return [*counts, max_runs]


def regression_shown(good: Sequence[Correct], bad: Sequence[Correct], error: float,
                     max_runs: int) -> Judgement:  # fmt: skip
    """Do the ends differ? McNemar's exact test, at this look's share of ``error``; a
    count of runs that is no look says undecided (more runs first)."""
    lost, gained = discordant(good, bad)
    p = mcnemar_exact(lost, gained)
    schedule = looks(max_runs)
    shown = len(bad) in schedule and lost > gained and p < error / len(schedule)
    return Judgement(BAD if shown else UNDECIDED, 0.0, p, lost, gained)


def judge_scored(good: Sequence[Correct], bad: Sequence[Correct], theta: float,
                 runs: Sequence[Correct], error: float) -> Judgement:  # fmt: skip
    """The candidate against both ends: against the good end it loses at ``theta`` when
    it is bad (a fair coin when good); against the bad end it gains at ``theta`` when it
    is good. The verdict rests on the mean of the two log ratios: each alone is a fair
    test, and their mean (by Jensen's inequality) keeps the error bound while halving
    the ends' own noise. The p-value shown is McNemar's against the good end."""
    lost, gained = discordant(good, runs)
    vs_good = lost * math.log(2 * theta) + gained * math.log(2 * (1 - theta))
    lost_b, gained_b = discordant(bad, runs)
    vs_bad = -(gained_b * math.log(2 * theta) + lost_b * math.log(2 * (1 - theta)))
    llr = (vs_good + vs_bad) / 2
    return Judgement(_sprt(llr, error), llr, mcnemar_exact(lost, gained), lost, gained)


def failure_rates(good_fails: Sequence[bool], bad_fails: Sequence[bool]) -> tuple[float, float]:
    """Each end's failure rate, kept off 0 and 1."""

    def rate(fails: Sequence[bool]) -> float:
        return min(1 - RATE_FLOOR, max(RATE_FLOOR, sum(fails) / len(fails)))

    return rate(good_fails), rate(bad_fails)


def fisher_greater(fails_a: int, runs_a: int, fails_b: int, runs_b: int) -> float:
    """One-sided Fisher's exact test: P(b fails this often or more than a, by chance)."""
    total_fails, total = fails_a + fails_b, runs_a + runs_b
    denominator = math.comb(total, total_fails)
    top = min(total_fails, runs_b)
    return (
        sum(
            math.comb(runs_b, k) * math.comb(runs_a, total_fails - k)
            for k in range(fails_b, top + 1)
            if total_fails - k <= runs_a
        )
        / denominator
    )


def rates_differ(good_fails: Sequence[bool], bad_fails: Sequence[bool], error: float,
                 max_runs: int) -> Judgement:  # fmt: skip
    """Does the bad end fail more often? Fisher's exact test, at this look's share."""
    p = fisher_greater(sum(good_fails), len(good_fails), sum(bad_fails), len(bad_fails))
    return Judgement(BAD if p < error / len(looks(max_runs)) else UNDECIDED, 0.0, p)


def judge_pass_fail(rates: tuple[float, float], fails: Sequence[bool], good_fails: Sequence[bool],
                    error: float) -> Judgement:  # fmt: skip
    good_rate, bad_rate_ = rates
    failed = sum(fails)
    passed = len(fails) - failed
    llr = failed * math.log(bad_rate_ / good_rate) + passed * math.log(
        (1 - bad_rate_) / (1 - good_rate)
    )
    p = fisher_greater(sum(good_fails), len(good_fails), failed, len(fails))
    return Judgement(_sprt(llr, error), llr, p)


def _sprt(llr: float, error: float) -> str:
    accept_good, accept_bad = bounds(error)
    if llr >= accept_bad:
        return BAD
    if llr <= accept_good:
        return GOOD
    return UNDECIDED
