"""Noise-aware evidence for a failed job in the report: how likely its score is for a
healthy build, and the paired comparison with the last passing run on the same questions.

The verdict stays SGLang's (pass/fail by the threshold); these lines are added beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sglang_ci.history.drift import find_shift, healthy
from sglang_ci.history.ingest import RECORD_FILES, read_answers, row_of
from sglang_ci.history.paired import compare
from sglang_ci.history.rows import RunRow
from sglang_ci.history.store import HistoryStore
from sglang_ci.results.result_file import JobResult

WINDOW = 40  # the latest healthy runs a score is judged against
FLAKY_BELOW = 0.01  # a score this common among healthy runs is noise, not a regression


def likelihood_line(score: float, history: Sequence[RunRow]) -> str | None:
    """``likely flaky: 8% of the last 40 runs scored this low`` or ``likely regression``."""
    rows = healthy(history, find_shift(history))[-WINDOW:]
    scores = [r.score for r in rows if r.score is not None]
    if len(scores) < 5:
        return None
    low = sum(s <= score for s in scores)
    share = low / len(scores)
    verdict = "likely flaky" if share > FLAKY_BELOW else "likely regression"
    return (
        f"{verdict}: {share:.0%} of the last {len(scores)} healthy runs scored this low"
        f" ({low} at or below {score:g})"
    )


def evidence_lines(result: JobResult, folder: Path, store: HistoryStore) -> list[str]:
    """The evidence for one failed, scored job: empty when history has nothing to say (a
    stub run is never judged, and never judges)."""
    current = row_of(result)
    if current.rehearsal or result.score is None:
        return []
    history = [
        r
        for r in store.runs(result.job)
        if r.evidence
        and r.uid != current.uid
        and r.group == current.group
        and r.started_at < current.started_at
    ]
    lines = []
    line = likelihood_line(result.score, history)
    if line:
        lines.append(line)
    reference = next((r for r in reversed(history) if r.passed), None)
    if reference is not None:
        earlier = {a.eval: a.correct for a in store.answers(reference.uid)}
        for name in RECORD_FILES:
            path = folder / f"{name}.jsonl"
            if name in earlier and path.is_file():
                paired = compare(earlier[name], read_answers(path, name).correct)
                lines.append(
                    f"{name} vs the last passing run ({reference.run_id},"
                    f" SGLang {reference.commit}): {paired.describe()}"
                )
    return lines
