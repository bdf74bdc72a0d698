"""``report``: the results of a CI run (downloaded artifacts) as one summary per stage.

Reads every result.json under a folder, writes a markdown table per stage, exits
non-zero when any job did not pass, and folds the measured durations into the file
that partitioning reads next time.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sglang_ci.config.errors import UsageError
from sglang_ci.config.text import Cell, markdown_table, number
from sglang_ci.engines.registry import is_rehearsal
from sglang_ci.outcome.kinds import FailureKind
from sglang_ci.outcome.verdict import Status
from sglang_ci.results.consistency import contradictions
from sglang_ci.results.job_folder import is_earlier_run
from sglang_ci.results.planned import Plan
from sglang_ci.results.provenance import render_provenance
from sglang_ci.results.result_file import JobResult


def collect(folder: Path) -> list[JobResult]:
    """Every job's final result.json (earlier attempts, kept as <job>-attempt-N, skipped)."""
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder of job results")
    results = []
    for path in sorted(folder.rglob("result.json")):
        if is_earlier_run(path, folder):
            continue
        try:
            results.append(JobResult.load(path))
        except (OSError, ValueError, TypeError) as error:  # OSError: a folder named so
            raise UsageError(f"{path}: not a result.json ({error})") from None
    return results


_HEADER = ("session", "status", "score / threshold", "accept length", "duration", "attempts")
NEVER_STARTED, MISSING = "never started", "missing result"
CONTRADICTED = "contradicts its checks"


@dataclass(frozen=True)
class Row:
    """One job of the report: planned, found, or both."""

    job: str
    stage: str
    outcome: str  # a Status value, "error (GPU shortage)", "never started", "missing result"
    result: JobResult | None = None
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.outcome == Status.PASSED.value


def outcome_of(result: JobResult) -> str:
    if contradictions(result):  # edited by hand, or written by a broken runner
        return CONTRADICTED
    if result.failure_kind is FailureKind.GPU_SHORTAGE:
        return f"{result.status} (GPU shortage)"  # README's status and kind, as written
    if result.status is Status.RUNNING:  # the runner never wrote a verdict
        return "no verdict (running)"
    return str(result.status)


def contradicted_note(result: JobResult) -> str:
    found = contradictions(result)
    return f"result.json says passed, but: {'; '.join(found)}" if found else ""


def swept_note(result: JobResult) -> str:
    """What the sweep after a registered file ended: its verdict stays SGLang's (the exit
    code), but what it left behind is said."""
    ended = [*result.sweep.get("left_behind", []), *result.sweep.get("adopted", [])]
    if not ended:
        return ""
    shown = ", ".join(str(process) for process in ended[:3]) + (", ..." if len(ended) > 3 else "")
    return f"the sweep after it ended {len(ended)} process(es) it left: {shown}"


def rows_of(results: Sequence[JobResult], plan: Plan | None) -> list[Row]:
    """Every planned job (and every result); a planned job without a result is "never
    started" when its partition left other results (it stopped before it), else "missing
    result" (nothing of that partition came back)."""
    found = {r.job: r for r in results}
    rows = [Row(r.job, r.stage, outcome_of(r), r, contradicted_note(r) or swept_note(r))
            for r in results]  # fmt: skip
    if plan is None:
        return rows
    planned = {p.job for p in plan.jobs}
    rows = [row if row.job in planned else replace(row, note="not in the plan") for row in rows]
    ran = {(p.stage, p.partition) for p in plan.jobs if p.job in found}
    blocked = dict(plan.blocked)
    for p in plan.jobs:
        if p.job not in found:
            where = f" (partition {p.partition})" if p.partition else ""
            outcome = NEVER_STARTED if (p.stage, p.partition) in ran else MISSING
            if p.stage in blocked:  # GitHub skipped the stage: a failure, not gating
                outcome = f"not run ({blocked[p.stage]})"
            rows.append(Row(p.job, p.stage, outcome, note=f"{outcome}{where}"))
    return rows


# History's evidence for a failed job (lines added under its reason, never a verdict).
Evidence = Callable[[JobResult], list[str]]


def render(
    results: Sequence[JobResult], plan: Plan | None = None, evidence: Evidence | None = None,
    quarantined: Mapping[str, str] | None = None,
) -> str:  # fmt: skip
    """``quarantined``: job -> why (reason, link, expiry); such a job is marked, its
    failure does not fail the stage."""
    by_stage: dict[str, list[Row]] = {}
    for row in rows_of(results, plan):
        by_stage.setdefault(row.stage, []).append(row)
    blocks = [_stage_block(stage, rows, evidence, quarantined or {})
              for stage, rows in sorted(by_stage.items())]  # fmt: skip
    if plan is not None and plan.gated_off:
        blocks.append(f"not run by this workflow (gated off): {', '.join(plan.gated_off)}")
    for stage, cause in plan.blocked if plan is not None else ():
        blocks.append(f"not run: {stage} was skipped because {cause} (not gating)")
    if plan is None and blocks:
        blocks.append("(no --plan: only jobs that left a result are shown)")
    return "\n\n".join(blocks) if blocks else "no job results found"


