"""The one orchestrator: `job`, `run --stage`, the nox sessions and `calibrate` all come
here. ``run_jobs`` checks everything that can be checked before a process starts,
groups consecutive jobs whose servers start identically into one launch, retries what
is retriable when retries are on, stops at the first failure unless continue-on-error
(the jobs not run are recorded as skipped), and prints the stage table. The policy is
SGLang's run_suite.py (plan.policy)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from sglang_ci.config.errors import ConfigError, FailureKind, GpuShortageError, exit_code
from sglang_ci.config.model import Config, Job
from sglang_ci.config.secrets import Environment
from sglang_ci.config.stub_env import STUB_DATA_ENV
from sglang_ci.launch.gpus import require_gpus, visible_gpus
from sglang_ci.launch.launcher import LaunchSettings
from sglang_ci.results.job_folder import claimed, require_writable
from sglang_ci.results.provenance import collect_provenance
from sglang_ci.results.result_file import JobResult, Status, Verdict
from sglang_ci.results.summary import stage_table
from sglang_ci.run.cleanup import cleanup_before_run
from sglang_ci.run.job_runner import report, run_group, say
from sglang_ci.run.options import LaunchOptions, RunOptions
from sglang_ci.run.refused import record_refused
from sglang_ci.run.retry import classify


def suites_dir(config: Config) -> Path:
    """suites/ beside stages.toml when there is one, else the project's own."""
    beside = config.source.parent / "suites"
    return beside if beside.is_dir() else Path(__file__).resolve().parents[2] / "suites"


def stub_data_defaults(env: Mapping[str, str]) -> dict[str, str]:
    """For a stub rehearsal, unless set otherwise: the shipped sample data as the stub's
    answer key and as the evals' data (never for the real engine, never silently)."""
    from sglang_ci.data import GSM8K_SAMPLE, HELLASWAG_SAMPLE
    from sglang_ci.evals.data import GSM8K, HELLASWAG

    defaults = {
        STUB_DATA_ENV: os.pathsep.join([str(GSM8K_SAMPLE), str(HELLASWAG_SAMPLE)]),
        GSM8K.env: str(GSM8K_SAMPLE),
        HELLASWAG.env: str(HELLASWAG_SAMPLE),
    }
    chosen = {key: value for key, value in defaults.items() if not env.get(key)}
    if chosen:
        say("stub engine: shipped sample data (not GSM8K or HellaSwag) for "
            + ", ".join(sorted(chosen)))  # fmt: skip
    return {**env, **chosen}


def launch_settings(
    options: LaunchOptions, out_dir: Path, env: Mapping[str, str]
) -> LaunchSettings:
    values = stub_data_defaults(env) if options.engine == "stub" else dict(env)
    return LaunchSettings(
        engine=options.engine, python=sys.executable, out_dir=out_dir,
        launch_timeout=options.ready_within, env=Environment(values),
        request_timeout=options.request_timeout,
    )  # fmt: skip


def check_runnable(jobs: Sequence[Job], engine: str, env: Mapping[str, str]) -> None:
    """Before any process starts: every threshold known, enough GPUs for the largest job."""
    for job in jobs:
        if job.missing_threshold:
            raise ConfigError(job.missing_threshold)
    if engine == "sglang" and jobs:
        largest = max(jobs, key=lambda job: job.gpus)
        require_gpus(largest.id, largest.gpus, visible_gpus(env))


def launch_groups(jobs: Sequence[Job]) -> list[list[Job]]:
    """Runs of consecutive jobs whose servers start identically (partitioning keeps such
    jobs next to each other): each run shares one launch."""
    groups: list[list[Job]] = []
    for job in jobs:
        if groups and groups[-1][0].launch_key == job.launch_key:
            groups[-1].append(job)
        else:
            groups.append([job])
    return groups


def _attempt_row(attempt: int, result: JobResult, retriable: bool, why: str) -> dict[str, object]:
    return {"attempt": attempt, "status": result.status.value, "reason": result.reason,
            "failure_kind": result.failure_kind.value if result.failure_kind else None,
            "retriable": retriable, "why": why}  # fmt: skip


def run_with_retries(config: Config, job: Job, options: RunOptions, env: Mapping[str, str]
                     ) -> JobResult:  # fmt: skip
    """One job, attempted until it passes, fails for good, or runs out of attempts (one
    unless retries are on); each attempt has a fresh cancel token and the full time
    limit, and the earlier attempts' folders stay on disk."""
    policy = options.policy(config.stages[job.stage].policy)
    with claimed(Path(options.results), job.id) as out_dir:
        earlier: list[dict[str, object]] = []
        for attempt in range(1, policy.attempts + 1):
            settings = launch_settings(options, out_dir, env)
            result = run_group([job], settings, [out_dir], suites_dir(config),
                               policy.time_limit)[0]  # fmt: skip
            retriable, why = classify(result.verdict)
            row = _attempt_row(attempt, result, retriable, why)
            if result.status is Status.PASSED or not retriable or attempt == policy.attempts:
                break
            earlier.append(row)
            kept = out_dir.with_name(f"{out_dir.name}-attempt-{attempt}")
            out_dir.rename(kept)  # the failed attempt's logs and records stay on disk
            say(f"{job.id}: attempt {attempt} {result.status} ({why}); retrying in"
                f" {policy.retry_wait:g} s (its files: {kept})")  # fmt: skip
            time.sleep(policy.retry_wait)  # ci_utils.py: retry_wait_seconds between attempts
        result.attempts = [*earlier, row]
        result.write(out_dir / "result.json")
    report(result, out_dir / "result.json")
    return result


