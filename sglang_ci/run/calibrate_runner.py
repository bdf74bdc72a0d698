"""The runs of a calibration: one launch with a cache flush between runs (or a relaunch
per run), through the same launch lifecycle, cancel token and liveness watch as every
job. Only complete evals become runs: an eval that was stopped, or in which every request
failed, ends the calibration with an error, so ``--write`` never records it."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from sglang_ci.calibration.calibrate import (
    Calibration,
    CalibrationRun,
    baseline_entries,
    check_scores,
    draw,
    gpu_name,
    report,
)
from sglang_ci.config.baselines import BASELINES_FILE, append_runs
from sglang_ci.config.errors import UsageError
from sglang_ci.config.model import Config, Job
from sglang_ci.engines import registry
from sglang_ci.evals.pool import EvalStopped
from sglang_ci.evals.run import run_eval
from sglang_ci.launch.cancel import CancelToken, CancelWatch
from sglang_ci.launch.gpus import require_gpus, visible_gpus
from sglang_ci.launch.http_client import make_session
from sglang_ci.launch.launcher import DeploymentRun, LaunchSettings
from sglang_ci.launch.lifecycle import launched
from sglang_ci.launch.liveness import LivenessWatch
from sglang_ci.launch.server_api import flush_cache, server_info
from sglang_ci.outcome.errors import RunInterrupted, TeardownError
from sglang_ci.plan.dry_run import render_calibration_plan
from sglang_ci.results.job_folder import claimed, require_writable
from sglang_ci.results.result_file import JobResult
from sglang_ci.results.scrub import scrub_folder
from sglang_ci.run.cleanup import cleanup_before_run
from sglang_ci.run.options import CalibrateOptions
from sglang_ci.run.orchestrator import launch_settings
from sglang_ci.run.server_checks import run_checks
from sglang_ci.run.server_job import job_scrubber


def _one_eval(job: Job, run: DeploymentRun, settings: LaunchSettings, token: CancelToken,
              number: int) -> tuple[CalibrationRun, str]:  # fmt: skip
    """Flush, one eval, its records on disk; the server's version for the entries."""
    eval_name = job.suite.score
    assert eval_name is not None and job.eval is not None  # a scored suite has both
    version = ""
    for process in run.servers:
        with make_session(process.api_key) as session:
            flush_cache(session, process.url)
            version = str(server_info(session, process.url).get("version", ""))
    try:
        outcome = run_eval(
            eval_name, run.url, job.eval, data=None, env=settings.env, api_key=run.api_key,
            request_timeout=settings.request_timeout, stop=token.stop,
        )  # fmt: skip
    except EvalStopped:
        raise token.fresh() from None
    folder = settings.out_dir / f"run-{number:02d}"
    records = outcome.write(folder)
    outcome.require_answers()  # all failed: an error, never a score of 0
    print(f"sglang-ci: run {number}: {eval_name} {outcome.score:.4f}", flush=True)
    return CalibrationRun(number, outcome.score, len(outcome.records), records), version


def run_calibration(job: Job, settings: LaunchSettings, runs: int, relaunch: bool,
                    env: Mapping[str, str]) -> Calibration:  # fmt: skip
    """N evals of the job's score; every run's records stay in out_dir/run-NN/."""
    eval_name = job.suite.score
    if eval_name is None:
        raise UsageError(f"{job.id}: suite '{job.suite.name}' has no score to calibrate")
    done: list[CalibrationRun] = []
    version = ""
    token = CancelToken()
    with CancelWatch(token) as watch:
        number = 0
        while number < runs:
            with launched(job, settings, watch) as run, LivenessWatch(run.processes, token):
                run_checks(run, JobResult(job.id, job.stage, settings.engine, job.gpus), token.stop)
                for _ in range(1 if relaunch else runs - number):
                    number += 1
                    completed, version = _one_eval(job, run, settings, token, number)
                    done.append(completed)
            _raise_teardown_problems(run)
    if token.interruption is not None:  # arrived during the last teardown
        raise token.fresh()
    return Calibration(job, eval_name, done, settings.engine, version,
                       gpu_name(settings.engine, job, env), relaunch)  # fmt: skip


def _raise_teardown_problems(run: DeploymentRun) -> None:
    if run.teardown_problems:
        raise TeardownError("teardown incomplete: " + "; ".join(run.teardown_problems))


def interrupted_message(error: RunInterrupted, out_dir: Path) -> str:
    return f"calibration stopped ({error.kind.value}: {error.cause}); runs so far in {out_dir}"


def calibrate_command(
    config: Config, job: Job, options: CalibrateOptions, env: Mapping[str, str]
) -> int:
    """`calibrate`: the runs, the report, the plot, and with --write the baselines."""
    if options.write and registry.is_rehearsal(options.engine):
        # Refused before any run: stub scores come from its answer key, never from a model.
        raise UsageError("calibrate --write records a model's baseline; the stub engine's"
                         " scores are never one (drop --write to rehearse)")  # fmt: skip
    if options.dry_run:
        print(render_calibration_plan(job, config.stages[job.stage], options.engine,
                                      options.runs, options.relaunch))  # fmt: skip
        return 0
    if registry.engine(options.engine).uses_gpus:
        require_gpus(job.id, job.gpus, visible_gpus(env))
    folder = Path(options.results) / "calibrate"
    require_writable(folder)
    cleanup_before_run()
    with claimed(folder, job.id, options.keep_earlier) as out_dir:
        settings = launch_settings(options, out_dir, env, job)
        try:
            result = run_calibration(job, settings, options.runs, options.relaunch, env)
        except RunInterrupted as error:
            print(f"sglang-ci: {interrupted_message(error, out_dir)}", file=sys.stderr)
            return error.return_code
        finally:  # the servers' logs print their arguments, api key included
            scrub_folder(out_dir, job_scrubber(job, settings.env, None))
    check_scores(result.scores)
    print(report(result))
    picture = draw(result, out_dir / "calibration.png")
    missing = "(install matplotlib, or sglang-ci[plot], for calibration.png)"
    print(f"  plot         {picture or missing}")
    print(f"  records      {out_dir}/run-*/{result.eval_name}.jsonl  (compare: python -m"
          f" sglang_ci diff {out_dir})")  # fmt: skip
    if options.write:
        baselines = config.source.parent / BASELINES_FILE
        append_runs(baselines, job.id, baseline_entries(result))
        print(f"  written      {len(result.runs)} runs to {baselines};"
              " `python -m sglang_ci validate` shows the derived threshold")  # fmt: skip
    return 0
