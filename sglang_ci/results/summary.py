"""Human summaries of job results: the GitHub step summary and the stage table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sglang_ci.config.text import markdown_table, number, render_table
from sglang_ci.results.result_file import JobResult, pass_when

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def append_step_summary(result: JobResult, env: Mapping[str, str]) -> None:
    """With GITHUB_STEP_SUMMARY set, a markdown table with one row per check."""
    path = env.get(STEP_SUMMARY_ENV)
    if not path:
        return
    rows = [
        (check["check"], check["value"], pass_when(check.get("comparator"), check["threshold"]),
         "pass" if check["passed"] else "**FAIL**")
        for check in result.checks
    ]  # fmt: skip
    lines = [f"\n#### {result.job}: {result.status}\n",
             markdown_table(("check", "value", "threshold", "result"), rows)]  # fmt: skip
    evidence = result.threshold_evidence
    if evidence:
        margin = evidence.get("margin")
        lines.append(
            f"\nthreshold: {evidence.get('rule') or 'pinned'}, {evidence.get('observations', 0)}"
            " observations" + (f", lowest {number(evidence['lowest'])} (margin {margin:+.3f})"
                               if isinstance(margin, float) else "")
        )  # fmt: skip
    if result.reason:
        lines.append(f"\n{result.reason.splitlines()[0]}")
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def stage_table(results: Sequence[JobResult]) -> str:
    """One row per job: status, score and what it must pass, accept length, occupancy, time."""
    header = ("JOB", "STATUS", "SCORE", "THRESHOLD", "ACCEPT", "OCCUPANCY", "SECONDS")
    rows = [
        (result.job, str(result.status), result.score, result.pass_when, result.accept_length,
         result.occupancy, result.seconds)
        for result in results
    ]  # fmt: skip
    return render_table(header, rows)
