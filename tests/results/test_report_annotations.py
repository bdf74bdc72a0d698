"""`report` on GitHub: one `::error` annotation per job that did not pass (title: the
job, message: its one-line reason), and `--json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sglang_ci.cli import main_exit_code
from tests.plan.test_ci_plan import write_result
from tests.results.test_report_plan import JOBS, MATRIX, report


def errors(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("::")]


def test_one_error_annotation_per_failed_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")  # on by itself under GitHub Actions
    write_result(tmp_path / "results", JOBS[0], "extra-a", "passed")
    write_result(tmp_path / "results", JOBS[1], "extra-a", "failed",
                 reason="gsm8k 0.6 < threshold 0.65\nTraceback: more lines, 100%")  # fmt: skip
    code, out = report(tmp_path, MATRIX, capsys)
    assert code == 1
    found = errors(out)
    assert found[0] == (
        "::error title=job(model='m1')::failed: gsm8k 0.6 < threshold 0.65"
    )  # one line: the reason's first, never the traceback
    assert "::error title=job(model='m2')::never started: never started (partition 1/2)" in found
    assert len(found) == 6  # every planned job but the one that passed
    assert all("\n" not in line for line in found)


def test_titles_and_messages_are_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = "spec(model='a', topk=1)"
    write_result(tmp_path / "results", job, "base-b", "error", reason="died: 100% of it, 2:1")
    assert main_exit_code(["report", str(tmp_path / "results"), "--annotations"]) == 1
    (line,) = errors(capsys.readouterr().out)
    # GitHub's workflow-command escaping: ',' and ':' in a property, '%' everywhere.
    assert line == "::error title=spec(model='a'%2C topk=1)::error: died: 100%25 of it, 2:1"


def test_no_annotation_outside_github_unless_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    write_result(tmp_path / "results", JOBS[1], "extra-a", "failed", reason="low")
    _, out = report(tmp_path, MATRIX, capsys)
    assert not errors(out)


def test_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    write_result(tmp_path / "results", JOBS[0], "extra-a", "passed")
    write_result(tmp_path / "results", JOBS[1], "extra-a", "failed", reason="low\nmore")
    durations = tmp_path / "durations.json"
    code, out = report(tmp_path, MATRIX, capsys, "--json", "--durations", str(durations))
    data = json.loads(out)  # stdout is the JSON alone
    assert code == 1 and data["passed"] is False
    assert data["stages"] == {"extra-a": {"passed": 1, "jobs": 7}}
    by_job = {job["job"]: job for job in data["jobs"]}
    assert by_job[JOBS[1]]["outcome"] == "failed" and by_job[JOBS[1]]["reason"] == "low"
    assert by_job[JOBS[0]] == {"job": JOBS[0], "stage": "extra-a", "outcome": "passed",
                               "passed": True, "reason": "", "failure_kind": "",
                               "seconds": by_job[JOBS[0]]["seconds"]}  # fmt: skip
    assert by_job[JOBS[6]]["outcome"] == "missing result"
