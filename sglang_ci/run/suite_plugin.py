"""What the suite modules in suites/ get: the running job as pytest fixtures.

The job runner launches the servers, then runs the job's suite module with pytest in
the same process, passing a SuiteContext through this plugin. Every check a suite makes
goes through ``ctx.check``, so result.json, the JUnit XML and the step summary all show
the same value, comparator, threshold and verdict.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from sglang_ci.config.checks import EvalOptions, passes
from sglang_ci.config.model import Job
from sglang_ci.evals.records import EvalOutcome, RecordSink
from sglang_ci.evals.run import run_eval
from sglang_ci.evals.verify import mismatches
from sglang_ci.launch.http_client import make_session
from sglang_ci.launch.launcher import DeploymentRun, RunningProcess
from sglang_ci.outcome.errors import FatalError
from sglang_ci.outcome.kinds import FailureKind
from sglang_ci.results.result_file import JobResult


class ThresholdMissed(AssertionError):
    """A score or measurement that does not pass its comparator and threshold (``> 0.95``,
    ``>= 0.65``): the one retriable kind of check."""


@dataclass
class SuiteContext:
    job: Job
    run: DeploymentRun
    result: JobResult
    out_dir: Path
    env: Mapping[str, str]
    request_timeout: float
    stop: threading.Event  # the run's cancel token: evals stop at once when it is set
    request_errors: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """Where requests go: the router of a PD job, else the server."""
        return self.run.url

    @property
    def generating_server(self) -> RunningProcess:
        """The server whose /server_info reports decoding stats (decode in PD)."""
        return self.run.servers[-1]

    def session(self) -> requests.Session:
        # Connection retries are an improvement, off under --sglang-sequence.
        return make_session(
            self.run.api_key, connect_retries=0 if self.run.settings.sglang_sequence else 3
        )

    def speculative(self) -> bool:
        return self.job.model.speculative

    def threshold(self, check: str) -> float:
        value = self.job.threshold(check)
        if value is None:
            pytest.skip(f"{check} does not apply to {self.job.id}")
        return value

    def check(self, name: str, value: float, unit: str = "") -> None:
        """Compare ``value`` with the job's threshold as the job's comparator says (SGLang's
        ``assertGreater`` is ``>``, ``assertGreaterEqual`` is ``>=``); record the row."""
        threshold = self.threshold(name)
        comparator = self.job.comparator(name)
        passed = passes(value, comparator, threshold)
        row: dict[str, object] = {
            "check": name, "value": value, "comparator": comparator, "threshold": threshold,
            "passed": passed,
        }  # fmt: skip
        if self.request_errors.get(name):
            row["request_errors"] = self.request_errors[name]
        self.result.checks.append(row)
        if not passed:
            missed = _miss_text(value, comparator, threshold, unit)
            raise ThresholdMissed(f"{name} {missed} ({self.job.id})")

    def verify_settings(self) -> None:
        """Each server's /server_info shows the requested values of the suite's flags."""
        if not self.result.server_info:  # --sglang-sequence, and the SGLang test reads none
            pytest.skip("SGLang's test reads no /server_info (--sglang-sequence)")
        problems = []
        for server, process in zip(self.job.deployment.servers, self.run.servers, strict=True):
            info = self.result.server_info.get(process.role, {})
            requested = dict(server.args)
            found = mismatches(self.job.suite.verify, requested, info)
            problems += [f"{process.role}: {problem}" for problem in found]
        passed = not problems
        summary = "; ".join(problems) or "as requested"
        self.result.checks.append(
            {"check": "server-settings", "value": summary, "threshold": None, "passed": passed}
        )
        assert passed, "server did not start with the requested settings: " + "; ".join(problems)

    def eval_options(self) -> EvalOptions:
        if self.job.eval is None:
            raise FatalError(f"{self.job.id} has no eval options")
        return self.job.eval

    def run_eval(self, name: str) -> EvalOutcome:
        """The eval, its records streamed to disk as they come; a request that failed is
        scored wrong (as SGLang scores it) and counted; all failing is no score at all."""
        sink = RecordSink(self.out_dir, name)
        try:
            outcome = run_eval(
                name, self.url, self.eval_options(), data=None, env=self.env,
                api_key=self.run.api_key, request_timeout=self.request_timeout, on_record=sink,
                stop=self.stop,
            )  # fmt: skip
        finally:
            sink.close()
        outcome.write(self.out_dir)
        self.result.score = outcome.score
        self.result.threshold = self.job.threshold(name)
        self.result.comparator = self.job.comparator(name)
        self.request_errors[name] = outcome.errors
        outcome.require_answers()
        return outcome

    def record_failure(self, name: str, problem: str) -> None:
        """A check that could not produce a value still gets its row."""
        self.result.checks.append(
            {
                "check": name,
                "value": None,
                "comparator": self.job.comparator(name),
                "threshold": self.job.threshold(name),
                "passed": False,
                "problem": problem,
            }
        )


def _exact(number: float) -> str:
    return f"{number:g}" if float(f"{number:g}") == number else repr(number)


def _miss_text(value: float, comparator: str, threshold: float, unit: str) -> str:
    """``0.5 not > 0.95``, ``96.2% not > 97%``: the value at 4 significant digits
    where that reads true, else both in full, so a value exactly at its threshold reads
    as equal ("0.6 not > 0.6") and one just under it does not ("0.59999 not >= 0.6",
    never "0.6 not >= 0.6")."""
    short = f"{value:.4g}"
    rounded = float(short)
    if passes(rounded, comparator, threshold) or (rounded == threshold) != (value == threshold):
        short = _exact(value)
    return f"{short}{unit} not {comparator} {_exact(threshold)}{unit}"


def failure_kind(error: BaseException) -> FailureKind:
    """What a test's exception means for the job: a missed threshold, another failed
    check, the kind a FatalError carries (a server error, a timeout...), or a bug."""
    if isinstance(error, ThresholdMissed):
        return FailureKind.BELOW_THRESHOLD
    if isinstance(error, AssertionError):
        return FailureKind.CHECK_FAILED
    if isinstance(error, FatalError):
        return error.kind
    return FailureKind.INTERNAL


@dataclass(frozen=True)
class TestFailure:
    test: str
    kind: FailureKind
    message: str  # one line


class SuitePlugin:
    """Hands the context to the suite's tests and records each failure with its kind."""

    def __init__(self, context: SuiteContext) -> None:
        self.context = context
        self.failures: list[TestFailure] = []

    @pytest.fixture
    def ctx(self) -> Iterator[SuiteContext]:
        yield self.context

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.context.result.running_test = nodeid.split("::")[-1]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # A test that passed is not the one a later stop interrupted; one that failed may
        # be (the server died under it), until the next test starts.
        if report.when == "call" and report.passed:
            self.context.result.running_test = ""

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        retries = method_retries(self.context.job.test_retries, self.context.env)
        if retries:
            for item in items:
                item.runtest = self._retrying(item, item.runtest, retries)  # type: ignore[method-assign]

    def _retrying(self, item: pytest.Item, runtest: Callable[[], None], retries: int
                  ) -> Callable[[], None]:  # fmt: skip
        """``runtest`` tried again after a failure, as CustomTestCase._callTestMethod
        retries a test method in CI (srt/utils retry(): any Exception, never SkipTest,
        whose pytest form is a BaseException and passes through); not once the run is
        being stopped (a time limit, a signal). The failed try's check rows move to
        ``result.test_retries``, so the checks list the try that counts."""
        context = self.context

        def run() -> None:
            for attempt in range(retries + 1):
                rows = len(context.result.checks)
                try:
                    runtest()
                    return
                except Exception as error:
                    if attempt == retries or context.stop.is_set():
                        raise
                    failed = context.result.checks[rows:]
                    del context.result.checks[rows:]
                    context.result.test_retries.append({
                        "test": item.name, "try": attempt + 1,
                        "error": (str(error).strip() or type(error).__name__).splitlines()[0],
                        "checks": failed,
                    })  # fmt: skip
                    # What stops the run (a dead server, a signal) arrives within the wait.
                    if context.stop.wait(TEST_RETRY_DELAY_S):
                        raise

        return run

    def pytest_exception_interact(
        self, node: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport
    ) -> None:
        error = call.excinfo.value if call.excinfo else None
        if error is None or not report.failed:
            return
        text = str(error).strip() or type(error).__name__
        if failure_kind(error) is FailureKind.INTERNAL:
            text = f"{type(error).__name__}: {text}"
        self.failures.append(
            TestFailure(node.nodeid.split("::")[-1], failure_kind(error), text.splitlines()[0])
        )


