"""Flaky jobs: both passed and failed on the same SGLang commit and GPU model.

The flake rate of a job is the share of its commits (run at least twice) whose runs
disagree. A cancelled or skipped run is no evidence either way. Per-question flips count
the questions whose correctness differed between runs of one commit: with deterministic
inference there are none (seed 001: std 0), without it a few per run (std about 0.06)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sglang_ci.history.rows import Answers, RunRow

DEFAULT_FLAKE_RATE = 0.05  # above it a job is flaky (and a quarantine candidate)
MIN_MIXED = 2  # one disagreeing commit is an anecdote
NOT_EVIDENCE = ("cancelled", "skipped", "running")


@dataclass(frozen=True)
class Flakiness:
    job: str
    commits: int  # commits run at least twice
    mixed: tuple[str, ...]  # the commits whose runs disagreed
    failure_kinds: tuple[str, ...]  # the kinds of the failures on those commits

    @property
    def rate(self) -> float:
        return len(self.mixed) / self.commits if self.commits else 0.0

    def flaky(self, level: float = DEFAULT_FLAKE_RATE) -> bool:
        return len(self.mixed) >= MIN_MIXED and self.rate > level

    @property
    def only_below_threshold(self) -> bool:
        """Every disagreement was a score under the threshold: the threshold's noise."""
        return set(self.failure_kinds) <= {"below threshold"}

    def describe(self) -> str:
        kinds = ", ".join(sorted(set(self.failure_kinds))) or "none"
        return (
            f"{self.job}: flaky, {len(self.mixed)} of {self.commits} commits both passed and"
            f" failed (flake rate {self.rate:.0%}; failures: {kinds})"
        )


def flakiness(runs: Sequence[RunRow]) -> Flakiness:
    """One job's runs (one GPU model), as evidence: the stub's never count."""
    by_commit: dict[tuple[str, str], list[RunRow]] = {}
    for run in runs:
        if run.evidence and run.status not in NOT_EVIDENCE:
            by_commit.setdefault((run.commit, run.gpu), []).append(run)
    repeated = {key: group for key, group in by_commit.items() if len(group) > 1}
    mixed = {
        key: group
        for key, group in repeated.items()
        if any(r.passed for r in group) and not all(r.passed for r in group)
    }
    kinds = tuple(
        r.failure_kind or r.status for group in mixed.values() for r in group if not r.passed
    )
    job = runs[0].job if runs else ""
    return Flakiness(job, len(repeated), tuple(sorted(k[0] for k in mixed)), kinds)


@dataclass(frozen=True)
class Flips:
    commits: int  # commits with per-question records from at least two runs
    flipped: int  # questions whose correctness differed between runs of one commit
    questions: int  # questions compared

    @property
    def share(self) -> float:
        return self.flipped / self.questions if self.questions else 0.0


def question_flips(runs: Sequence[RunRow], answers: Callable[[str], list[Answers]]) -> Flips:
    """Questions answered differently by runs of one commit (records present)."""
    by_commit: dict[str, list[RunRow]] = {}
    for run in runs:
        if run.evidence:
            by_commit.setdefault(run.commit, []).append(run)
    commits = flipped = questions = 0
    for group in by_commit.values():
        seen: dict[tuple[str, int], set[bool]] = {}
        with_records = 0
        for run in group:
            found = answers(run.uid)
            with_records += bool(found)
            for block in found:
                for question, correct in block.correct.items():
                    seen.setdefault((block.eval, question), set()).add(correct)
        if with_records < 2:
            continue
        commits += 1
        questions += len(seen)
        flipped += sum(len(values) > 1 for values in seen.values())
    return Flips(commits, flipped, questions)


def passing_streak(runs: Sequence[RunRow]) -> int:
    """How many of the latest runs passed in a row (a quarantine's removal evidence)."""
    streak = 0
    for run in reversed([r for r in runs if r.evidence and r.status not in NOT_EVIDENCE]):
        if not run.passed:
            break
        streak += 1
    return streak
