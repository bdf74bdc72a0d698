"""One job's analysis (on one GPU model and SGLang line) and the findings of a store:
pure functions over history rows, each with a JSON form."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sglang_ci.history.drift import DEFAULT_ALPHA, Shift, find_shift, healthy
from sglang_ci.history.flaky import DEFAULT_FLAKE_RATE, Flakiness, flakiness, passing_streak
from sglang_ci.history.noise import DEFAULT_LIMIT, Noise, noise_of
from sglang_ci.history.rows import SCORED_STATUSES, RunRow


@dataclass(frozen=True)
class Settings:
    noise_limit: float = DEFAULT_LIMIT  # a threshold failing healthy builds more often is flagged
    flake_rate: float = DEFAULT_FLAKE_RATE
    alpha: float = DEFAULT_ALPHA  # the drift test's false-alarm bound per job
    rule: str = "min-margin"
    margin: float = 0.03
    k: float = 2.0


@dataclass(frozen=True)
class JobAnalysis:
    job: str
    gpu: str
    line: str
    runs: int  # evidence runs (the stub's left out)
    stub_runs: int
    pass_rate: float
    last_status: str
    scores: tuple[float, ...]
    noise: Noise | None
    flakes: Flakiness
    shift: Shift | None
    streak: int  # latest consecutive passes
    flaky: bool = False

    def rate_text(self, rate: float, digits: int = 0) -> str:
        """A rate over the evidence runs; "-" where there are none (stub runs only), not a
        0% that reads as every run failed."""
        return f"{rate:.{digits}%}" if self.runs else "-"

    @property
    def flaky_unexplained(self) -> bool:
        """Flaky, and not only from scores under a threshold inside the noise (that is the
        threshold's finding, not a second one)."""
        noisy = self.noise is not None and self.noise.inside
        return self.flaky and not (noisy and self.flakes.only_below_threshold)

    def findings(self) -> list[Finding]:
        found = []
        if self.noise is not None and self.noise.inside:
            evidence = {k: v for k, v in asdict(self.noise).items() if k != "scores"}
            found.append(
                Finding("threshold inside the noise", self.job, self.noise.describe(), evidence)
            )
        if self.flaky_unexplained:
            found.append(
                Finding(
                    "flaky",
                    self.job,
                    self.flakes.describe(),
                    {**asdict(self.flakes), "rate": self.flakes.rate},
                )
            )
        if self.shift is not None:
            kind = "regression" if self.shift.regression else "drift"
            found.append(Finding(kind, self.job, self.shift.describe(), asdict(self.shift)))
        return found

    def to_json(self) -> dict[str, Any]:
        values = asdict(self)
        values["flakes"]["rate"] = self.flakes.rate
        if values["noise"]:
            values["noise"].pop("scores")
        values["findings"] = [asdict(f) for f in self.findings()]
        return values


@dataclass(frozen=True)
class Finding:
    kind: str  # threshold inside the noise, flaky, regression, drift
    job: str
    text: str
    evidence: dict[str, Any] = field(default_factory=dict)


def groups(rows: Sequence[RunRow]) -> dict[tuple[str, str, str], list[RunRow]]:
    """Rows (oldest first) by job, GPU model and SGLang line."""
    out: dict[tuple[str, str, str], list[RunRow]] = {}
    for row in rows:
        out.setdefault(row.group, []).append(row)
    return out


def analyse(runs: Sequence[RunRow], settings: Settings = Settings()) -> JobAnalysis:
    """One group's runs, oldest first."""
    evidence = [r for r in runs if r.evidence]
    shift = find_shift(evidence, settings.alpha)
    noise = noise_of(
        healthy(evidence, shift), settings.rule, settings.margin, settings.k, settings.noise_limit
    )
    flakes = flakiness(evidence)
    first = runs[0]
    verdicts = [r for r in evidence if r.status in ("passed", "failed", "error", "timeout")]
    return JobAnalysis(
        first.job,
        first.gpu,
        first.line,
        len(evidence),
        len(runs) - len(evidence),
        sum(r.passed for r in verdicts) / len(verdicts) if verdicts else 0.0,
        evidence[-1].status if evidence else runs[-1].status,
        tuple(float(r.score) for r in evidence if r.score is not None),
        noise,
        flakes,
        shift,
        passing_streak(evidence),
        flakes.flaky(settings.flake_rate),
    )


def analyse_all(rows: Sequence[RunRow], settings: Settings = Settings()) -> list[JobAnalysis]:
    """Every group with model runs (a stub-only group is stored, never judged)."""
    return [
        analyse(runs, settings)
        for _, runs in sorted(groups(rows).items())
        if any(r.evidence for r in runs)
    ]


def findings(analyses: Sequence[JobAnalysis]) -> list[Finding]:
    return [finding for analysis in analyses for finding in analysis.findings()]


def p90_durations(rows: Sequence[RunRow], last: int = 30) -> dict[str, float]:
    """Each job's 90th-percentile duration over its latest ``last`` finished model runs
    (nearest rank, as SGLang's CI stats take p90), for ``matrix``'s partitions."""
    by_job: dict[str, list[float]] = {}
    for row in rows:
        if row.evidence and row.status in SCORED_STATUSES and row.seconds > 0:
            by_job.setdefault(row.job, []).append(row.seconds)
    out = {}
    for job, seconds in by_job.items():
        ordered = sorted(seconds[-last:])
        rank = max(0, -(-9 * len(ordered) // 10) - 1)  # ceil(0.9 n) - 1
        out[job] = round(ordered[rank], 1)
    return out