def _stage_block(
    stage: str, rows: list[Row], evidence: Evidence | None, quarantined: Mapping[str, str]
) -> str:
    passed = sum(row.passed for row in rows)
    ordered = sorted(rows, key=lambda row: row.job)
    engines = sorted({row.result.engine for row in rows if row.result})
    # One engine: named in the heading; several: a column, so no row passes for another.
    mixed = len(engines) > 1
    header = ("engine", *_HEADER) if mixed else _HEADER
    table = [((row.result.engine if row.result else "", *_row(row, quarantined)) if mixed
              else _row(row, quarantined)) for row in ordered]  # fmt: skip
    counts = Counter(row.outcome for row in rows if not row.passed)
    suites = sorted({row.result.sglang_suite for row in rows
                     if row.result and row.result.sglang_suite})  # fmt: skip
    named = f" (SGLang: {', '.join(suites)})" if suites and suites != [stage] else ""
    heading = f"### {stage}{named}: {passed}/{len(rows)} passed"
    if counts:
        heading += " (" + ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) + ")"
    if mixed:
        heading += ", engines mixed"
    elif engines:
        heading += f", engine {engines[0]}"
    lines = [heading, "", markdown_table(header, table)]
    found = [row.result for row in rows if row.result]
    ran_with = render_provenance([r.provenance for r in found], [r.started_at for r in found],
                                 [r.finished_at for r in found if r.finished_at])  # fmt: skip
    if ran_with:
        lines += ["", ran_with]
    for row in ordered:
        if not row.passed:
            reason = (
                row.result.reason.splitlines()[0][:300] if row.result and row.result.reason else ""
            )
            text = "; ".join(part for part in (reason, row.note) if part) or row.outcome
            if row.job in quarantined:
                text = f"quarantined, does not fail the stage ({quarantined[row.job]}): {text}"
            lines.append(f"\n- `{row.job}`: {text}")
            if evidence and row.result and row.result.failure_kind is FailureKind.BELOW_THRESHOLD:
                lines += [f"  - {line}" for line in evidence(row.result)]
        elif row.note:
            lines.append(f"\n- `{row.job}`: {row.note}")
    return "\n".join(lines)


def _row(row: Row, quarantined: Mapping[str, str]) -> tuple[Cell, ...]:
    status = row.outcome if row.passed else f"**{row.outcome}**"
    if row.job in quarantined:
        status += " (quarantined)"
    result = row.result
    if result is None:
        return (f"`{row.job}`", status, "", None, "", "")
    score = ""
    if result.score is not None:
        score = f"{number(result.score)} / {result.pass_when}"
    return (
        f"`{result.job}`",
        status,
        score,
        result.accept_length,
        f"{number(result.seconds)} s",
        # A job never started (skipped, refused) had no attempt.
        len(result.attempts) if result.status is Status.SKIPPED else max(1, len(result.attempts)),
    )


def update_durations(path: Path, results: Sequence[JobResult]) -> int:
    """Merge the durations of jobs that ran to a verdict; returns how many were written."""
    current: dict[str, float] = {}
    if path.is_file():
        from sglang_ci.plan.partition import read_durations  # the same format checks

        current = read_durations(path)
    # Stub runs never: a stub job takes seconds, and would tell partitioning a 300 s stage
    # takes 2 s.
    finished = [r for r in results if r.status in (Status.PASSED, Status.FAILED)
                and not is_rehearsal(r.engine)]  # fmt: skip
    for result in finished:
        current[result.job] = round(result.seconds, 1)
    path.write_text(json.dumps(dict(sorted(current.items())), indent=2) + "\n")
    return len(finished)


def timelines(results_dir: Path) -> str:
    """The packed runs' timelines (results.timeline) found in the artifacts, after the tables."""
    found = sorted(results_dir.rglob("packed-*/timeline.md"))
    return "".join("\n\n" + path.read_text(encoding="utf-8").rstrip() for path in found)


def report_command(
    results_dir: Path,
    durations: str | None,
    output: str | None,
    env: Mapping[str, str],
    plan: Plan | None = None,
    evidence: Evidence | None = None,
    quarantined: Mapping[str, str] | None = None,
    *,
    annotate: bool = False,
    json_out: bool = False,
) -> int:
    """`report`: print the merged tables, append them to the step summary (and --output),
    update the durations file; exit 0 only when every planned job (without a plan: every
    result found) passed or is quarantined."""
    targets = [(what, target) for what, target in
               (("--output", output), ("GITHUB_STEP_SUMMARY", env.get("GITHUB_STEP_SUMMARY")))
               if target]  # fmt: skip
    for what, target in targets:  # checked before anything is read or written
        if Path(target).is_dir():
            raise UsageError(f"{what} {target}: a folder; name a file to append the tables to")
    results = collect(results_dir)
    quarantined = quarantined or {}
    text = render(results, plan, evidence, quarantined) + timelines(results_dir)
    if not json_out:  # with --json, stdout is the JSON alone (printed last)
        print(text)
    for what, target in targets:
        try:
            with open(target, "a", encoding="utf-8") as handle:
                handle.write(text + "\n")
        except OSError as error:
            raise UsageError(f"{what} {target}: {error.strerror}; the tables are printed"
                             " above") from None  # fmt: skip
    if durations:
        written = update_durations(Path(durations), results)
        stub = sum(is_rehearsal(r.engine) for r in results)
        print(
            f"\n{written} durations written to {durations}"
            + (f" ({stub} stub-engine results left out: never evidence)" if stub else ""),
            file=sys.stderr if json_out else sys.stdout,
        )
    rows = [row for row in rows_of(results, plan) if plan is None or row.note != "not in the plan"]
    if annotate or json_out:
        from sglang_ci.results.annotations import as_json, error_annotations

        for line in error_annotations(rows) if annotate else ():
            print(line)
        if json_out:
            print(json.dumps(as_json(rows, plan), indent=2))
    blocked = plan is not None and bool(plan.blocked)  # stages a failure kept from running
    good = all(row.passed or row.job in quarantined for row in rows)
    return 0 if rows and good and not blocked else 1
