"""Human summaries of job results: the GitHub step summary and the stage table."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sglang_ci.results.result_file import JobResult

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def append_step_summary(result: JobResult, env: Mapping[str, str]) -> None:
    """With GITHUB_STEP_SUMMARY set, a markdown table with one row per check."""
    path = env.get(STEP_SUMMARY_ENV)
    if not path:
        return
    lines = [f"\n#### {result.job}: {result.status}\n", "| check | value | threshold | result |",
             "|---|---|---|---|"]  # fmt: skip
    for check in result.checks:
        verdict = "pass" if check["passed"] else "**FAIL**"
        lines.append(f"| {check['check']} | {_value(check['value'])} |"
                     f" {_value(check['threshold'])} | {verdict} |")  # fmt: skip
    evidence = result.threshold_evidence
    if evidence:
        margin = evidence.get("margin")
        lines.append(
            f"\nthreshold: {evidence.get('rule') or 'pinned'}, {evidence.get('observations', 0)}"
            " observations" + (f", lowest {evidence['lowest']:g} (margin {margin:+.3f})"
                               if isinstance(margin, float) else "")
        )  # fmt: skip
    if result.reason:
        lines.append(f"\n{result.reason.splitlines()[0]}")
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def stage_table(results: Sequence[Mapping[str, Any]]) -> str:
    """One row per job: status, score vs threshold, accept length, occupancy, duration."""
    rows = [("JOB", "STATUS", "SCORE", "THRESHOLD", "ACCEPT", "OCCUPANCY", "SECONDS")]
    for result in results:
        seconds = sum(result.get("phases", {}).values())
        rows.append((
            result["job"], result["status"], _value(result.get("score")),
            _value(result.get("threshold")), _value(result.get("accept_length")),
            _value(result.get("occupancy")), f"{seconds:.1f}",
        ))  # fmt: skip
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def read_results(paths: Sequence[Path]) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in paths if path.is_file()]
