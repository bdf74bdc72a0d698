"""``calibrate``: run a scored job's eval N times and turn the runs into evidence.

Seeds 001 and 003 did this by hand in PR bodies: run the test 20 times, look at the
spread, check whether answers repeat question by question, set the threshold from the
minimum minus a margin. Here it is one command: the runs (launched by
``run.calibrate_runner`` through the same launch lifecycle as every job), a table with
the statistics, the determinism verdict with the flipped questions, a PNG of the runs
against the thresholds, and the entries ``--write`` records in baselines.toml.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sglang_ci.calibration.flips import flips, identical, load_records, render
from sglang_ci.config.baselines import DEFAULT_K, DEFAULT_MARGIN, DEFAULT_RULE, Rule
from sglang_ci.config.errors import UsageError
from sglang_ci.config.schema import Job
from sglang_ci.config.server_args import lookup
from sglang_ci.config.stats import Spread, binomial_se, recommended_threshold, wilson_interval
from sglang_ci.engines import registry
from sglang_ci.launch import gpu_memory
from sglang_ci.outcome.errors import FatalError


@dataclass(frozen=True)
class CalibrationRun:
    number: int
    score: float
    examples: int
    records: Path


@dataclass(frozen=True)
class Calibration:
    job: Job
    eval_name: str
    runs: list[CalibrationRun]
    engine: str
    engine_version: str
    gpu: str
    relaunch: bool

    @property
    def scores(self) -> list[float]:
        return [run.score for run in self.runs]


def gpu_name(engine: str, job: Job, env: Mapping[str, str]) -> str:
    """What ran the calibration, for its baseline entries."""
    if not registry.engine(engine).uses_gpus:
        return f"none ({engine} engine)"
    with gpu_memory.nvml() as lib:
        if lib is None:
            return "unknown"
        gpus = gpu_memory.physical_gpus(range(job.gpus), env)
        handle = lib.nvmlDeviceGetHandleByIndex(int(gpus[0])) if gpus[0].isdigit() else (
            lib.nvmlDeviceGetHandleByUUID(gpus[0]))  # fmt: skip
        name = lib.nvmlDeviceGetName(handle)
        return f"{len(gpus)}x {name.decode() if isinstance(name, bytes) else name}"


def rule_of(job: Job) -> Rule:
    return job.baseline.rule if job.baseline else Rule(DEFAULT_RULE, DEFAULT_MARGIN, DEFAULT_K)


def report(calibration: Calibration) -> str:
    job, scores = calibration.job, calibration.scores
    spread = Spread.of(scores)
    examples = calibration.runs[0].examples
    low, high = wilson_interval(spread.mean, examples)
    rule = rule_of(job)
    recommended = recommended_threshold(scores, rule.name, rule.margin, rule.k)
    current = job.threshold(calibration.eval_name)
    evidence = job.evidence()
    runs = [load_records(run.records) for run in calibration.runs]
    how = "a relaunch per run" if calibration.relaunch else "one launch, cache flushed between runs"
    lines = [
        f"calibrate {job.id}: {len(scores)} runs of {calibration.eval_name} ({examples} examples)"
        f" on {calibration.engine}, {how}",
        f"  scores       {' '.join(f'{s:.4f}' for s in scores)}",
        f"  mean         {spread.mean:.4f}",
        f"  std          {spread.std:.4f}",
        f"  min / max    {spread.minimum:.4f} / {spread.maximum:.4f}",
        f"  distinct     {spread.distinct}",
        f"  binomial SE  {binomial_se(spread.mean, examples):.4f}  (of the mean, n = {examples})",
        f"  Wilson 95%   [{low:.4f}, {high:.4f}]",
    ]
    if len(runs) > 1 and identical(runs):
        lines.append(f"  verdict      deterministic: all {len(runs)} runs identical question by"
                     " question")  # fmt: skip
    elif len(runs) > 1:
        found = flips(runs)
        lines.append(f"  verdict      nondeterministic: answers differ between runs;"
                     f" {len(found)} questions flipped correctness")  # fmt: skip
        lines += ["  " + line for line in render([r.records for r in calibration.runs], found,
                                                 len(runs[0]), limit=20).splitlines()]  # fmt: skip
    else:
        lines.append("  verdict      one run: determinism needs two or more")
    origin = evidence.get("rule") or "none"
    lines.append(f"  threshold    current {current if current is not None else 'none'} ({origin},"
                 f" {evidence.get('observations', 0)} recorded runs)")  # fmt: skip
    lines.append(f"  recommended  {recommended:g}  ({rule.describe()} over these {len(scores)}"
                 " runs)")  # fmt: skip
    return "\n".join(lines)


def draw(calibration: Calibration, path: Path) -> Path | None:
    """Score per run against the current and the recommended threshold (matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display on CI runners
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return None
    job, scores = calibration.job, calibration.scores
    rule = rule_of(job)
    figure, axes = plt.subplots(figsize=(7, 3.5))
    numbers = [run.number for run in calibration.runs]
    axes.plot(numbers, scores, "o-", label=f"{calibration.eval_name} per run")
    current = job.threshold(calibration.eval_name)
    if current is not None:
        axes.axhline(current, color="tab:red", linestyle="--", label=f"current {current:g}")
    recommended = recommended_threshold(scores, rule.name, rule.margin, rule.k)
    axes.axhline(recommended, color="tab:green", linestyle=":",
                 label=f"recommended {recommended:g} ({rule.describe()})")  # fmt: skip
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("run")
    axes.set_ylabel("score")
    axes.set_title(f"{job.id} on {calibration.engine}", fontsize=9)
    axes.legend(fontsize=8, loc="best")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def baseline_entries(calibration: Calibration) -> list[dict[str, Any]]:
    """Runs for baselines.toml; runs with the same score become one entry with repeat."""
    server = calibration.job.deployment.servers[0]
    deterministic = lookup(server.args, "enable-deterministic-inference") is True
    today = datetime.date.today()
    counts = Counter(calibration.scores)
    examples = calibration.runs[0].examples
    return [
        {
            "score": score, "repeat": count if count > 1 else None, "examples": examples,
            "engine": calibration.engine_version or calibration.engine, "gpu": calibration.gpu,
            "deterministic": deterministic, "date": today,
            "source": f"calibrate: {count} of {len(calibration.runs)} runs",
        }
        for score, count in sorted(counts.items())
    ]  # fmt: skip


def require_runs(runs: int) -> None:
    if runs < 1:
        raise UsageError(f"--runs must be 1 or more, got {runs}")


def check_scores(scores: Sequence[float]) -> None:
    if not scores:
        raise FatalError("calibration ended without a completed run")
