"""The first bad commit's score against the job's history, when a store exists: how
many healthy runs (a model's, never the stub's, that passed) scored that low or lower.
Evidence beside the paired test, never the verdict: history may hold other GPUs' runs."""

from __future__ import annotations

import statistics
from pathlib import Path

from sglang_ci.bisect.driver import Outcome
from sglang_ci.history.noise import share_at_or_below
from sglang_ci.history.store import open_store


def history_line(store_file: Path, job: str, outcome: Outcome) -> str | None:
    found = outcome.found
    if found is None or not store_file.is_file():
        return None
    runs = next((s.runs for s in outcome.steps if s.commit.sha == found.sha),
                outcome.ends[1].runs)  # fmt: skip
    scores = [r.score for r in runs if r.score is not None]
    if not scores:
        return None
    store = open_store(store_file, create=False)
    try:
        healthy = [r for r in store.runs(job) if r.evidence and r.passed]
    finally:
        store.close()
    if not healthy:
        return None
    score = statistics.fmean(scores)
    low, total = share_at_or_below(healthy, score)
    return (f"history: {low} of {total} healthy runs of {job} in {store_file} scored"
            f" {score:.3f} (the first bad commit's mean) or lower")  # fmt: skip
