"""One job, start to end: launch -> checks -> eval (the suite) -> teardown -> result.json.

Whatever happens (a check fails, a server dies, a cancellation signal arrives, a bug in
this code), the ``finally`` tears everything down and writes the result; only the
status and exit code differ. The result is rewritten after every phase, so whatever
was learned stays on disk even if the runner itself is killed.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sglang_ci.config.errors import (
    FatalError,
    JobCancelled,
    JobFailedError,
    JobTimedOut,
    TeardownError,
)
from sglang_ci.config.model import Job
from sglang_ci.launch.cancel import CancelWatch
from sglang_ci.launch.http_client import make_session
from sglang_ci.launch.launcher import DeploymentRun, LaunchSettings
from sglang_ci.launch.ports import PortLease
from sglang_ci.launch.process_tree import become_subreaper, sweep_adopted
from sglang_ci.launch.server_api import flush_cache, server_info, smoke_generate
from sglang_ci.results.result_file import JobResult
from sglang_ci.results.summary import append_step_summary


def run_suite(
    job: Job, run: DeploymentRun, result: JobResult, suites_dir: Path, out_dir: Path
) -> None:
    """The job's suite module (suites/test_<suite>.py) under pytest, in this process."""
    import pytest  # imported here: only a job run needs it

    from sglang_ci.run.suite_plugin import SuiteContext, SuitePlugin, suite_args

    module = suites_dir / f"test_{job.suite.name}.py"
    if not module.is_file():
        raise FatalError(f"suite '{job.suite.name}' has no module {module}")
    settings = run.settings
    plugin = SuitePlugin(
        SuiteContext(job, run, result, out_dir, settings.env, settings.request_timeout)
    )
    code = pytest.main(suite_args(module, out_dir), plugins=[plugin])
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


@dataclass
class _Member:
    """One job of a launch group, with its own folder, result and verdict."""

    job: Job
    out_dir: Path
    result: JobResult
    verdict: _Verdict

    def write(self) -> None:
        self.result.write(self.out_dir / "result.json")


def run_job(
    job: Job, settings: LaunchSettings, suites_dir: Path, timeout: float | None = None
) -> Outcome:
    return run_group([job], settings, [settings.out_dir], suites_dir, timeout)[0]


def _run_member(member: _Member, run: DeploymentRun, suites_dir: Path, cancel: CancelWatch
                ) -> _Verdict:  # fmt: skip
    """Checks and suite of one job against the running servers."""
    result = member.result
    _record(result, run)
    member.write()
    try:
        with result.phase("checks"):
            run_checks(run, result)
        member.write()
        with result.phase("eval"):
            run_suite(member.job, run, result, suites_dir, member.out_dir)
    except JobFailedError as failure:
        if run.exited():  # a server that died mid-eval is no threshold miss
            return _Verdict("error", f"a server died during the eval; {failure.message}", 1, True)
        return _Verdict("failed", failure.message, failure.return_code)
    except FatalError as error:
        return _Verdict("error", error.message, error.return_code, True)
    if cancel.timed_out:  # pytest stopped on the interrupt and returned
        raise JobTimedOut("timeout")
    if cancel.cancelled:
        raise JobCancelled(cancel.signal_name or "signal")
    return _Verdict("passed", "", 0)


