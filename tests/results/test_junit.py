"""junit.xml a CI system can merge (issue 15, item 4).

The schema checks below follow the JUnit XSD that GitHub test-report actions read
(dorny/test-reporter's "java-junit", mikepenz/action-junit-report; both written against
Jenkins' junit-10.xsd from jenkinsci/xunit-plugin): <testsuites> holds <testsuite>s;
a testsuite needs name and tests and holds properties, testcase, system-out,
system-err; a testcase needs name and holds at most one of skipped / error / failure
(message, type attributes) plus system-out / system-err; the counts add up.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest

from sglang_ci.outcome.kinds import FailureKind
from sglang_ci.outcome.verdict import Verdict
from sglang_ci.results.junit import write_junit
from sglang_ci.results.result_file import JobResult

JOB = "spec(model='gemma4-31b', topk=3)"
SUITE_CHILDREN = {"properties", "testcase", "system-out", "system-err"}
CASE_CHILDREN = {"skipped", "error", "failure", "system-out", "system-err"}
OUTCOMES = ("skipped", "error", "failure")
NUMBERS = ("tests", "failures", "errors", "skipped")


def check_schema(path: Path) -> ElementTree.Element:
    """The file's <testsuite>, after checking the junit-10.xsd shape."""
    root = ElementTree.parse(path).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1 and len(root) == 1
    suite = suites[0]
    assert suite.get("name") and suite.get("tests") is not None
    assert {child.tag for child in suite} <= SUITE_CHILDREN
    for prop in suite.iter("property"):
        assert set(prop.attrib) == {"name", "value"}
    cases = suite.findall("testcase")
    for case in cases:
        assert case.get("name")
        float(case.get("time", "0"))
        assert {child.tag for child in case} <= CASE_CHILDREN
        assert sum(case.find(tag) is not None for tag in OUTCOMES) <= 1
        for tag in ("error", "failure"):
            for outcome in case.findall(tag):
                assert set(outcome.attrib) <= {"message", "type"}
    expected = {"tests": len(cases), "skipped": sum(c.find("skipped") is not None for c in cases),
                "errors": sum(c.find("error") is not None for c in cases),
                "failures": sum(c.find("failure") is not None for c in cases)}  # fmt: skip
    for element in (suite, root):
        assert {key: int(element.get(key, "-1")) for key in NUMBERS} == expected
    return suite


def pytest_file(path: Path, *cases: str) -> None:
    """What pytest -o junit_family=xunit2 writes: a testsuite named pytest."""
    body = "".join(cases)
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0"'
        f' failures="0" skipped="0" tests="{len(cases)}" time="1.0">{body}</testsuite>'
        "</testsuites>"
    )


PASSED_CASE = '<testcase classname="test_spec" name="test_gsm8k" time="0.5" />'
FAILED_CASE = (
    '<testcase classname="test_spec" name="test_accept_length" time="0.2">'
    '<failure message="accept length 2.1 not &gt; 2.5">trace</failure></testcase>'
)
# What pytest leaves for a test a signal stopped: a testcase without a name.
STOPPED_CASE = '<testcase time="0.000" />'


def finished(verdict: Verdict) -> JobResult:
    result = JobResult(JOB, "base-b", "sglang", 2)
    result.phases = {"launch": 3.0, "eval": 2.0}
    result.finish(verdict)
    return result


def test_suite_named_after_the_job_with_each_check_a_testcase(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    pytest_file(path, PASSED_CASE, FAILED_CASE)
    write_junit(finished(Verdict.failure(FailureKind.BELOW_THRESHOLD, "accept length")), path)
    suite = check_schema(path)
    assert suite.get("name") == JOB
    assert [c.get("name") for c in suite.iter("testcase")] == ["test_gsm8k", "test_accept_length"]
    assert suite.get("failures") == "1" and suite.get("errors") == "0"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props == {"engine": "sglang", "stage": "base-b", "status": "failed"}


@pytest.mark.parametrize(
    ("kind", "status"),
    [(FailureKind.TIME_LIMIT, "timeout"), (FailureKind.CANCELLED, "cancelled"),
     (FailureKind.SERVER_DIED, "error"), (FailureKind.LAUNCH_EXIT, "error")],
)  # fmt: skip
def test_an_early_end_is_an_error_with_its_reason(
    tmp_path: Path, kind: FailureKind, status: str
) -> None:
    path = tmp_path / "junit.xml"
    if kind is not FailureKind.LAUNCH_EXIT:  # a launch failure leaves no pytest file
        pytest_file(path, PASSED_CASE, STOPPED_CASE)
    reason = f"the job ended: {kind.value}"
    write_junit(finished(Verdict.failure(kind, reason, "server.log tail")), path)
    suite = check_schema(path)
    assert suite.get("name") == JOB and suite.get("errors") == "1"
    (error,) = suite.iter("error")
    assert error.get("type") == kind.value and error.get("message") == reason
    assert error.text == "server.log tail"
    case = next(c for c in suite.iter("testcase") if c.find("error") is not None)
    assert case.get("name") == f"{JOB} [{status}]"


def test_a_skipped_job_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    write_junit(finished(Verdict.skipped("not run: the shared launch ended")), path)
    suite = check_schema(path)
    assert suite.get("skipped") == "1" and suite.get("errors") == "0"
