"""junit.xml a CI system can merge: one testsuite named after the job, each check (a
suite test) a testcase whose classname is the job, and what ended the job early (launch
failure, server death, time limit, cancellation) an error with its reason, on the test
that was running when it happened.

pytest's own file names its testsuite "pytest" (every job the same, so merged reports
collapse them) and says nothing when the job ends outside a test: the launch failed, or
the job was cancelled or timed out between tests. The runner completes it from the
job's verdict once the job is over.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

from sglang_ci.outcome.verdict import Status
from sglang_ci.results.result_file import JobResult

# Ended by a check: pytest's testcase already carries the failure.
_CHECK_STATUSES = (Status.PASSED, Status.FAILED)
_OUTCOMES = ("failure", "error", "skipped")


def _suite_of(path: Path) -> tuple[ElementTree.Element, ElementTree.Element]:
    """(testsuites, testsuite) of pytest's file, or new ones when it left none."""
    root: ElementTree.Element | None = None
    if path.is_file():
        try:
            root = ElementTree.parse(path).getroot()
        except ElementTree.ParseError:  # pytest killed mid-write
            root = None
    if root is None:
        root = ElementTree.Element("testsuites")
    elif root.tag == "testsuite":
        wrapper = ElementTree.Element("testsuites")
        wrapper.append(root)
        root = wrapper
    suite = root.find("testsuite")
    if suite is None:
        suite = ElementTree.SubElement(root, "testsuite")
    for case in suite.findall("testcase"):
        if not case.get("name"):  # pytest's trace of a test stopped by a signal: no name
            suite.remove(case)
    return root, suite


def _properties(suite: ElementTree.Element, result: JobResult) -> None:
    props = suite.find("properties")
    if props is None:
        props = ElementTree.Element("properties")
        suite.insert(0, props)
    for name, value in (("engine", result.engine), ("stage", result.stage),
                        ("status", str(result.status))):  # fmt: skip
        ElementTree.SubElement(props, "property", name=name, value=value)


def _count(root: ElementTree.Element, suite: ElementTree.Element, seconds: float) -> None:
    cases = suite.findall("testcase")
    counts = {"tests": len(cases)}
    for outcome in _OUTCOMES:
        counts[outcome + ("s" if outcome != "skipped" else "")] = sum(
            case.find(outcome) is not None for case in cases
        )
    for element in (suite, root):
        for key, value in counts.items():
            element.set(key, str(value))
        element.set("time", f"{seconds:.3f}")


def _running_case(suite: ElementTree.Element, result: JobResult) -> ElementTree.Element | None:
    """The testcase of the test that was running when the job was stopped, its own
    outcome (what the stop broke on the way: a refused connection) replaced; created
    when pytest left none for it."""
    if not result.running_test or result.status is Status.SKIPPED:
        return None
    case = next((c for c in suite.findall("testcase")
                 if c.get("name") == result.running_test), None)  # fmt: skip
    if case is None:
        return ElementTree.SubElement(suite, "testcase", name=result.running_test, time="0.000")
    for child in [c for c in case if c.tag in _OUTCOMES]:
        case.remove(child)
    return case


def write_junit(result: JobResult, path: Path) -> None:
    """pytest's junit.xml at ``path`` completed from the job's final verdict."""
    root, suite = _suite_of(path)
    suite.set("name", result.job)
    suite.set("timestamp", result.started_at)
    _properties(suite, result)
    for each in suite.findall("testcase"):
        each.set("classname", result.job)  # merged reports group and name by the job
    if result.status not in _CHECK_STATUSES:
        # Launch failure, server death, time limit, cancellation, a skip: a testcase that
        # says so (the test that was running, else one for the job), so a merged report
        # cannot read the job as passed.
        running = _running_case(suite, result)
        # (an Element without children is falsy: no `or` here)
        case = (
            running
            if running is not None
            else ElementTree.SubElement(
                suite, "testcase", name=f"{result.job} [{result.status}]", time="0.000"
            )
        )  # the job's time is the suite's
        case.set("classname", result.job)
        tag = "skipped" if result.status is Status.SKIPPED else "error"
        kind = result.failure_kind.value if result.failure_kind else str(result.status)
        outcome = ElementTree.SubElement(case, tag, message=result.reason or kind)
        if tag == "error":
            outcome.set("type", kind)
            outcome.text = result.diagnostics or result.reason
    _count(root, suite, result.seconds)  # launch and teardown included
    ElementTree.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ElementTree.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
