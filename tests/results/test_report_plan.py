"""The report knows what should have run (issue 15, item 1): every planned job is shown,
a stage is green only when all of them passed, and the exit code says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sglang_ci.cli import main_exit_code
from sglang_ci.config.model import load_config
from sglang_ci.launch import gpus
from sglang_ci.results.result_file import job_dir_name
from tests.conftest import FIXTURE_TOML, FIXTURES
from tests.plan.test_ci_plan import write_result

# The shape `python -m sglang_ci matrix` prints (a 7-job stage in two partitions).
JOBS = [f"job(model='m{n}')" for n in range(7)]
MATRIX = {"include": [
    {"stage": "extra-a", "partition": "1/2", "sessions": JOBS[:4]},
    {"stage": "extra-a", "partition": "2/2", "sessions": JOBS[4:]},
]}  # fmt: skip


def report(tmp_path: Path, plan: object, capsys: pytest.CaptureFixture[str],
           *extra: str) -> tuple[int, str]:  # fmt: skip
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    code = main_exit_code(["report", str(tmp_path / "results"), "--plan", str(plan_file),
                           *extra])  # fmt: skip
    return code, capsys.readouterr().out


def test_partial_stage_is_not_green(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    write_result(tmp_path / "results", JOBS[0], "extra-a", "passed")
    code, out = report(tmp_path, MATRIX, capsys)
    assert code == 1
    assert "### extra-a: 1/7 passed (3 missing result, 3 never started)" in out
    # Partition 1 left a result, so its other jobs never started; partition 2 left none.
    assert f"- `{JOBS[1]}`: never started (partition 1/2)" in out
    assert f"- `{JOBS[5]}`: missing result (partition 2/2)" in out
    assert f"| `{JOBS[6]}` | **missing result** |" in out
    assert summary.read_text() == out.split("\n\n(no", 1)[0]  # the step summary says the same


def test_green_only_when_every_planned_job_passed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for job in JOBS:
        write_result(tmp_path / "results", job, "extra-a", "passed")
    code, out = report(tmp_path, MATRIX, capsys)
    assert code == 0 and "### extra-a: 7/7 passed, engine sglang" in out
    write_result(tmp_path / "results", "job(model='x')", "extra-a", "skipped", reason="not run")
    code, out = report(
        tmp_path,
        {
            "include": [
                *MATRIX["include"],
                {"stage": "extra-a", "partition": "3/3", "sessions": ["job(model='x')"]},
            ]
        },
        capsys,
    )
    assert code == 1 and "7/8 passed (1 skipped)" in out  # skipped is not passed


def test_plan_from_the_workflow_needs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_result(tmp_path / "results", JOBS[0], "extra-a", "passed")
    needs = {
        "plan": {"result": "success", "outputs": {
            "extra_a": json.dumps({"include": [MATRIX["include"][0]]}),
            "stage_c_dsv4": json.dumps({"include": [
                {"stage": "stage-c-dsv4", "partition": "1/1", "sessions": ["d(model='x')"]}]}),
        }},
        "extra-a": {"result": "failure", "outputs": {}},
        "stage-c-dsv4": {"result": "skipped", "outputs": {}},
    }  # fmt: skip
    code, out = report(tmp_path, needs, capsys)
    assert code == 1 and "### extra-a: 1/4 passed (3 never started)" in out
    assert "stage-c-dsv4:" not in out
    assert "not run by this workflow (gated off): stage-c-dsv4" in out


def test_plan_from_stages_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = load_config(None, {}, FIXTURES)
    planned = [job.id for job in config.stage_jobs("base-b")]
    write_result(tmp_path, planned[0], "base-b", "passed", dirname=job_dir_name(planned[0]))
    code = main_exit_code(["report", str(tmp_path), "--stage", "base-b", "--config",
                           str(FIXTURE_TOML)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    assert f"### base-b: 1/{len(planned)} passed ({len(planned) - 1} never started)" in out


def test_gpu_refusal_leaves_results_the_report_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The one seam: the physical GPU probe reports none.
    monkeypatch.setattr(gpus, "count_gpus", lambda: gpus.GpuCount(0, "no NVIDIA driver"))
    results = tmp_path / "results"
    code = main_exit_code(["run", "--stage", "base-b", "--config", str(FIXTURE_TOML),
                           "--results", str(results)])  # fmt: skip
    assert code == 3
    capsys.readouterr()
    code = main_exit_code(["report", str(results), "--stage", "base-b", "--config",
                           str(FIXTURE_TOML)])  # fmt: skip
    out, err = capsys.readouterr()
    assert code != 2, err
    jobs = len(load_config(None, {}, FIXTURES).stage_jobs("base-b"))
    assert code == 1 and f"0/{jobs} passed ({jobs} error (GPU shortage))" in out


def test_plan_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"include": [{"stage": "s"}]}))
    code = main_exit_code(["report", str(tmp_path), "--plan", str(plan)])
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "without stage, partition and sessions" in line
