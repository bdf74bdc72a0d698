"""One launch and the jobs that share it, start to end: launch -> checks -> suite ->
teardown -> result.json, each job with a typed verdict.

Whatever happens (a check fails, a server dies, a signal or the time limit arrives, a
bug in this code), the launch lifecycle tears everything down and every result is
written; only the verdicts differ. Each call owns a fresh cancel token, so nothing one
run saw (a timeout, a signal) can reach the next.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from sglang_ci.config.errors import UsageError
from sglang_ci.config.model import Job
from sglang_ci.config.secrets import Scrubber, redacted, redacted_argv
from sglang_ci.config.server_args import to_argv
from sglang_ci.evals.client import SGLANG_SAMPLER
from sglang_ci.launch.cancel import CancelToken, CancelWatch
from sglang_ci.launch.http_client import make_session
from sglang_ci.launch.launcher import DeploymentRun, LaunchSettings
from sglang_ci.launch.lifecycle import launched
from sglang_ci.launch.liveness import LivenessWatch
from sglang_ci.launch.server_api import flush_cache, server_info, smoke_generate
from sglang_ci.outcome.errors import FatalError, JobFailedError, RunInterrupted, ServerDied
from sglang_ci.outcome.kinds import FailureKind
from sglang_ci.outcome.verdict import Status, Verdict
from sglang_ci.results.junit import write_junit
from sglang_ci.results.provenance import collect_provenance
from sglang_ci.results.result_file import JobResult
from sglang_ci.results.scrub import scrub_folder
from sglang_ci.results.summary import append_step_summary
from sglang_ci.run.suite_plugin import TestFailure

CHECK_KINDS = (FailureKind.BELOW_THRESHOLD, FailureKind.CHECK_FAILED)


def say(message: str) -> None:
    print(f"sglang-ci: {message}", flush=True)


T = TypeVar("T")


def with_transient_retries(call: Callable[[], T], stop: threading.Event) -> T:
    """``call`` sent again on a transient failure (5xx, a lost connection) as an eval
    request is within one sampler try: up to SGLANG_SAMPLER.attempts sends, waiting 0.5,
    1, ... s (capped); ``stop`` (the run's token) ends the wait."""
    policy = SGLANG_SAMPLER
    for attempt in range(policy.attempts):
        try:
            return call()
        except FatalError as error:
            if error.kind is not FailureKind.TRANSIENT_HTTP or attempt + 1 == policy.attempts:
                raise
        stop.wait(min(policy.attempt_initial_s * 2**attempt, policy.attempt_max_s))
    raise AssertionError("unreachable: the last attempt returns or raises")


def _once(call: Callable[[], T], stop: threading.Event) -> T:
    """A request sent once, as SGLang's test sends it (``stop`` unused)."""
    return call()


def run_checks(
    run: DeploymentRun, result: JobResult, stop: threading.Event, steps: tuple[str, ...] = ()
) -> None:
    """IMPROVEMENTS over SGLang's sequence, each off under --sglang-sequence
    (``run.settings.sglang_sequence``), where only the ``steps`` the job's SGLang test
    takes too remain (Suite.sglang_steps): one smoke generation through the entry point
    (a server that cannot generate fails here, not as a low score); each server's cache
    flushed ("flush"); its /server_info recorded, which the suite verifies ("server-info");
    connection retries and the eval requests' policy for transient failures on these."""
    improved = not run.settings.sglang_sequence
    if improved:
        with make_session(run.api_key, connect_retries=0) as session:
            with_transient_retries(
                lambda: smoke_generate(session, run.url, run.settings.request_timeout), stop
            )
    retrying = with_transient_retries if improved else _once
    for process in run.servers:
        with make_session(process.api_key, connect_retries=3 if improved else 0) as session:
            if improved or "flush" in steps:
                retrying(functools.partial(flush_cache, session, process.url), stop)
            if improved or "server-info" in steps:
                # /server_info lists every server arg, api_key included: hidden first.
                result.server_info[process.role] = redacted(server_info(session, process.url))


def suite_failure(failures: Sequence[TestFailure], fallback: str) -> FatalError:
    """One error for a suite's failed tests: an error kind (a server error, a bug) wins
    over failed checks; only misses of score thresholds alone are BELOW_THRESHOLD."""
    reason = "; ".join(f"{f.test}: {f.message}" for f in failures) or fallback
    errors = [f for f in failures if f.kind not in CHECK_KINDS]
    if errors:
        return FatalError(reason, kind=errors[0].kind)
    if failures and all(f.kind is FailureKind.BELOW_THRESHOLD for f in failures):
        return JobFailedError(reason, kind=FailureKind.BELOW_THRESHOLD)
    return JobFailedError(reason)


# The suites that ship inside the package: the default for every suite of stages.toml.
PACKAGED_SUITES = Path(__file__).resolve().parents[1] / "suites"


def run_suite(
    job: Job, run: DeploymentRun, result: JobResult, suites_dir: Path, out_dir: Path,
    token: CancelToken,
) -> None:  # fmt: skip
    """The job's suite module (suites/test_<suite>.py beside stages.toml, else the packaged
    one) under pytest, in this process."""
    import pytest  # imported here: only a job run needs it

    from sglang_ci.run.suite_plugin import SuiteContext, SuitePlugin, suite_args

    name = f"test_{job.suite.name}.py"
    module = next((d / name for d in (suites_dir, PACKAGED_SUITES) if (d / name).is_file()), None)
    if module is None:
        raise FatalError(
            f"suite '{job.suite.name}' has no module: neither {suites_dir / name} nor a"
            f" packaged {name}; write {suites_dir / name}", kind=FailureKind.CONFIG
        )  # fmt: skip
    settings = run.settings
    context = SuiteContext(
        job, run, result, out_dir, settings.env, settings.request_timeout, token.stop
    )
    plugin = SuitePlugin(context)
    code = pytest.main(suite_args(module, out_dir), plugins=[plugin])
    if token.interruption is not None:  # pytest stopped on it and returned
        raise token.fresh()
    if code == pytest.ExitCode.OK:
        return
    if code == pytest.ExitCode.TESTS_FAILED:
        raise suite_failure(plugin.failures, f"{module.name} failed")
    raise FatalError(f"suite {module} could not run (pytest exit code {int(code)})")


@dataclass
class Member:
    """One job of a launch group, with its own folder, result and verdict."""

    job: Job
    out_dir: Path
    result: JobResult
    verdict: Verdict | None = None

    def write(self) -> None:
        self.result.write(self.out_dir / "result.json")


def _record(result: JobResult, run: DeploymentRun) -> None:
    result.ports = {**{p.role: p.port for p in run.processes}, **run.extra_ports}
    result.servers = [redacted({**p.describe(), "command": redacted_argv(p.command)})
                      for p in run.processes]  # fmt: skip
    result.server_args = {p.role: redacted_argv(p.command) for p in run.processes}
    versions = [info.get("version") for info in result.server_info.values()]
    result.engine_version = next((str(v) for v in versions if v), None)


def interruption_verdict(interruption: RunInterrupted, timeout: float | None) -> Verdict:
    if interruption.kind is FailureKind.TIME_LIMIT:
        return Verdict.failure(interruption.kind, f"ran past its time limit of {timeout:.0f} s")
    if interruption.kind is FailureKind.CANCELLED:
        return Verdict.failure(interruption.kind, f"cancelled by {interruption.cause}")
    return Verdict.failure(interruption.kind, interruption.cause)


def verdict_of(
    error: BaseException, run: DeploymentRun | None, token: CancelToken, member: Member,
    timeout: float | None,
) -> Verdict:  # fmt: skip
    """The verdict for what stopped a job. What interrupted the run (a signal, the time
    limit, a server's death) outranks what that broke on the way (failed requests)."""
    if token.interruption is not None:
        verdict = interruption_verdict(token.interruption, timeout)
        if isinstance(token.interruption, ServerDied) and run is not None:
            return replace(verdict, diagnostics=run.diagnostics())
        return verdict
    if isinstance(error, FatalError):
        if run is not None and run.processes and run.exited():
            # A server that died mid-eval is no threshold miss, whatever the eval saw.
            dead = ", ".join(p.name for p in run.exited(wait=0))
            return Verdict.failure(
                FailureKind.SERVER_DIED, f"{dead} died during the run; {error.message}",
                run.diagnostics(),
            )  # fmt: skip
        diagnostics = error.diagnostics
        if not diagnostics and run is not None and error.kind not in CHECK_KINDS:
            diagnostics = run.diagnostics()
        return Verdict.failure(error.kind, error.message, diagnostics)
    trace = member.out_dir / "runner-traceback.txt"
    with contextlib.suppress(OSError):  # a full disk: the verdict still names the error
        trace.parent.mkdir(parents=True, exist_ok=True)
        trace.write_text("".join(traceback.format_exception(error)))
    return Verdict.failure(
        FailureKind.INTERNAL, f"internal error {type(error).__name__}: {error} (traceback in"
        f" {trace})", run.diagnostics() if run is not None and run.processes else "",
    )  # fmt: skip


def run_member(member: Member, run: DeploymentRun, suites_dir: Path, token: CancelToken
               ) -> Verdict:  # fmt: skip
    """Checks and suite of one job against the running servers, watched for deaths."""
    result = member.result
    _record(result, run)
    member.write()
    with LivenessWatch(run.processes, token):
        with result.phase("checks"):
            run_checks(run, result, token.stop, member.job.suite.sglang_steps)
        member.write()
        with result.phase("eval"):
            run_suite(member.job, run, result, suites_dir, member.out_dir, token)
    return Verdict.passed()


def _not_run(members: list[Member], token: CancelToken, timeout: float | None) -> None:
    """Jobs of the group after the one that ended the launch: skipped, saying why."""
    ended = next((m for m in members if m.verdict and m.verdict.status is not Status.PASSED),
                 None)  # fmt: skip
    for member in members:
        if member.verdict is not None:
            continue
        if ended is not None and ended.verdict is not None:
            kind = ended.verdict.kind
            member.verdict = Verdict.skipped(
                f"not run: the shared launch ended during {ended.job.id}"
                f" ({ended.verdict.status.value})", kind,
            )  # fmt: skip
        elif token.interruption is not None:
            member.verdict = interruption_verdict(token.interruption, timeout)


def run_group(
    jobs: Sequence[Job],
    settings: LaunchSettings,
    out_dirs: Sequence[Path],
    suites_dir: Path,
    timeout: float | None = None,
) -> list[JobResult]:
    """Jobs whose servers start identically, run one after another against one launch
    (a large model's launch costs minutes of GPU time); a single job is a group of one.
    Each job keeps its own folder, result.json, records and verdict; the launch, its
    logs and the teardown belong to the first."""
    members = [
        Member(
            job,
            out_dir,
            JobResult(job.id, job.stage, settings.engine, job.gpus, sglang_suite=job.sglang_suite),
        )
        for job, out_dir in zip(jobs, out_dirs, strict=True)
    ]
    first = members[0]
    provenance = collect_provenance(settings.env)  # the servers' env: its GPU mask counts
    for member in members:
        member.result.threshold_evidence = member.job.evidence()
        member.result.provenance = provenance
        if member is not first:
            member.result.launched_by = first.job.id
        member.write()

    def stopped(run: DeploymentRun) -> None:
        """Processes gone, release not yet confirmed: results on disk while the cancel
        window is still open."""
        _not_run(members, token, timeout)
        for member in members:
            _record(member.result, run)
            if member.verdict is not None:
                member.result.finish(member.verdict)
            member.write()

    token = CancelToken()
    run: DeploymentRun | None = None
    started = time.monotonic()
    with CancelWatch(token, timeout) as watch:
        try:
            with launched(first.job, replace(settings, out_dir=first.out_dir), watch,
                          on_stopped=stopped, results=[m.out_dir / "result.json"
                                                       for m in members]) as run:  # fmt: skip
                first.result.phases["launch"] = round(time.monotonic() - started, 3)
                say("ready: " + ", ".join(f"{p.role} {p.url}" for p in run.processes))
                for member in members:
                    try:
                        member.verdict = run_member(member, run, suites_dir, token)
                    except (RunInterrupted, Exception) as error:
                        member.verdict = verdict_of(error, run, token, member, timeout)
                    if member.verdict.status is not Status.PASSED and (
                        token.interruption is not None or run.exited(wait=0)
                    ):
                        break  # the servers are gone: the jobs after this one cannot run
                teardown_started = time.monotonic()
        except (RunInterrupted, Exception) as error:  # the launch itself failed
            first.result.phases.setdefault("launch", round(time.monotonic() - started, 3))
            teardown_started = time.monotonic()
            if first.verdict is None:
                first.verdict = verdict_of(error, None, token, first, timeout)
        first.result.phases["teardown"] = round(time.monotonic() - teardown_started, 3)
    _not_run(members, token, timeout)
    problems = run.teardown_problems if run is not None else []
    scrubber = job_scrubber(first.job, settings.env, run)
    unwritable: FatalError | None = None
    for member in members:
        assert member.verdict is not None
        verdict = _after_teardown(member.verdict, token, problems, timeout)
        member.verdict = replace(verdict, diagnostics=scrubber.text(verdict.diagnostics))
        member.result.finish(member.verdict)
        try:
            member.write()
            write_junit(member.result, member.out_dir / "junit.xml")
        except FatalError as error:  # result.json on a full disk: said once all are scrubbed
            unwritable = unwritable or error
        except OSError as error:  # junit.xml on a full disk
            unwritable = unwritable or UsageError(
                f"{member.out_dir}: cannot write junit.xml ({error.strerror or error}); free"
                " space there, or name another folder with --results"
            )  # fmt: skip
        scrub_folder(member.out_dir, scrubber)  # the server's own log prints its api key
        append_step_summary(member.result, settings.env)
    if unwritable is not None:
        raise unwritable
    return [member.result for member in members]


def job_scrubber(job: Job, env: Mapping[str, str], run: DeploymentRun | None) -> Scrubber:
    """The secrets a job's files and output may hold: the runner's environment, the env
    stages.toml gives each server, and the secret-looking flags of the servers' planned
    commands (known even when the launch failed before a process existed)."""
    servers = job.deployment.servers
    server_env = {f"{server.role}:{name}": value for server in servers
                  for name, value in server.env}  # fmt: skip
    commands = [to_argv(server.args) for server in servers]
    commands += [p.command for p in run.processes] if run is not None else []
    return Scrubber({**env, **server_env}, commands)


def _after_teardown(
    verdict: Verdict, token: CancelToken, problems: list[str], timeout: float | None
) -> Verdict:
    """A signal during teardown still cancels a job that had passed; a teardown that left
    something behind is an error (a cancellation or timeout keeps its own status)."""
    if verdict.status is Status.PASSED and token.interruption is not None:
        verdict = interruption_verdict(token.interruption, timeout)
    if not problems:
        return verdict
    note = "teardown incomplete: " + "; ".join(problems)
    reason = f"{verdict.reason}; {note}" if verdict.reason else note
    if verdict.status in (Status.CANCELLED, Status.TIMEOUT):
        return replace(verdict, reason=reason)
    return Verdict.failure(FailureKind.TEARDOWN_INCOMPLETE, reason, verdict.diagnostics)


def report(result: JobResult, result_path: Path) -> None:
    """One block per job: the verdict line, then (on failure) what explains it."""
    line = f"{result.job}: {result.status.value}"
    if result.reason:
        line += f": {result.reason}"
    if result.exit_code:
        print(f"sglang-ci: {line}", flush=True)
        if result.diagnostics:
            print(result.diagnostics, flush=True)
    else:
        say(line)
    say(f"result: {result_path}")
