"""The bisect loop: confirm the ends differ, then probe commits until the first bad one
stands alone (or only skipped and undecided commits hide it).

Every run and install goes to the state file the moment it ends; the loop reads its runs
from there first, so a resumed bisect repeats nothing it already has."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sglang_ci.bisect import evidence, search
from sglang_ci.bisect.commits import Commit, remove_worktree
from sglang_ci.bisect.evidence import BAD, SKIP, UNDECIDED, Judgement
from sglang_ci.bisect.install import install
from sglang_ci.bisect.probe import Run, Target, run_once
from sglang_ci.bisect.state import BisectState, save
from sglang_ci.config.errors import UsageError


@dataclass(frozen=True)
class Settings:
    target: Target
    checkout: Path
    python: Path
    template: str
    max_runs: int
    confidence: float
    folder: Path  # the bisect's own folder: state, worktrees, run results
    env: Mapping[str, str]


@dataclass
class Step:
    index: int
    commit: Commit
    verdict: str
    runs: list[Run]
    judgement: Judgement | None = None
    note: str = ""  # why it was skipped; the install's version


@dataclass
class Outcome:
    commits: list[Commit]
    ends: list[Step]
    steps: list[Step] = field(default_factory=list)
    regression: bool = True
    suspects: tuple[int, ...] = ()  # indices of the first bad commit (one when found)
    error_rate: float = 0.0
    history: str | None = None  # the first bad commit's score against the job's history

    @property
    def found(self) -> Commit | None:
        return self.commits[self.suspects[0]] if len(self.suspects) == 1 else None

    def all_runs(self) -> list[Run]:
        return [run for step in (*self.ends, *self.steps) for run in step.runs]


class Bisector:
    def __init__(self, settings: Settings, commits: list[Commit], state: BisectState,
                 state_path: Path, say: Callable[[str], None]) -> None:  # fmt: skip
        self.s, self.commits, self.state, self.state_path = settings, commits, state, state_path
        self.say = say
        self.installed: str | None = None  # what the venv holds now (unknown at start)

    # -- runs, from the state file first ---------------------------------------------
    def runs(self, commit: Commit, count: int) -> list[Run] | None:
        """The first ``count`` runs at ``commit`` (fewer when one measured nothing);
        None when it does not install."""
        have = self.state.runs_of(commit.sha)
        while len(have) < count and all(run.measured for run in have):
            if not self._install(commit):
                return None
            number = len(have) + 1
            folder = self._run_folder(commit, number)
            run = run_once(self.s.target, commit.sha, number, self.s.python,
                           self._worktree(commit), folder, self.s.env)  # fmt: skip
            have.append(run)
            save(self.state, self.state_path)
            score = "" if run.score is None else f" score {run.score:.4f}"
            self.say(f"{commit.short} run {number}: {run.status}{score} ({run.seconds:.0f} s)")
        if commit.sha in self.state.installs and not self.state.installs[commit.sha].ok:
            return None
        return have[:count]

    def _run_folder(self, commit: Commit, number: int) -> Path:
        """A new folder: a run cut short by a cancel left its own, which stays as it is."""
        folder = self.s.folder / "runs" / f"{commit.short}-{number:02d}"
        again = 1
        while folder.exists():
            again += 1
            folder = folder.with_name(f"{commit.short}-{number:02d}-take{again}")
        return folder

    def _worktree(self, commit: Commit) -> Path:
        # A name of its own: git names a worktree's admin folder after its basename.
        return self.s.folder / "commits" / commit.short / f"sglang-{commit.short}"

    def _install(self, commit: Commit) -> bool:
        known = self.state.installs.get(commit.sha)
        if known is not None and not known.ok:
            return False
        if self.installed == commit.sha:
            return True
        if self.installed is not None:  # one worktree at a time: the installed one
            remove_worktree(self.s.checkout, self._worktree(self._commit(self.installed)))
        done = install(commit.sha, self.s.template, self.s.python, self.s.checkout,
                       self._worktree(commit).parent, self.s.env, self._worktree(commit),
                       self.s.target.registered_file)  # fmt: skip
        self.state.installs[commit.sha] = done
        save(self.state, self.state_path)
        self.installed = commit.sha if done.ok else None
        self.say(f"{commit.short} installed sglang {done.version or '?'}" if done.ok
                 else f"{commit.short} does not install ({done.reason}): skip")  # fmt: skip
        return done.ok

    def _commit(self, sha: str) -> Commit:
        return next(c for c in self.commits if c.sha == sha)

    def finish(self) -> None:
        if self.installed is not None:
            remove_worktree(self.s.checkout, self._worktree(self._commit(self.installed)))

    # -- the search ------------------------------------------------------------------
    def bisect(self) -> Outcome:
        good, bad = self.commits[0], self.commits[-1]
        n = len(self.commits) - 1
        error = evidence.step_error(self.s.confidence, n)
        outcome = Outcome(self.commits, [], error_rate=error)
        ends = self._confirm_ends(good, bad, error)
        if ends is None:
            outcome.regression = False
            outcome.ends = self._end_steps()
            return outcome
        good_runs, bad_runs, shown = ends
        outcome.ends = self._end_steps(shown)
        judge = self._judge(good_runs, bad_runs, error)
        verdicts: dict[int, str] = {}
        while (index := search.next_probe(n, verdicts)) is not None:
            step = self._probe(index, judge)
            verdicts[index] = step.verdict
            outcome.steps.append(step)
            self.say(
                f"step {len(outcome.steps)}: {step.commit.short} "
                + (step.judgement.describe() if step.judgement else step.verdict)
            )
        outcome.suspects = search.conclusion(n, verdicts)
        return outcome

    def _end_runs(self, commit: Commit, count: int, which: str) -> list[Run]:
        runs = self.runs(commit, count)
        if runs is None:
            raise UsageError(
                f"--{which} {commit.short} does not install (log:"
                f" {self.state.installs[commit.sha].log}); pick another {which} end"
            )
        if not all(run.measured for run in runs):
            raise UsageError(
                f"--{which} {commit.short}: the job measured nothing (status"
                f" {runs[-1].status}; {runs[-1].folder}); fix the job first"
            )
        return runs

    def _confirm_ends(self, good: Commit, bad: Commit, error: float
                      ) -> tuple[list[Run], list[Run], Judgement] | None:  # fmt: skip
        """Runs at each end up to the next look (1, 2, 4, 8... runs: one install per end
        and look) until they differ, or the budget says they do not (then there is no
        regression in range to look for)."""
        for count in evidence.looks(self.s.max_runs):
            good_runs = self._end_runs(good, count, "good")
            bad_runs = self._end_runs(bad, count, "bad")
            if self.s.target.scored:
                shown = evidence.regression_shown(
                    [r.correct for r in good_runs], [r.correct for r in bad_runs], error,
                    self.s.max_runs)  # fmt: skip
            else:
                shown = evidence.rates_differ([r.failed for r in good_runs],
                                              [r.failed for r in bad_runs], error,
                                              self.s.max_runs)  # fmt: skip
            if shown.verdict == BAD:
                return good_runs, bad_runs, shown
        return None

    def _end_steps(self, shown: Judgement | None = None) -> list[Step]:
        good, bad = self.commits[0], self.commits[-1]
        return [Step(0, good, "good", list(self.state.runs_of(good.sha))),
                Step(len(self.commits) - 1, bad, "bad" if shown else "not worse",
                     list(self.state.runs_of(bad.sha)), shown)]  # fmt: skip

    def _judge(self, good: Sequence[Run], bad: Sequence[Run], error: float
               ) -> Callable[[list[Run]], Judgement]:  # fmt: skip
        if self.s.target.scored:
            reference, worse = [r.correct for r in good], [r.correct for r in bad]
            theta = evidence.bad_rate(reference, worse)
            return lambda runs: evidence.judge_scored(
                reference, worse, theta, [r.correct for r in runs], error
            )
        good_fails = [r.failed for r in good]
        rates = evidence.failure_rates(good_fails, [r.failed for r in bad])
        return lambda runs: evidence.judge_pass_fail(rates, [r.failed for r in runs],
                                                     good_fails, error)  # fmt: skip

    def _probe(self, index: int, judge: Callable[[list[Run]], Judgement]) -> Step:
        commit = self.commits[index]
        judgement: Judgement | None = None
        runs: list[Run] = []
        for count in range(1, self.s.max_runs + 1):
            have = self.runs(commit, count)
            if have is None:
                reason = self.state.installs[commit.sha].reason
                return Step(index, commit, SKIP, [], None, f"install failed: {reason}")
            runs = have
            if not all(run.measured for run in runs):
                return Step(index, commit, SKIP, runs, None,
                            f"untestable: a run ended {runs[-1].status}")  # fmt: skip
            judgement = judge(runs)
            if judgement.verdict != UNDECIDED:
                break
        assert judgement is not None  # max_runs >= 1
        installed = self.state.installs.get(commit.sha)
        version = installed.version if installed else "?"
        return Step(index, commit, judgement.verdict, runs, judgement, f"sglang {version}")


def stderr_say(line: str) -> None:
    print(f"sglang-ci bisect: {line}", file=sys.stderr, flush=True)
