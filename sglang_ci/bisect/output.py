"""What a bisect says: a table of its steps, the first bad commit with its evidence, the
GPU time spent; as text, as markdown for GitHub's step summary, and as JSON."""

from __future__ import annotations

from typing import Any

from sglang_ci.bisect.driver import Outcome, Step
from sglang_ci.bisect.probe import Target
from sglang_ci.config.text import markdown_table, render_table
from sglang_ci.engines import registry

HEADER = ("step", "commit", "subject", "runs", "score(s)", "verdict", "p-value")


def gpu_seconds(outcome: Outcome, target: Target) -> float:
    return sum(run.seconds for run in outcome.all_runs()) * target.gpus


def rows(outcome: Outcome) -> list[tuple[str, ...]]:
    named = [("good end", outcome.ends[0]), ("bad end", outcome.ends[1])]
    named += [(str(number), step) for number, step in enumerate(outcome.steps, 1)]
    return [_row(name, step) for name, step in named]


def _row(name: str, step: Step) -> tuple[str, ...]:
    scores = ", ".join(_score(run.score, run.status) for run in step.runs) or "-"
    p = step.judgement.p_value if step.judgement else None
    # The table keeps a skip's kind; its full reason is in the log, the JSON and the state.
    verdict = step.verdict + (f" ({step.note.split(':')[0]})" if step.verdict == "skip" else "")
    return (name, step.commit.short, step.commit.subject[:48], str(len(step.runs)), scores,
            verdict, "-" if p is None else f"{p:.3g}")  # fmt: skip


def _score(score: float | None, status: str) -> str:
    return f"{score:.3f}" if score is not None else status


def headline(outcome: Outcome) -> str:
    if not outcome.regression:
        return "no regression in range: the bad end is not shown worse than the good end"
    found = outcome.found
    if found is not None:
        merge = " (a merge: its branch's commits are the suspects)" if found.merge else ""
        return f"first bad commit: {found.sha} {found.subject}{merge}"
    names = ", ".join(outcome.commits[i].short for i in outcome.suspects)
    return (f"first bad commit is one of {len(outcome.suspects)}: {names} (the others were"
            " skipped or undecided)")  # fmt: skip


def evidence_lines(outcome: Outcome) -> list[str]:
    found = outcome.found
    lines = []
    if outcome.regression and outcome.ends[1].judgement:
        lines.append(f"ends: bad vs good {_describe(outcome.ends[1])}")
    if found is not None:
        step = next((s for s in outcome.steps if s.commit.sha == found.sha), None)
        lines.append(f"{found.short}: {_describe(step) if step else 'the bad end itself'}")
        good = max((s for s in outcome.steps if s.verdict == "good"), key=lambda s: s.index,
                   default=None)  # fmt: skip
        if good is not None:
            lines.append(f"{good.commit.short} (last good probed): {_describe(good)}")
    if outcome.history:
        lines.append(outcome.history)
    return lines


def _describe(step: Step) -> str:
    runs = f"{len(step.runs)} run{'' if len(step.runs) == 1 else 's'}"
    j = step.judgement
    if j is None:
        return runs
    if j.llr == 0.0:  # the ends' test: McNemar's alone
        return f"{j.lost} lost / {j.gained} gained, McNemar's exact p = {j.p_value:.3g}, {runs}"
    return f"{j.describe()}, {runs}"


def text(outcome: Outcome, target: Target) -> str:
    lines = [render_table(HEADER, rows(outcome)), "", headline(outcome),
             *evidence_lines(outcome), footer(outcome, target)]  # fmt: skip
    return "\n".join(lines)


def footer(outcome: Outcome, target: Target) -> str:
    runs = outcome.all_runs()
    rehearsal = registry.engine(target.engine).rehearsal
    stub = f" on the {target.engine} engine (a rehearsal: never evidence)" if rehearsal else ""
    return (f"{len(runs)} runs, {gpu_seconds(outcome, target):.0f} GPU-seconds"
            f" ({target.gpus} GPU{'' if target.gpus == 1 else 's'} per run){stub};"
            " each verdict's error rate"
            f" <= {outcome.error_rate:.2%}")  # fmt: skip


def markdown(outcome: Outcome, target: Target) -> str:
    lines = [f"### Bisect of `{target.job}`", "", f"**{headline(outcome)}**", ""]
    lines += [f"- {line}" for line in evidence_lines(outcome)]
    lines += ["", markdown_table(HEADER, rows(outcome))]
    return "\n".join([*lines, "", footer(outcome, target), ""])


def as_json(outcome: Outcome, target: Target) -> dict[str, Any]:
    found = outcome.found

    def step(s: Step) -> dict[str, Any]:
        j = s.judgement
        return {"commit": s.commit.sha, "subject": s.commit.subject, "verdict": s.verdict,
                "note": s.note, "runs": len(s.runs),
                "scores": [r.score for r in s.runs], "statuses": [r.status for r in s.runs],
                "versions": sorted({r.version or "" for r in s.runs}),
                "p_value": j.p_value if j else None, "llr": j.llr if j else None}  # fmt: skip

    return {
        "job": target.job,
        "engine": target.engine,
        "regression": outcome.regression,
        "first_bad": found.sha if found else None,
        "suspects": [outcome.commits[i].sha for i in outcome.suspects],
        "headline": headline(outcome),
        "ends": [step(s) for s in outcome.ends],
        "steps": [step(s) for s in outcome.steps],
        "runs": len(outcome.all_runs()),
        "gpu_seconds": gpu_seconds(outcome, target),
        "error_rate_per_verdict": outcome.error_rate,
        "history": outcome.history,
    }
