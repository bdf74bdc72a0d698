"""junit.xml names the job as every testcase's classname, and when a server dies (or the
time limit or a cancel stops the job) mid-suite, the testcase of the test that was
running carries the job's error (issue 21, "Annotations and reports")."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest

from sglang_ci.outcome.kinds import FailureKind
from sglang_ci.outcome.verdict import Verdict
from sglang_ci.results.junit import write_junit
from tests.results.test_junit import (
    FAILED_CASE,
    JOB,
    PASSED_CASE,
    STOPPED_CASE,
    check_schema,
    finished,
    pytest_file,
)  # fmt: skip
from tests.run.test_job_faults import assert_nothing_left, run_job

# What the suite's eval saw when the server went away under it.
BROKEN_CASE = (
    '<testcase classname="test_spec" name="test_accept_length" time="3.0">'
    '<failure message="connection refused">trace</failure></testcase>'
)


def cases(suite: ElementTree.Element) -> dict[str, ElementTree.Element]:
    return {case.get("name", ""): case for case in suite.iter("testcase")}


def test_every_testcase_is_classed_by_its_job(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    pytest_file(path, PASSED_CASE, FAILED_CASE)
    write_junit(finished(Verdict.failure(FailureKind.BELOW_THRESHOLD, "accept length")), path)
    suite = check_schema(path)
    assert {case.get("classname") for case in suite.iter("testcase")} == {JOB}


def test_the_running_test_says_the_server_died(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    pytest_file(path, PASSED_CASE, BROKEN_CASE)
    result = finished(Verdict.failure(FailureKind.SERVER_DIED, "server exited with code 1",
                                      "server.log tail"))  # fmt: skip
    result.running_test = "test_accept_length"
    write_junit(result, path)
    suite = check_schema(path)
    found = cases(suite)
    assert set(found) == {"test_gsm8k", "test_accept_length"}  # no extra job-level case
    error = found["test_accept_length"].find("error")
    assert error is not None and found["test_accept_length"].find("failure") is None
    assert (error.get("type"), error.get("message")) == ("server died", "server exited with code 1")
    assert found["test_gsm8k"].find("error") is None


def test_a_test_pytest_left_no_case_for_gets_one(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    pytest_file(path, PASSED_CASE, STOPPED_CASE)  # stopped by a signal: no name
    result = finished(Verdict.failure(FailureKind.TIME_LIMIT, "ran past its time limit"))
    result.running_test = "test_accept_length"
    write_junit(result, path)
    suite = check_schema(path)
    error = cases(suite)["test_accept_length"].find("error")
    assert error is not None and error.get("type") == "time limit"
    assert suite.get("errors") == "1" and suite.get("tests") == "2"


@pytest.mark.real_process
def test_a_server_dying_mid_suite_marks_its_test(tmp_path: Path, tag: str) -> None:
    """The stub dies on its 31st generation request: inside test_gsm8k's eval."""
    exit_code, output, record = run_job(tmp_path, tag, "crash_after=30")
    assert exit_code == 5, output
    assert record["failure_kind"] == "server died"
    assert record["running_test"] == "test_gsm8k"
    suite = check_schema(tmp_path / "spec-model-gemma4-31b-topk-3" / "junit.xml")
    error = cases(suite)["test_gsm8k"].find("error")
    assert error is not None and error.get("type") == "server died"
    assert error.get("message") == record["reason"]
    assert all(case.get("classname") == record["job"] for case in suite.iter("testcase"))
    assert_nothing_left(tag, record)
