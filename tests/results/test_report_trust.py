"""Issue 20, items 12, 15 (report) and 16: the report tells a skip after a failure from
gating, does not believe a result.json that contradicts itself, and turns a damaged
result.json or a bad --output into one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sglang_ci.cli import main_exit_code
from tests.plan.test_ci_plan import write_result

BASE_A, BASE_B = "spec(model='a', topk=1)", "spec(model='b', topk=1)"


def needs(base_a: str, base_b: str) -> dict[str, object]:
    """toJSON(needs) of the report job (its matrices; item 1 covers the plan's other
    outputs): base-b waits for base-a in stages.toml (after = ["base-a"]);
    extra-a-test-1-gpu-large has a label gate."""

    def matrix(stage: str, job: str) -> str:
        return json.dumps({"include": [{"stage": stage, "partition": "1/1", "sessions": [job]}]})

    return {
        "plan": {"result": "success", "outputs": {
            "base_a": matrix("base-a", BASE_A), "base_b": matrix("base-b", BASE_B),
        }},
        "base-a": {"result": base_a, "outputs": {}},
        "base-b": {"result": base_b, "outputs": {}},
        "extra-a-test-1-gpu-large": {"result": "skipped", "outputs": {}},
    }  # fmt: skip


def report(tmp_path: Path, plan: object, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    code = main_exit_code(["report", str(tmp_path / "results"), "--plan",
                           str(tmp_path / "plan.json")])  # fmt: skip
    return code, capsys.readouterr().out


def test_a_stage_skipped_after_a_failure_is_not_gated_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_result(tmp_path / "results", BASE_A, "base-a", "failed", score=0.1, threshold=0.6,
                 exit_code=1, failure_kind="below threshold")  # fmt: skip
    code, out = report(tmp_path, needs("failure", "skipped"), capsys)
    assert code == 1, out
    assert "not run: base-b was skipped because base-a failure (not gating)" in out
    assert f"| `{BASE_B}` | **not run (base-a failure)** |" in out
    # The label-gated stage beside them is still gating, and says so.
    assert "(gated off): extra-a-test-1-gpu-large" in out
    assert "gated off): base-b" not in out and "base-b, " not in out.split("gated off")[-1]


def test_every_planned_job_passed_and_only_gating_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_result(tmp_path / "results", BASE_A, "base-a", "passed", exit_code=0)
    write_result(tmp_path / "results", BASE_B, "base-b", "passed", exit_code=0)
    code, out = report(tmp_path, needs("success", "success"), capsys)
    assert code == 0, out
    assert "not run by this workflow (gated off): extra-a-test-1-gpu-large" in out


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        ({"exit_code": 1}, "exit code 1"),
        ({"failure_kind": "below threshold"}, "failure kind 'below threshold'"),
        ({"score": 0.5, "threshold": 0.9, "comparator": ">="}, "score 0.5 misses >= 0.9"),
        ({"checks": [{"check": "gsm8k", "value": 0.5, "comparator": ">=", "threshold": 0.9,
                      "passed": True}]}, "check gsm8k did not pass"),
        ({"checks": [{"check": "server-settings", "value": "tp-size 1, not 2",
                      "threshold": None, "passed": False}]}, "check server-settings"),
    ],
)  # fmt: skip
def test_a_result_edited_to_passed_is_not_green(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: dict[str, Any], why: str
) -> None:
    write_result(tmp_path / "results", BASE_A, "base-a", "passed", **edit)
    code = main_exit_code(["report", str(tmp_path / "results")])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "### base-a: 0/1 passed (1 contradicts its checks)" in out
    assert f"result.json says passed, but: {why}" in out


def test_a_consistent_pass_stays_green(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_result(tmp_path / "results", BASE_A, "base-a", "passed", exit_code=0, score=0.9,
                 threshold=0.9, comparator=">=", checks=[{"check": "gsm8k", "value": 0.9,
                 "comparator": ">=", "threshold": 0.9, "passed": True}])  # fmt: skip
    assert main_exit_code(["report", str(tmp_path / "results")]) == 0
    assert "1/1 passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("edit", "field"),
    [({"phases": "fast"}, "phases"), ({"gpus": "one"}, "gpus"), ({"score": "0.9"}, "score"),
     ({"checks": {"gsm8k": 1}}, "checks"), ({"attempts": 3}, "attempts"),
     ({"phases": {"eval": "50"}}, "phases"), ({"exit_code": True}, "exit_code")],
)  # fmt: skip
def test_a_result_with_wrong_field_types_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: dict[str, Any], field: str
) -> None:
    write_result(tmp_path / "results", BASE_A, "base-a", "passed", **edit)
    code = main_exit_code(["report", str(tmp_path / "results")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "not a result.json" in err[0] and f"'{field}'" in err[0]


def test_a_folder_named_result_json_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "results" / "job" / "result.json").mkdir(parents=True)
    code = main_exit_code(["report", str(tmp_path / "results")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "not a result.json" in err[0], err


@pytest.mark.parametrize("target", ["--output", "GITHUB_STEP_SUMMARY"])
def test_report_output_that_is_a_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    target: str,
) -> None:  # fmt: skip
    write_result(tmp_path / "results", BASE_A, "base-a", "passed")
    folder = tmp_path / "out"
    folder.mkdir()
    extra = ["--output", str(folder)] if target == "--output" else []
    if target == "GITHUB_STEP_SUMMARY":
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(folder))
    code = main_exit_code(["report", str(tmp_path / "results"), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"{target} {folder}: a folder" in err[0], err
    assert list(folder.iterdir()) == []
