"""Stub runs are never evidence (issue 15, item 2): not in durations, not in baselines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sglang_ci.cli import main_exit_code
from sglang_ci.config.baselines import parse_baselines
from sglang_ci.config.errors import ConfigError
from sglang_ci.outcome.verdict import Verdict
from sglang_ci.results.report import collect, render, update_durations
from sglang_ci.results.result_file import JobResult
from tests.conftest import FIXTURES
from tests.plan.test_ci_plan import write_result

JOB = "spec(model='gemma4-31b', topk=3)"


def test_durations_leave_out_stub_runs(tmp_path: Path) -> None:
    write_result(tmp_path / "a", "job(model='real')", "s", "passed")
    write_result(tmp_path / "b", "job(model='rehearsed')", "s", "passed", engine="stub")
    durations = tmp_path / "durations.json"
    assert update_durations(durations, collect(tmp_path)) == 1
    assert json.loads(durations.read_text()) == {"job(model='real')": 60.0}


def test_report_names_the_engine_and_a_column_when_mixed(tmp_path: Path) -> None:
    write_result(tmp_path / "a", "job(model='real')", "s", "passed")
    write_result(tmp_path / "b", "job(model='rehearsed')", "s", "passed", engine="stub")
    write_result(tmp_path / "c", "job(model='alone')", "t", "passed", engine="stub")
    text = render(collect(tmp_path))
    assert "### s: 2/2 passed, engines mixed" in text
    assert "| engine | session |" in text and "| stub | `job(model='rehearsed')` |" in text
    assert "### t: 1/1 passed, engine stub" in text


@pytest.mark.parametrize("engine", ["stub", "sglang-ci-stub (protocol stand-in, not a model)"])
def test_baselines_refuse_stub_entries(engine: str) -> None:
    data = {"jobs": {JOB: {"runs": [{"score": 0.5, "engine": engine}]}}}
    with pytest.raises(ConfigError) as raised:
        parse_baselines(data, "baselines.toml")
    message = str(raised.value)
    assert message.startswith(f'baselines.toml: jobs."{JOB}".runs[0].engine')
    assert "stub engine" in message and "\n" not in message


def test_calibrate_write_refuses_the_stub(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("stages.toml", "baselines.toml"):
        (tmp_path / name).write_text((FIXTURES / name).read_text())
    before = (tmp_path / "baselines.toml").read_text()
    config = str(tmp_path / "stages.toml")
    code = main_exit_code(["calibrate", JOB, "--engine", "stub", "--write", "--config", config,
                           "--results", str(tmp_path / "r")])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "stub engine" in err[0], err
    assert (tmp_path / "baselines.toml").read_text() == before
    assert not (tmp_path / "r").exists()  # refused before any run


def test_result_json_names_the_engine_first(tmp_path: Path) -> None:
    result = JobResult("job(model='a')", "s", "stub", 1)
    result.finish(Verdict.passed())
    result.write(tmp_path / "result.json")
    assert next(iter(json.loads((tmp_path / "result.json").read_text()))) == "engine"