def run_group(
    jobs: Sequence[Job],
    settings: LaunchSettings,
    out_dirs: Sequence[Path],
    suites_dir: Path,
    timeout: float | None = None,
) -> list[Outcome]:
    """Jobs whose servers start identically, run one after another against one launch
    (a large model's launch costs minutes of GPU time); a single job is a group of one.
    Each job keeps its own folder, result.json, records and verdict; the launch, its
    logs and the teardown belong to the first."""
    members = [
        _Member(job, out_dir, JobResult(job.id, job.stage, settings.engine, job.gpus), _Verdict())
        for job, out_dir in zip(jobs, out_dirs, strict=True)
    ]
    first = members[0]
    with CancelWatch(timeout) as cancel, PortLease() as lease:
        for member in members:
            member.result.threshold_evidence = member.job.evidence()
            if member is not first:
                member.result.launched_by = first.job.id
            member.write()
        adopting = become_subreaper()  # orphans of our servers re-parent to us
        run = DeploymentRun(first.job, replace(settings, out_dir=first.out_dir), lease, cancel)
        current, launched = first, False
        try:
            with first.result.phase("launch"):
                run.start()
            launched = True
            say("ready: " + ", ".join(f"{p.role} {p.url}" for p in run.processes))
            for member in members:
                current = member
                member.verdict = _run_member(member, run, suites_dir, cancel)
                if run.exited(wait=0):
                    break  # the servers are gone: the jobs after this one cannot run
        except JobTimedOut:
            current.verdict = _Verdict("timeout", f"ran past its time limit of {timeout:.0f} s",
                                       124)  # fmt: skip
        except JobCancelled as cancelled:
            current.verdict = _Verdict("cancelled", f"cancelled by {cancelled.signal_name}", 130)
        except FatalError as error:
            # A launch failure already carries its server's log tail.
            current.verdict = _Verdict("error", error.message, error.return_code, launched)
        except Exception as error:
            trace = current.out_dir / "runner-traceback.txt"
            trace.write_text(traceback.format_exc())
            current.verdict = _Verdict("error", f"internal error {type(error).__name__}: {error}"
                                       f" (traceback in {trace})", 1, True)  # fmt: skip
        finally:
            cancel.shield()  # a signal now hurries the teardown instead of interrupting it
            _close_group(members, current, run, cancel, timeout, adopting)
    return [Outcome(m.result, m.verdict.code) for m in members]


def _close_group(
    members: list[_Member],
    current: _Member,
    run: DeploymentRun,
    cancel: CancelWatch,
    timeout: float | None,
    adopting: bool,
) -> None:
    """Verdicts for the jobs that never ran, one teardown, every result written."""
    if cancel.timed_out and current.verdict.status != "timeout":
        current.verdict = _Verdict("timeout", f"ran past its time limit of {timeout:.0f} s", 124)
    elif cancel.cancelled and current.verdict.status not in ("cancelled", "timeout"):
        current.verdict = _Verdict("cancelled", f"cancelled by {cancel.signal_name}", 130)
    after = members[members.index(current) + 1 :]
    for member in after:
        if member.verdict.status == "error" and not member.verdict.reason:
            status = current.verdict.status if current.verdict.status in ("cancelled", "timeout") \
                else "error"  # fmt: skip
            member.verdict = _Verdict(status, f"not run: the shared launch ended during"
                                      f" {current.job.id} ({current.verdict.status})",
                                      current.verdict.code or 1)  # fmt: skip
    if current.verdict.wants_diagnostics and run.processes:
        current.verdict.add(run.diagnostics())
    first = members[0]
    with first.result.phase("teardown"):
        problems = run.stop_processes(cancel.hurry)
        if adopting:
            problems += sweep_adopted({p.popen.pid for p in run.processes})
        for member in members:
            _record(member.result, run)
            member.result.finish(member.verdict.status, member.verdict.reason, member.verdict.code)
            member.write()  # before the slow waits: the cancellation window may close
        problems += run.wait_released(cancel.hurry)
    for member in members:
        if problems:
            incomplete = TeardownError("teardown incomplete: " + "; ".join(problems))
            member.verdict.add(incomplete.message)
            if member.verdict.status not in ("cancelled", "timeout"):
                member.verdict.status, member.verdict.code = "error", incomplete.return_code
        member.result.finish(member.verdict.status, member.verdict.reason, member.verdict.code)
        member.write()
        append_step_summary(member.result, run.settings.env)


def report(outcome: Outcome, result_path: Path) -> None:
    result = outcome.result
    line = f"{result.job}: {result.status}"
    if result.reason:
        line += f": {result.reason}"
    print(f"sglang-ci: {line}", file=sys.stderr if outcome.exit_code else sys.stdout)
    say(f"result: {result_path}")
