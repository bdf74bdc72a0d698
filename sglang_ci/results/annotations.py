"""What a GitHub run shows of a report: one ``::error`` annotation per job that did not
pass (title: the job, message: its one-line reason), and the report as JSON.

Workflow-command escaping is GitHub's (actions/toolkit ``command.ts``): ``%``, CR and LF
in the message; also ``:`` and ``,`` in a property such as the title.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sglang_ci.results.planned import Plan


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def reason_of(row: Any) -> str:
    """The one line that says why a job did not pass."""
    result = row.result
    reason = result.reason.strip().splitlines()[0][:300] if result and result.reason else ""
    return "; ".join(part for part in (reason, row.note) if part) or row.outcome


def error_annotations(rows: Sequence[Any]) -> list[str]:
    return [f"::error title={_property(row.job)}::{_data(f'{row.outcome}: {reason_of(row)}')}"
            for row in rows if not row.passed]  # fmt: skip


def as_json(rows: Sequence[Any], plan: Plan | None) -> dict[str, Any]:
    stages: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = stages.setdefault(row.stage, {"passed": 0, "jobs": 0})
        counts["jobs"] += 1
        counts["passed"] += row.passed
    jobs = [{"job": row.job, "stage": row.stage, "outcome": row.outcome, "passed": row.passed,
             "reason": "" if row.passed else reason_of(row),
             "failure_kind": str(row.result.failure_kind or "") if row.result else "",
             "seconds": row.result.seconds if row.result else None}
            for row in sorted(rows, key=lambda row: (row.stage, row.job))]  # fmt: skip
    return {"passed": bool(rows) and all(row.passed for row in rows), "stages": stages,
            "jobs": jobs, "gated_off": list(plan.gated_off) if plan else []}  # fmt: skip
