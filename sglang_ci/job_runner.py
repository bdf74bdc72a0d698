"""One job, start to end: launch -> checks -> eval (the suite) -> teardown -> result.json.

Whatever happens (a check fails, a server dies, a cancellation signal arrives, a bug in
this code), the ``finally`` tears everything down and writes the result; only the
status and exit code differ. The result is rewritten after every phase, so whatever
was learned stays on disk even if the runner itself is killed.
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from sglang_ci.cancel import CancelWatch
from sglang_ci.config import Job
from sglang_ci.errors import (
    FatalError,
    JobCancelled,
    JobFailedError,
    JobTimedOut,
    TeardownError,
)
from sglang_ci.http_client import make_session
from sglang_ci.launcher import DeploymentRun, LaunchSettings
from sglang_ci.ports import PortLease
from sglang_ci.process_tree import become_subreaper, sweep_adopted
from sglang_ci.results import JobResult
from sglang_ci.server_api import flush_cache, server_info, smoke_generate
from sglang_ci.summary import append_step_summary


def run_suite(job: Job, run: DeploymentRun, result: JobResult, suites_dir: Path) -> None:
    """The job's suite module (suites/test_<suite>.py) under pytest, in this process."""
    import pytest  # imported here: only a job run needs it

    from sglang_ci.suite_plugin import SuiteContext, SuitePlugin, suite_args

    module = suites_dir / f"test_{job.suite.name}.py"
    if not module.is_file():
        raise FatalError(f"suite '{job.suite.name}' has no module {module}")
    settings = run.settings
    plugin = SuitePlugin(
        SuiteContext(job, run, result, settings.out_dir, settings.env, settings.request_timeout)
    )
    code = pytest.main(suite_args(module, settings.out_dir), plugins=[plugin])
    if code in (pytest.ExitCode.OK, pytest.ExitCode.INTERRUPTED):
        return  # an interrupt is a cancellation: the caller sees it on the CancelWatch
    if code == pytest.ExitCode.TESTS_FAILED:
        raise JobFailedError("; ".join(plugin.failures) or f"{module.name} failed")
    raise FatalError(f"suite {module} could not run (pytest exit code {int(code)})")


@dataclass(frozen=True)
class Outcome:
    result: JobResult
    exit_code: int


def say(message: str) -> None:
    print(f"sglang-ci: {message}", flush=True)


def run_checks(run: DeploymentRun, result: JobResult) -> None:
    """One smoke generation through the entry point, then each server's cache flushed and
    its /server_info recorded (the suite verifies the requested settings in it)."""
    with make_session(run.api_key, connect_retries=0) as session:
        smoke_generate(session, run.url, run.settings.request_timeout)
    for process in run.servers:
        with make_session(process.api_key) as session:
            flush_cache(session, process.url)
            result.server_info[process.role] = server_info(session, process.url)


@dataclass
class _Verdict:
    status: str = "error"
    reason: str = ""
    code: int = 1
    # A runtime failure (not a launch failure, not a missed threshold) gets the servers'
    # state and log tails appended once teardown has begun.
    wants_diagnostics: bool = False

    def add(self, text: str) -> None:
        self.reason = f"{self.reason}; {text}" if self.reason else text


def _record(result: JobResult, run: DeploymentRun) -> None:
    result.ports = {**{p.role: p.port for p in run.processes}, **run.extra_ports}
    result.servers = [p.describe() for p in run.processes]
    result.server_args = {p.role: p.command for p in run.processes}
    versions = [info.get("version") for info in result.server_info.values()]
    result.engine_version = next((str(v) for v in versions if v), None)


def run_job(
    job: Job, settings: LaunchSettings, suites_dir: Path, timeout: float | None = None
) -> Outcome:
    with CancelWatch(timeout) as cancel, PortLease() as lease:
        result = JobResult(job=job.id, stage=job.stage, engine=settings.engine, gpus=job.gpus)
        result.threshold_evidence = job.evidence()
        result_path = settings.out_dir / "result.json"
        result.write(result_path)
        adopting = become_subreaper()  # orphans of our servers re-parent to us
        run = DeploymentRun(job, settings, lease, cancel)
        verdict = _Verdict()
        launched = False
        try:
            with result.phase("launch"):
                run.start()
            launched = True
            _record(result, run)
            result.write(result_path)
            say("ready: " + ", ".join(f"{p.role} {p.url}" for p in run.processes))
            with result.phase("checks"):
                run_checks(run, result)
            result.write(result_path)
            with result.phase("eval"):
                run_suite(job, run, result, suites_dir)
            if cancel.timed_out:  # pytest stopped on the interrupt and returned
                raise JobTimedOut("timeout")
            if cancel.cancelled:
                raise JobCancelled(cancel.signal_name or "signal")
            verdict = _Verdict("passed", "", 0)
        except JobTimedOut:
            verdict = _Verdict("timeout", f"ran past its time limit of {timeout:.0f} s", 124)
        except JobCancelled as cancelled:
            verdict = _Verdict("cancelled", f"cancelled by {cancelled.signal_name}", 130)
        except JobFailedError as failure:
            verdict = _Verdict("failed", failure.message, failure.return_code)
            if run.exited():  # a server that died mid-eval is no threshold miss
                verdict = _Verdict("error", f"a server died during the eval; {failure.message}",
                                   1, True)  # fmt: skip
        except FatalError as error:
            # A launch failure already carries its server's log tail.
            verdict = _Verdict("error", error.message, error.return_code, launched)
        except Exception as error:
            trace = settings.out_dir / "runner-traceback.txt"
            trace.write_text(traceback.format_exc())
            verdict = _Verdict("error", f"internal error {type(error).__name__}: {error}"
                               f" (traceback in {trace})", 1, True)  # fmt: skip
        finally:
            cancel.shield()  # a signal now hurries the teardown instead of interrupting it
            if cancel.timed_out and verdict.status != "timeout":
                verdict = _Verdict("timeout", f"ran past its time limit of {timeout:.0f} s", 124)
            elif cancel.cancelled and verdict.status not in ("cancelled", "timeout"):
                verdict = _Verdict("cancelled", f"cancelled by {cancel.signal_name}", 130)
            if verdict.wants_diagnostics and run.processes:
                verdict.add(run.diagnostics())
            with result.phase("teardown"):
                problems = run.stop_processes(cancel.hurry)
                if adopting:
                    problems += sweep_adopted({p.popen.pid for p in run.processes})
                _record(result, run)
                result.finish(verdict.status, verdict.reason, verdict.code)
                result.write(result_path)  # before the slow waits: the window may close
                problems += run.wait_released(cancel.hurry)
            if problems:
                incomplete = TeardownError("teardown incomplete: " + "; ".join(problems))
                verdict.add(incomplete.message)
                if verdict.status not in ("cancelled", "timeout"):
                    verdict.status, verdict.code = "error", incomplete.return_code
            result.finish(verdict.status, verdict.reason, verdict.code)
            result.write(result_path)
            append_step_summary(result, settings.env)
    return Outcome(result, verdict.code)


def report(outcome: Outcome, result_path: Path) -> None:
    result = outcome.result
    line = f"{result.job}: {result.status}"
    if result.reason:
        line += f": {result.reason}"
    print(f"sglang-ci: {line}", file=sys.stderr if outcome.exit_code else sys.stdout)
    say(f"result: {result_path}")
