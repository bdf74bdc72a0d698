"""The noise-aware bisect against fixed-k binary search, on simulated evals.

Each simulation: 32 commits after a good end, one of them (seeded) drops the score by 3, 5
or 10 points on 200 questions. Questions differ as real evals' do: most are answered
right (or wrong) nearly every run, some flip between runs, so run-to-run noise is real
and the paired test has something to cut through. The bisect under test is the real
``Bisector`` with its runs simulated (no install, no server); fixed-k binary search runs
every probe k times and calls it by the sign of the same likelihood ratio, with k the
smallest that is right as often as the bisect (or more) on the same simulations.

Run: python benchmarks/noise_aware_bisect.py (goal: wrong-commit rate <= 2% at the
default confidence; fewer mean runs than fixed-k bisect). Not named bisect.py: a script
of that name here would shadow the standard library's bisect for every benchmark."""

from __future__ import annotations

import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sglang_ci.bisect import evidence, search
from sglang_ci.bisect.cli import DEFAULT_CONFIDENCE, DEFAULT_MAX_RUNS
from sglang_ci.bisect.commits import Commit
from sglang_ci.bisect.driver import Bisector, Settings
from sglang_ci.bisect.probe import Run, Target
from sglang_ci.bisect.state import BisectState

COMMITS = 32
QUESTIONS = 200
DROPS = (0.03, 0.05, 0.10)
SIMULATIONS = 50  # per drop


class Eval:
    """Per-question chances of a right answer, and a build's drop."""

    def __init__(self, rng: random.Random) -> None:
        self.p = []
        for _ in range(QUESTIONS):
            kind = rng.random()
            self.p.append(0.97 if kind < 0.7 else 0.08 if kind < 0.85 else rng.uniform(0.2, 0.8))
        self.mean = statistics.fmean(self.p)

    def run(self, rng: random.Random, drop: float) -> dict[int, bool]:
        scale = 1 - drop / self.mean
        return {q: rng.random() < p * scale for q, p in enumerate(self.p)}


class Simulated(Bisector):
    """The real search and judging; runs drawn from the eval instead of a server."""

    def __init__(self, first_bad: int, drop: float, rng: random.Random) -> None:
        target = Target("sim", True, False, 1, "sim")
        settings = Settings(target, Path(), Path(), "", DEFAULT_MAX_RUNS, DEFAULT_CONFIDENCE,
                            Path(), {})  # fmt: skip
        commits = [Commit(f"{i:040d}", f"commit {i}", False) for i in range(COMMITS + 1)]
        super().__init__(settings, commits, BisectState("sim", "", "", {}), Path(), lambda _: None)
        self.first_bad, self.drop, self.rng, self.eval = first_bad, drop, rng, Eval(rng)
        self.count = 0

    def runs(self, commit: Commit, count: int) -> list[Run] | None:
        have = self.state.runs_of(commit.sha)
        index = int(commit.sha)
        while len(have) < count:
            correct = self.eval.run(self.rng, self.drop if index >= self.first_bad else 0.0)
            have.append(Run(commit.sha, len(have) + 1, "passed", None, 1.0, None, correct))
            self.count += 1
        return have[:count]


def fixed_k(first_bad: int, drop: float, k: int, seed: int) -> tuple[bool, int]:
    rng = random.Random(seed)
    sim = Eval(rng)  # an eval of the same kind, with its own questions

    def runs(index: int) -> list[dict[int, bool]]:
        return [sim.run(rng, drop if index >= first_bad else 0.0) for _ in range(k)]

    good, bad = runs(0), runs(COMMITS)
    theta = evidence.bad_rate(good, bad)
    verdicts: dict[int, str] = {}
    used = 2 * k
    while (index := search.next_probe(COMMITS, verdicts)) is not None:
        judged = evidence.judge_scored(good, bad, theta, runs(index), 0.5)
        verdicts[index] = evidence.BAD if judged.llr > 0 else evidence.GOOD
        used += k
    return search.conclusion(COMMITS, verdicts) == (first_bad,), used


def main() -> None:
    cases = [(drop, seed) for drop in DROPS for seed in range(SIMULATIONS)]
    right = wrong = 0
    used: list[int] = []
    first_bads: list[int] = []
    for drop, seed in cases:
        rng = random.Random(seed * 1000 + int(drop * 100))
        first_bad = rng.randint(1, COMMITS)
        sim = Simulated(first_bad, drop, rng)
        outcome = sim.bisect()
        first_bads.append(first_bad)
        named = int(outcome.found.sha) if outcome.found else None
        right += named == first_bad
        wrong += named is not None and named != first_bad
        used.append(sim.count)
        print(
            f"drop {drop:.0%} seed {seed:2d}: first bad {first_bad:2d}, named"
            f" {int(outcome.found.sha) if outcome.found else '-':>2}, runs {sim.count}"
        )
    rate = wrong / len(cases)
    failed = 1 - right / len(cases)  # wrong, or none named: what fixed-k is matched to
    k_used: list[int] = []
    for k in range(1, 41):
        results = [
            fixed_k(bad, d, k, s * 7919 + int(d * 100))
            for (d, s), bad in zip(cases, first_bads, strict=True)
        ]
        k_rate = 1 - sum(ok for ok, _ in results) / len(cases)
        k_used = [n for _, n in results]
        print(
            f"fixed k={k}: wrong-commit rate {k_rate:.1%}, mean runs {statistics.fmean(k_used):.1f}"
        )
        if k_rate <= failed:
            break
    for drop in DROPS:
        mine = [n for (d, _), n in zip(cases, used, strict=True) if d == drop]
        print(f"drop {drop:.0%}: mean runs {statistics.fmean(mine):.1f}")
    print(
        f"named a wrong commit {rate:.1%}; named none (undecided, or the drop not shown"
        f" within the budget) {failed - rate:.1%}; fixed k matched to both together,"
        f" {failed:.1%}"
    )
    print(
        f"wrong-commit rate {rate:.1%} over {len(cases)} simulations; mean runs"
        f" {statistics.fmean(used):.1f} vs {statistics.fmean(k_used):.1f} for fixed-k bisect"
    )


if __name__ == "__main__":
    main()
