"""The one orchestrator: `job`, `run --stage`, the nox sessions and `calibrate` all come
here. ``run_jobs`` checks everything that can be checked before a process starts,
groups consecutive jobs whose servers start identically into one launch, retries what
is retriable when retries are on, stops at the first failure unless continue-on-error
(the jobs not run are recorded as skipped), and prints the stage table. The policy is
SGLang's run_suite.py (plan.policy)."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from sglang_ci.config.errors import ConfigError, UsageError
from sglang_ci.config.model import Config, Job
from sglang_ci.config.schema import FileJob
from sglang_ci.config.secrets import Environment
from sglang_ci.engines import registry
from sglang_ci.evals.run import EVALS, check_local_data
from sglang_ci.history.quarantine import in_force, note
from sglang_ci.launch.cancel import CancelToken, CancelWatch
from sglang_ci.launch.gpus import require_gpus, visible_gpus
from sglang_ci.launch.launcher import LaunchSettings
from sglang_ci.outcome.errors import GpuShortageError
from sglang_ci.outcome.kinds import FailureKind, exit_code
from sglang_ci.outcome.retry import attempt_row, classify
from sglang_ci.outcome.verdict import Status
from sglang_ci.plan.file_budget import FileBudget, file_key
from sglang_ci.results.job_folder import claimed, require_writable
from sglang_ci.results.result_file import JobResult
from sglang_ci.results.summary import stage_table
from sglang_ci.run.attempts import attempted
from sglang_ci.run.cleanup import cleanup_before_run
from sglang_ci.run.console import report, say
from sglang_ci.run.file_job import run_file_job
from sglang_ci.run.options import LaunchOptions, RunOptions
from sglang_ci.run.refused import record_refused, skip_jobs, spent_job
from sglang_ci.run.server_job import PACKAGED_SUITES, run_group


def suites_dir(config: Config) -> Path:
    """suites/ beside stages.toml when there is one, else the packaged suites; a suite
    without a module beside stages.toml still runs the packaged one (run_suite)."""
    beside = config.source.parent / "suites"
    return beside if beside.is_dir() else PACKAGED_SUITES


def data_defaults(engine: str, env: Mapping[str, str]) -> dict[str, str]:
    """The engine's environment defaults where ``env`` leaves them unset (for the stub: the
    shipped sample data as its answer key and the evals' data), each one said, never
    silently; the real engine adds none."""
    from sglang_ci.evals.data import GSM8K, HELLASWAG

    defaults = registry.engine(engine).data_defaults({s.name: s.env for s in (GSM8K, HELLASWAG)})
    chosen = {key: value for key, value in defaults.items() if not env.get(key)}
    if chosen:
        say(f"{engine} engine: shipped sample data (not GSM8K or HellaSwag) for "
            + ", ".join(sorted(chosen)))  # fmt: skip
    return {**env, **chosen}


def launch_settings(
    options: LaunchOptions, out_dir: Path, env: Mapping[str, str], job: Job
) -> LaunchSettings:
    values = data_defaults(options.engine, env)
    return LaunchSettings(
        engine=options.engine, python=sys.executable, out_dir=out_dir,
        launch_timeout=options.ready_within(job.launch_timeout), env=Environment(values),
        request_timeout=options.request_timeout, sglang_sequence=options.sglang_sequence,
    )  # fmt: skip


def check_runnable(jobs: Sequence[Job], engine: str, env: Mapping[str, str]) -> None:
    """Before any process starts: every threshold known, the eval data a local file
    gives is valid, enough GPUs for the largest job."""
    checked = set()  # a stage's jobs mostly share their eval settings: read each file once
    for job in jobs:
        if job.missing_threshold:
            raise ConfigError(job.missing_threshold)
        for name, _ in job.thresholds:
            if name in EVALS and job.eval is not None and (name, job.eval) not in checked:
                check_local_data(name, job.eval, env)
                checked.add((name, job.eval))
    if registry.engine(engine).uses_gpus and jobs:
        largest = max(jobs, key=lambda job: job.gpus)
        require_gpus(largest.id, largest.gpus, visible_gpus(env))


def run_with_retries(config: Config, job: Job, options: RunOptions, env: Mapping[str, str],
                     time_limit: float | None = None) -> JobResult:  # fmt: skip
    """One job, attempted until it passes, fails for good, or runs out of attempts (one
    unless retries are on); each attempt has a fresh cancel token and the full time
    limit (``time_limit``: what its SGLang file has left), and the earlier attempts'
    folders stay on disk."""
    policy = options.policy(config.stages[job.stage].policy)
    if time_limit is not None:
        policy = replace(policy, time_limit=time_limit)

    with claimed(Path(options.results), job.id, options.keep_earlier) as out_dir:

        def attempt_once() -> JobResult:
            settings = launch_settings(options, out_dir, env, job)
            return run_group([job], settings, [out_dir], suites_dir(config),
                             policy.time_limit)[0]  # fmt: skip

        result = attempted(job.id, out_dir, policy, attempt_once,
                           lambda done: classify(done.verdict))  # fmt: skip
    report(result, out_dir / "result.json")
    return result


def run_shared(config: Config, jobs: Sequence[Job], options: RunOptions, env: Mapping[str, str],
               budget: FileBudget) -> list[JobResult]:  # fmt: skip
    """Jobs of one launch group, one launch; retries are per job, so none here."""
    say(f"one launch for {len(jobs)} jobs: {', '.join(j.id for j in jobs)} (no retries inside"
        " a shared launch)")  # fmt: skip
    with contextlib.ExitStack() as folders:
        out_dirs = [folders.enter_context(claimed(Path(options.results), job.id,
                                                  options.keep_earlier))
                    for job in jobs]  # fmt: skip
        # SGLang's limit is per file, and one file may launch once for several tests:
        # here each SGLang file among the jobs adds what it has left of its limit.
        policy = options.policy(config.stages[jobs[0].stage].policy)
        firsts = {file_key(config, job.id): job.id for job in reversed(jobs)}
        timeout = sum(budget.left(first, policy.time_limit) for first in firsts.values())
        settings = launch_settings(options, out_dirs[0], env, jobs[0])
        results = run_group(jobs, settings, out_dirs, suites_dir(config), timeout)
        for result, out_dir in zip(results, out_dirs, strict=True):
            result.attempts = [attempt_row(1, result.verdict, False, "shared launch")]
            result.write(out_dir / "result.json")
    for result, out_dir in zip(results, out_dirs, strict=True):
        report(result, out_dir / "result.json")
    return results


def run_groups(config: Config, ids: Sequence[str]) -> list[list[Job] | FileJob]:
    """What runs, in order: runs of consecutive jobs whose servers start identically
    (partitioning keeps such jobs next to each other; each run shares one launch), and
    registered files, one by one."""
    groups: list[list[Job] | FileJob] = []
    for unit in ids:
        if unit in config.files:
            groups.append(config.files[unit])
            continue
        job = config.jobs[unit]
        last = groups[-1] if groups else None
        if isinstance(last, list) and last[0].launch_key == job.launch_key:
            last.append(job)
        else:
            groups.append([job])
    return groups


def check_files_runnable(files: Sequence[FileJob], engine: str) -> None:
    """A registered file launches its own servers: a stand-in engine cannot run them."""
    if files and not registry.engine(engine).runs_registered_files:
        raise UsageError(
            f"{files[0].id}: a registered SGLang file launches its own servers, so --engine"
            f" {engine} cannot run it; rehearse it with --dry-run (the plan, partitions, matrix)"
        )


def run_jobs(
    config: Config, job_ids: Sequence[str], options: RunOptions, env: Mapping[str, str],
    *, title: str | None = None,
) -> int:  # fmt: skip
    """Run the jobs and registered files in order; with a ``title`` (a stage or a partition
    of one), end with the stage table. Returns the exit code: 0, the one failure's code, 1
    for several, 130 when cancelled (what follows a cancellation is not started)."""
    jobs = [config.jobs[unit] for unit in job_ids if unit in config.jobs]
    files = [config.files[unit] for unit in job_ids if unit in config.files]
    check_files_runnable(files, options.engine)
    if files and registry.engine(options.engine).uses_gpus:
        needed, seen = max(f.gpus for f in files), visible_gpus(env)
        if seen.count < needed:  # run_suite checks none: the file picks its GPUs itself
            say(f"warning: the registered files' stage has {needed} GPU(s) but"
                f" {seen.count} are visible ({seen.source}); they run anyway, as run_suite"
                " runs them")  # fmt: skip
    try:
        check_runnable(jobs, options.engine, env)
    except GpuShortageError as error:
        record_refused([*jobs, *files], Path(options.results), options.engine, error, env)
        raise
    require_writable(Path(options.results))
    started = time.monotonic()
    groups = run_groups(config, job_ids)
    # Quarantined jobs run and are reported, but neither fail the stage nor stop it.
    quarantined = in_force(config.source)
    token = CancelToken()  # a signal between units: recorded here, the next one not started
    with CancelWatch(token) as watch, watch.shielded():
        cleanup_before_run()  # a runner killed earlier here may hold ports and GPUs
        results = _run_groups(config, groups, options, env, token, quarantined)
    if title is not None:
        print(f"\n{title}, engine {options.engine}:\n{stage_table(results)}")
        for result in results:
            if result.status is Status.SKIPPED:
                print(f"{result.job}: skipped: {result.reason}")
        if registry.engine(options.engine).rehearsal:
            print(f"({options.engine} engine: scores come from its answer key and set accuracy,"
                  " not from a model)")  # fmt: skip
        for result in results:
            if result.job in quarantined and result.status not in _GOOD:
                print(f"{result.job}: {result.status}, quarantined"
                      f" ({note(quarantined[result.job])}): does not fail the stage")  # fmt: skip
        print(f"wall time: {time.monotonic() - started:.1f} s")
    if token.interruption is not None:
        return exit_code(FailureKind.CANCELLED)
    # One job run on its own keeps its verdict; in a stage, a quarantined failure is not
    # the stage's (a cancellation still is).
    counted = [r for r in results if title is None or r.job not in quarantined
               or r.failure_kind is FailureKind.CANCELLED]  # fmt: skip
    return overall_exit_code(counted, title is not None)


def _run_groups(
    config: Config, groups: Sequence[list[Job] | FileJob], options: RunOptions,
    env: Mapping[str, str], token: CancelToken, quarantined: Mapping[str, object],
) -> list[JobResult]:  # fmt: skip
    """The groups in order until a cancellation, or a failure with fail-fast (a
    quarantined job's failure stops nothing)."""
    results: list[JobResult] = []
    budget = FileBudget(config)  # what each SGLang file has left of its one time limit
    for index, group in enumerate(groups):
        if token.interruption is not None:
            break
        began = time.monotonic()
        if isinstance(group, FileJob):
            policy = options.policy(config.stages[group.stage].policy)
            results.append(run_file_job(group, policy, Path(options.results), env,
                                        options.keep_earlier))  # fmt: skip
        elif len(group) == 1:
            limit = options.policy(config.stages[group[0].stage].policy).time_limit
            left = budget.left(group[0].id, limit)
            results.append(run_with_retries(config, group[0], options, env, left) if left > 0
                           else spent_job(group[0], options, limit, env))  # fmt: skip
        else:
            results += run_shared(config, group, options, env, budget)
        if not isinstance(group, FileJob):
            budget.spend([job.id for job in group], time.monotonic() - began)
        if token.interruption is not None or any(
            result.failure_kind is FailureKind.CANCELLED for result in results
        ):
            break  # cancelled: stop the stage
        failed = next((r for r in results if r.status not in _GOOD
                       and r.job not in quarantined), None)  # fmt: skip
        stage = group.stage if isinstance(group, FileJob) else group[0].stage
        if failed and not options.policy(config.stages[stage].policy).continue_on_error:
            rest = [unit for later in groups[index + 1 :]
                    for unit in ([later] if isinstance(later, FileJob) else later)]  # fmt: skip
            results += skip_jobs(rest, options, f"not run: fail-fast after {failed.job}"
                                 f" {failed.status} (continue-on-error is off)", env)  # fmt: skip
            break
    return results


_GOOD = (Status.PASSED, Status.SKIPPED)


def overall_exit_code(results: Sequence[JobResult], several: bool) -> int:
    if any(result.failure_kind is FailureKind.CANCELLED for result in results):
        return exit_code(FailureKind.CANCELLED)
    failed = [result for result in results if result.exit_code]
    if not failed:
        return 0
    # Jobs skipped because their shared launch ended carry its kind: not failures of their own.
    ran = [result for result in failed if result.status is not Status.SKIPPED] or failed
    if several:
        print(f"sglang-ci: {len(failed)} job(s) failed: {', '.join(r.job for r in failed)}",
              file=sys.stderr)  # fmt: skip
    if len(ran) > 1:
        return 1
    return ran[0].exit_code or 1