# srt/utils retry(): initial_delay 2 s, times 0.75-1 (jitter) before the first retry.
TEST_RETRY_DELAY_S = 2.0


def method_retries(configured: int, env: Mapping[str, str]) -> int:
    """How often a failing test is tried again: the job's (CustomTestCase's 1 in CI, 0
    for a subTest loop), or SGLANG_TEST_MAX_RETRY where set, as CustomTestCase reads it
    first; a subTest loop stays at 0 (a failed subTest is final under -f)."""
    override = env.get("SGLANG_TEST_MAX_RETRY", "").strip()
    if configured and override.isdigit():
        return int(override)
    return configured


def suite_args(module: Path, out_dir: Path) -> list[str]:
    """pytest for the suite; ``-x`` as run_suite runs ``python3 FILE -f``: the first
    failing test (after its retry) ends the file."""
    # A suites/ folder of the user's without a pytest.ini gets the packaged suites' one.
    ini = module.parent / "pytest.ini"
    if not ini.is_file():
        ini = Path(__file__).resolve().parents[1] / "suites" / "pytest.ini"
    return [
        str(module), "-q", "-x", "-rfEs", "-p", "no:cacheprovider",
        f"--junitxml={out_dir / 'junit.xml'}", "-o", "junit_family=xunit2",
        "--rootdir", str(module.parent), "-c", str(ini),
    ]  # fmt: skip
