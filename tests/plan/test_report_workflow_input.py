"""The report job's exact input (issue 20, item 1): `toJSON(needs)` as the GPU workflow
builds it, its plan job's outputs evaluated from the workflow file over what the plan
steps really print (`changes` prints `gpu=true`, `matrix --github-output` the stages).
Outputs that are not matrices are not plans.

The workflow here is the one the fixture config generates; the committed workflow over
the shipped stages.toml is tests/test_shipped_stages.py's.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sglang_ci.cli import main_exit_code
from sglang_ci.config.model import load_config
from sglang_ci.config.schema import Config
from sglang_ci.plan.workflow_file import render_workflow
from tests.conftest import FIXTURE_TOML, FIXTURES
from tests.gh_expressions import Evaluator
from tests.plan.test_ci_plan import write_result


@functools.cache
def fixture_config() -> Config:
    return load_config(None, {}, FIXTURES)


@functools.cache
def fixture_workflow() -> dict[str, Any]:
    """The GPU workflow `python -m sglang_ci workflow` writes for the fixture config."""
    loaded: dict[str, Any] = yaml.safe_load(render_workflow(fixture_config()))
    return loaded


def step_outputs(lines: str) -> dict[str, str]:
    """What `>> "$GITHUB_OUTPUT"` makes of `name=value` lines."""
    return dict(line.split("=", 1) for line in lines.splitlines() if "=" in line)


def workflow_needs(
    capsys: pytest.CaptureFixture[str], result: str, workflow: dict[str, Any], config: Path
) -> dict[str, Any]:
    """``toJSON(needs)`` of the report job of ``workflow``: the plan job's outputs as the
    workflow maps them from its steps (`matrix` over ``config``), and every other needed
    job's result (a reusable-workflow job declares no outputs)."""
    assert main_exit_code(["matrix", "--github-output", "--config", str(config)]) == 0
    steps = {"plan": {"outputs": step_outputs(capsys.readouterr().out)},
             "changes": {"outputs": step_outputs("gpu=true\n")}}  # fmt: skip
    # The gate job's labels output is a JSON list: a plan output that is no matrix.
    evaluator = Evaluator(
        {"steps": steps, "needs": {"gate": {"outputs": {"labels": '["run-ci"]'}}}}
    )
    plan_outputs = {
        name: evaluator.evaluate(text.strip().removeprefix("${{").removesuffix("}}"))
        for name, text in workflow["jobs"]["plan"]["outputs"].items()
    }
    assert plan_outputs["gpu"] == "true"  # the output that broke the report
    needs: dict[str, Any] = {"plan": {"result": "success", "outputs": plan_outputs}}
    for name in workflow["jobs"]["report"]["needs"]:
        needs.setdefault(name, {"result": result, "outputs": {}})
    return needs


def report(tmp_path: Path, needs: dict[str, Any]) -> int:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(needs))  # printf '%s' "$NEEDS" > plan.json
    return main_exit_code(["report", str(tmp_path / "results"), "--plan", str(plan)])


def test_the_report_job_passes_when_every_job_passed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = fixture_config()
    needs = workflow_needs(capsys, "success", fixture_workflow(), FIXTURE_TOML)
    for stage in config.stages:
        for job in config.stage_jobs(stage):
            write_result(tmp_path / "results", job.id, stage, "passed")
    code = report(tmp_path, needs)
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    for stage in config.stages:
        jobs = len(config.stage_jobs(stage))
        assert f"### {stage}: {jobs}/{jobs} passed" in out
    assert "| job |" in out.lower() or "| `" in out  # the table is printed


def test_the_report_job_shows_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = fixture_config()
    needs = workflow_needs(capsys, "failure", fixture_workflow(), FIXTURE_TOML)
    (tmp_path / "results").mkdir()  # the artifacts downloaded: none
    code = report(tmp_path, needs)
    out, err = capsys.readouterr()
    assert (code, err) == (1, "")
    jobs = len(config.stage_jobs("base-b"))
    assert f"### base-b: 0/{jobs} passed ({jobs} missing result)" in out


def test_a_plan_output_that_is_an_object_but_no_matrix_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    needs = {"plan": {"result": "success", "outputs": {"gpu": "true", "base_a": '{"x": 1}'}}}
    code = report(tmp_path, needs)
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "base_a: not a stage matrix" in line