def run_shared(config: Config, jobs: Sequence[Job], options: RunOptions, env: Mapping[str, str]
               ) -> list[JobResult]:  # fmt: skip
    """Jobs of one launch group, one launch; retries are per job, so none here."""
    say(f"one launch for {len(jobs)} jobs: {', '.join(j.id for j in jobs)} (no retries inside"
        " a shared launch)")  # fmt: skip
    with contextlib.ExitStack() as folders:
        out_dirs = [folders.enter_context(claimed(Path(options.results), job.id))
                    for job in jobs]  # fmt: skip
        # SGLang's limit is per file, and one file may launch once for several tests:
        # here each job sharing the launch adds its own limit.
        policy = options.policy(config.stages[jobs[0].stage].policy)
        timeout = policy.time_limit * len(jobs)
        settings = launch_settings(options, out_dirs[0], env)
        results = run_group(jobs, settings, out_dirs, suites_dir(config), timeout)
        for result, out_dir in zip(results, out_dirs, strict=True):
            result.attempts = [_attempt_row(1, result, False, "shared launch")]
            result.write(out_dir / "result.json")
    for result, out_dir in zip(results, out_dirs, strict=True):
        report(result, out_dir / "result.json")
    return results


def run_jobs(
    config: Config, job_ids: Sequence[str], options: RunOptions, env: Mapping[str, str],
    *, title: str | None = None,
) -> int:  # fmt: skip
    """Run the jobs in order; with a ``title`` (a stage or a partition of one), end with the
    stage table. Returns the exit code: 0, the one failure's code, 1 for several, 130
    when cancelled (the jobs after a cancellation are not started)."""
    jobs = [config.jobs[job_id] for job_id in job_ids]
    try:
        check_runnable(jobs, options.engine, env)
    except GpuShortageError as error:
        record_refused(jobs, Path(options.results), options.engine, error)
        raise
    require_writable(Path(options.results))
    cleanup_before_run()  # a runner killed earlier on this machine may hold ports and GPUs
    started = time.monotonic()
    results: list[JobResult] = []
    groups = launch_groups(jobs)
    for index, group in enumerate(groups):
        if len(group) == 1:
            results.append(run_with_retries(config, group[0], options, env))
        else:
            results += run_shared(config, group, options, env)
        if any(result.failure_kind is FailureKind.CANCELLED for result in results):
            break  # cancelled: stop the stage
        failed = next((r for r in results if r.status not in _GOOD), None)
        if failed and not options.policy(config.stages[group[0].stage].policy).continue_on_error:
            rest = [job for later in groups[index + 1 :] for job in later]
            results += skip_jobs(rest, options, f"not run: fail-fast after {failed.job}"
                                 f" {failed.status} (continue-on-error is off)")  # fmt: skip
            break
    if title is not None:
        print(f"\n{title}, engine {options.engine}:\n{stage_table(results)}")
        for result in results:
            if result.status is Status.SKIPPED:
                print(f"{result.job}: skipped: {result.reason}")
        if options.engine == "stub":
            print("(stub engine: scores come from its answer key and set accuracy, not from a"
                  " model)")  # fmt: skip
        print(f"wall time: {time.monotonic() - started:.1f} s")
    return overall_exit_code(results, title is not None)


_GOOD = (Status.PASSED, Status.SKIPPED)


def skip_jobs(jobs: Sequence[Job], options: RunOptions, why: str) -> list[JobResult]:
    """Result files for jobs that fail-fast left unrun: `skipped`, and why."""
    skipped = []
    provenance = collect_provenance(os.environ)
    for job in jobs:
        with claimed(Path(options.results), job.id) as out_dir:
            result = JobResult(job.id, job.stage, options.engine, job.gpus)
            result.provenance = provenance
            result.finish(Verdict.skipped(why))
            result.write(out_dir / "result.json")
        say(f"{job.id}: skipped ({why})")
        skipped.append(result)
    return skipped


def overall_exit_code(results: Sequence[JobResult], several: bool) -> int:
    if any(result.failure_kind is FailureKind.CANCELLED for result in results):
        return exit_code(FailureKind.CANCELLED)
    failed = [result for result in results if result.exit_code]
    if not failed:
        return 0
    if several:
        print(f"sglang-ci: {len(failed)} job(s) failed: {', '.join(r.job for r in failed)}",
              file=sys.stderr)  # fmt: skip
        return 1
    return failed[0].exit_code or 1
