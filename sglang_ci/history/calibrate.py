"""``history check --write``: the healthy runs behind each threshold inside the noise,
recorded in baselines.toml as calibrate --write records its runs, so the threshold
derived from them (the job's rule) replaces the one inside the noise. Stub runs never
reach this: the analyses see evidence runs only."""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from sglang_ci.config.baselines import BASELINES_FILE, append_runs
from sglang_ci.config.model import load_config
from sglang_ci.history.analysis import JobAnalysis


def write_baselines(
    analyses: Sequence[JobAnalysis], config_path: str | None, env: Mapping[str, str]
) -> list[str]:
    """One line per job written or left alone."""
    config = load_config(config_path, env, Path.cwd(), lenient_scores=True)
    target = config.source.parent / BASELINES_FILE
    lines = []
    for analysis in analyses:
        noise = analysis.noise
        if noise is None or not noise.inside:
            continue
        if analysis.job not in config.jobs:
            lines.append(f"{analysis.job}: not a job of {config.source.name}; not written")
            continue
        today = datetime.date.today()
        runs = [
            {
                "score": score,
                "repeat": repeat if repeat > 1 else None,
                "engine": "sglang",
                "gpu": analysis.gpu,
                "date": today,
                "source": f"history: {noise.runs} healthy runs on SGLang {analysis.line}",
            }
            for score, repeat in sorted(Counter(noise.scores).items())
        ]
        append_runs(target, analysis.job, runs)
        lines.append(
            f"{analysis.job}: {len(noise.scores)} runs written to {target}"
            f" (recommended threshold {noise.recommended:.3f})"
        )
    return lines
