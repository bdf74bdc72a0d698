"""The server job, entry ``run_group``: one launch and the jobs that share it, start to
end: launch -> checks (server_checks.py) -> suite -> teardown -> result.json, each job
with a typed verdict (verdict_rules.py). Its twin is file_job.py.

Whatever happens (a check fails, a server dies, a signal or the time limit arrives, a
bug in this code), the launch lifecycle tears everything down and every result is
written; only the verdicts differ. Each call owns a fresh cancel token, so nothing one
run saw (a timeout, a signal) can reach the next.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sglang_ci.config.errors import UsageError
from sglang_ci.config.model import Job
from sglang_ci.config.secrets import Scrubber, redacted, redacted_argv
from sglang_ci.config.server_args import to_argv
from sglang_ci.launch.cancel import CancelToken, CancelWatch
from sglang_ci.launch.launcher import DeploymentRun, LaunchSettings
from sglang_ci.launch.lifecycle import launched
from sglang_ci.launch.liveness import LivenessWatch
from sglang_ci.outcome.errors import FatalError, RunInterrupted
from sglang_ci.outcome.kinds import FailureKind
from sglang_ci.outcome.verdict import Status, Verdict
from sglang_ci.results.junit import write_junit
from sglang_ci.results.provenance import collect_provenance
from sglang_ci.results.result_file import JobResult
from sglang_ci.results.scrub import scrub_folder
from sglang_ci.results.summary import append_step_summary
from sglang_ci.run.console import say
from sglang_ci.run.server_checks import run_checks
from sglang_ci.run.verdict_rules import (
    after_teardown,
    interruption_verdict,
    suite_failure,
    verdict_of,
)

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
                        member.verdict = verdict_of(error, run, token, member.out_dir, timeout)
                    if member.verdict.status is not Status.PASSED and (
                        token.interruption is not None or run.exited(wait=0)
                    ):
                        break  # the servers are gone: the jobs after this one cannot run
                teardown_started = time.monotonic()
        except (RunInterrupted, Exception) as error:  # the launch itself failed
            first.result.phases.setdefault("launch", round(time.monotonic() - started, 3))
            teardown_started = time.monotonic()
            if first.verdict is None:
                first.verdict = verdict_of(error, None, token, first.out_dir, timeout)
        first.result.phases["teardown"] = round(time.monotonic() - teardown_started, 3)
    _not_run(members, token, timeout)
    problems = run.teardown_problems if run is not None else []
    scrubber = job_scrubber(first.job, settings.env, run)
    unwritable: FatalError | None = None
    for member in members:
        assert member.verdict is not None
        verdict = after_teardown(member.verdict, token, problems, timeout)
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
