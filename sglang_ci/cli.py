"""``python -m sglang_ci``: validate the config, list the jobs, show or run one job.

Each command is a small function returning an exit code; ``__main__`` alone exits.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from sglang_ci.config.errors import ConfigError, UsageError
from sglang_ci.config.model import Config, Job, load_config
from sglang_ci.launch.gpus import require_gpus, visible_gpus
from sglang_ci.plan.commands import ENGINE_MODULES
from sglang_ci.plan.dry_run import render_plan, render_stage_plan
from sglang_ci.results.result_file import job_dir_name

if TYPE_CHECKING:
    from sglang_ci.launch.launcher import LaunchSettings

ENGINES = tuple(ENGINE_MODULES)
DEFAULT_RESULTS = "results"
# SGLang's CI allows 3 x 600 s for large models to load; the stub starts in well under 1 s.
LAUNCH_TIMEOUTS = {"sglang": 1800.0, "stub": 60.0}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sglang_ci",
        description="CI matrix runner for SGLang's GPU end-to-end tests, driven by stages.toml.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, allow_abbrev=False)
        sub.add_argument(
            "--config",
            metavar="PATH",
            help="stages.toml to read (default: $SGLANG_CI_CONFIG, else ./stages.toml)",
        )
        return sub

    command("validate", "check stages.toml and print a one-line summary")
    listing = command("list", "one row per job: session, stage, GPUs, est time, thresholds")
    listing.add_argument("--stage", help="only this stage's jobs")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    plan = command("plan", "the dry run of every job of a stage")
    plan.add_argument("--stage", required=True)
    plan.add_argument("--engine", choices=ENGINES, default="sglang")
    from sglang_ci.evals.cli import add_eval_parser

    add_eval_parser(commands)
    calibrate = command("calibrate", "run a scored job's eval N times; evidence for its threshold")
    calibrate.add_argument("job_id", metavar="JOB", help="a scored job's session id")
    add_calibrate_options(calibrate)
    diff = commands.add_parser(
        "diff", help="questions whose correctness changed between eval runs",
        description="Flip analysis over per-sample records: two or more .jsonl files, or one"
        " calibration folder (run-*/<eval>.jsonl). Exit 0: none flipped, 1: some did.",
        allow_abbrev=False,
    )  # fmt: skip
    diff.add_argument("records", nargs="+", metavar="PATH")
    job = command("job", "run one job (or show its dry run)")
    job.add_argument("job_id", metavar="JOB", help="the job's session id, as `list` shows it")
    add_job_options(job)
    matrix = command("matrix", "the GitHub matrix of stages: one entry per partition (JSON)")
    matrix.add_argument("--stage", action="append", required=True, help="repeatable")
    add_partition_options(matrix)
    run_stage = command("run", "run the jobs of a stage, or of one CI partition of it, in order")
    run_stage.add_argument("--stage", required=True)
    run_stage.add_argument("--partition", metavar="K/N", help="the CI job to reproduce, e.g. 2/4")
    add_partition_options(run_stage)
    add_job_options(run_stage)
    report = command("report", "merge the result.json files of a run into stage summaries")
    report.add_argument("results_dir", metavar="DIR")
    report.add_argument("--durations", metavar="FILE", help="update this durations file")
    report.add_argument("--output", metavar="FILE", help="also write the markdown here")
    part = commands.add_parser(
        "partition", help="split ids over N partitions from a durations file (pytest-split's)",
        description="Read {\"id\": seconds}, print the split as JSON.", allow_abbrev=False,
    )  # fmt: skip
    part.add_argument("--durations", metavar="FILE", required=True)
    part.add_argument("--partitions", type=int, required=True)
    return parser


def add_partition_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--partitions", type=int, default=None,
        help="how many CI jobs (default: from the stage timeout, as compute_partitions.py)",
    )  # fmt: skip
    parser.add_argument(
        "--durations", metavar="FILE", default=None,
        help="measured durations {id: seconds} (default: durations.json beside stages.toml)",
    )  # fmt: skip


def add_calibrate_options(parser: argparse.ArgumentParser) -> None:
    """Options of a calibration; also what ``nox -s "calibrate(...)" --`` accepts."""
    parser.add_argument("--runs", type=int, default=20, help="how many evals (default 20)")
    parser.add_argument(
        "--relaunch", action="store_true",
        help="a fresh server launch per run (default: one launch, cache flushed between runs)",
    )  # fmt: skip
    parser.add_argument(
        "--write", action="store_true",
        help="record the runs in baselines.toml beside stages.toml (comments are kept)",
    )  # fmt: skip
    parser.add_argument("--engine", choices=ENGINES, default="sglang")
    parser.add_argument("--results", metavar="DIR", default=DEFAULT_RESULTS)
    parser.add_argument("--launch-timeout", metavar="SECONDS", type=float, default=None)
    parser.add_argument("--request-timeout", metavar="SECONDS", type=float, default=600.0)


def add_job_options(parser: argparse.ArgumentParser) -> None:
    """Options of one job; also what ``nox -s "<session>" -- ...`` accepts after ``--``."""
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the resolved commands, env, endpoints and eval plan; start nothing",
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="sglang",
        help="sglang (default, needs GPUs) or stub (the protocol stand-in, for rehearsals)",
    )
    parser.add_argument(
        "--results",
        metavar="DIR",
        default=DEFAULT_RESULTS,
        help=f"results folder; each job writes DIR/<job>/ (default: {DEFAULT_RESULTS})",
    )
    parser.add_argument(
        "--launch-timeout",
        metavar="SECONDS",
        type=float,
        default=None,
        help="how long a server may take to become ready (default: 1800, stub: 60)",
    )
    parser.add_argument(
        "--request-timeout",
        metavar="SECONDS",
        type=float,
        default=600.0,
        help="how long one request to a server may take (default: 600)",
    )
    parser.add_argument(
        "--attempts", type=int, default=2,
        help="runs of a job whose failure is retriable (threshold miss, timeout, transient"
        " HTTP); never retried: crashes, OOM, import or config errors (default: 2)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", metavar="SECONDS", type=float, default=None,
        help="a job's time limit (default: max(1.5 x est-time, est-time + 30 min))",
    )  # fmt: skip


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "eval":  # talks to a server; needs no stages.toml
        from sglang_ci.evals.cli import cmd_eval

        return cmd_eval(args)
    if args.command == "diff":
        from sglang_ci.calibration.flips import cmd_diff

        return cmd_diff(args.records)
    if args.command == "partition":
        return cmd_partition(args.durations, args.partitions)
    if args.command == "report":
        return cmd_report(args)
    # A calibration is how a new scored job gets the baseline its threshold needs.
    lenient = args.command == "calibrate"
    config = load_config(args.config, os.environ, Path.cwd(), lenient_scores=lenient)
    if args.command == "validate":
        return cmd_validate(config)
    if args.command == "list":
        return cmd_list(config, args.stage, as_json=args.json)
    if args.command == "plan":
        return cmd_plan(config, args.stage, args.engine)
    if args.command == "calibrate":
        return cmd_calibrate(config, config.find_job(args.job_id), args)
    if args.command == "matrix":
        return cmd_matrix(config, args)
    if args.command == "run":
        return cmd_run(config, args)
    return cmd_job(config, config.find_job(args.job_id), args)


def cmd_validate(config: Config) -> int:
    print(
        f"{config.source.name}: valid: {len(config.stages)} stages, {len(config.models)} models,"
        f" {len(config.suites)} suites, {len(config.jobs)} jobs"
    )
    for job in config.jobs.values():
        if job.baseline is not None and job.suite.score:
            evidence = job.evidence()
            print(
                f"  {job.id}: {job.suite.score} threshold {job.threshold(job.suite.score):g}"
                f" from {evidence['observations']} recorded runs ({evidence['rule']})"
                + (" [pinned in stages.toml]" if job.threshold_origin == "pinned" else "")
            )
    return 0


def job_row(job: Job) -> dict[str, object]:
    return {
        "session": job.id,
        "stage": job.stage,
        "gpus": job.gpus,
        "est_time": job.est_time,
        "thresholds": dict(job.thresholds),
        "score_threshold": job.evidence(),
    }


def _score_cells(job: Job) -> tuple[str, str, str, str]:
    score = job.suite.score
    if not score:
        return ("", "", "", "")
    evidence = job.evidence()
    margin = evidence["margin"]
    return (
        f"{score} {job.threshold(score):g}",
        str(evidence["rule"]),
        str(evidence["observations"] or ""),
        f"{margin:+.3f}" if isinstance(margin, float) else "",
    )


def cmd_list(config: Config, stage: str | None, *, as_json: bool) -> int:
    jobs = config.stage_jobs(stage) if stage else list(config.jobs.values())
    if as_json:
        print(json.dumps([job_row(job) for job in jobs], indent=2))
        return 0
    header = ("SESSION", "STAGE", "GPUS", "EST", "SCORE", "RULE", "OBS", "MARGIN", "CHECKS")
    table = [header] + [
        (
            job.id, job.stage, str(job.gpus), f"{job.est_time:g}s", *_score_cells(job),
            ", ".join(f"{name} {value:g}" for name, value in job.thresholds
                      if name != job.suite.score),
        )
        for job in jobs
    ]  # fmt: skip
    widths = [max(len(line[col]) for line in table) for col in range(len(header))]
    for line in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )
    return 0


def cmd_plan(config: Config, stage: str, engine: str) -> int:
    print(render_stage_plan(config, stage, engine))
    return 0


def cmd_job(config: Config, job: Job, args: argparse.Namespace) -> int:
    if args.dry_run:
        print(render_plan(job, config.stages[job.stage], args.engine))
        return 0
    if job.missing_threshold:
        raise ConfigError(job.missing_threshold)
    if args.engine == "sglang":
        require_gpus(job.id, job.gpus, visible_gpus(os.environ))
    if args.attempts < 1:
        raise UsageError(f"--attempts must be 1 or more, got {args.attempts}")
    # Imported here: the launcher pulls in requests and psutil, which validate/list/plan
    # (and nox's session listing) never need.
    from sglang_ci.run.job_runner import report, run_job
    from sglang_ci.run.retry import classify, job_timeout

    out_dir = Path(args.results) / job_dir_name(job.id)
    timeout = args.timeout or job_timeout(job.est_time)
    earlier: list[dict[str, object]] = []
    for attempt in range(1, args.attempts + 1):
        outcome = run_job(job, launch_settings(args, out_dir), suites_dir(config), timeout)
        retriable, why = classify(asdict(outcome.result))
        summary = {"attempt": attempt, "status": outcome.result.status,
                   "reason": outcome.result.reason.splitlines()[0] if outcome.result.reason
                   else "", "retriable": retriable, "why": why}  # fmt: skip
        if outcome.exit_code == 0 or not retriable or attempt == args.attempts:
            break
        earlier.append(summary)
        kept = out_dir.with_name(f"{out_dir.name}-attempt-{attempt}")
        shutil.rmtree(kept, ignore_errors=True)
        out_dir.rename(kept)  # the failed attempt's logs and records stay on disk
        print(f"sglang-ci: {job.id}: attempt {attempt} {outcome.result.status} ({why});"
              f" retrying (its files: {kept})", flush=True)  # fmt: skip
    outcome.result.attempts = [*earlier, summary]
    outcome.result.write(out_dir / "result.json")
    report(outcome, out_dir / "result.json")
    return outcome.exit_code


def cmd_matrix(config: Config, args: argparse.Namespace) -> int:
    from sglang_ci.plan.github_matrix import durations_for, matrix, plan_stage

    measured = durations_for(config, args.durations)
    plans = [plan_stage(config, stage, args.partitions, measured) for stage in args.stage]
    print(json.dumps(matrix(config, plans)))
    return 0


def cmd_partition(durations_path: str, count: int) -> int:
    from sglang_ci.plan.partition import read_durations, split

    durations = read_durations(Path(durations_path))
    parts = split(sorted(durations), durations, count)
    print(json.dumps({"partitions": [list(p.ids) for p in parts],
                      "predicted_seconds": [round(p.seconds, 1) for p in parts]}))  # fmt: skip
    return 0


def cmd_run(config: Config, args: argparse.Namespace) -> int:
    """The jobs of one CI job (stage, partition) in the order CI runs them."""
    from sglang_ci.plan.github_matrix import durations_for, plan_stage
    from sglang_ci.plan.partition import parse_partition
    from sglang_ci.results.summary import read_results, stage_table

    config.stage_jobs(args.stage)  # an unknown stage is a one-line error
    if args.partition:
        index, count = parse_partition(args.partition)
        plan = plan_stage(config, args.stage, count, durations_for(config, args.durations))
        ids = list(plan.partitions[index].ids)
    else:
        ids = [job.id for job in config.stage_jobs(args.stage)]
    if args.dry_run:
        if not args.partition:
            print(render_stage_plan(config, args.stage, args.engine))
            return 0
        stage = config.stages[args.stage]
        plans = [render_plan(config.jobs[i], stage, args.engine) for i in ids]
        print(f"stage {args.stage}, partition {args.partition}: {len(ids)} jobs\n")
        print("\n\n".join(plans))
        return 0
    print(f"sglang-ci: stage {args.stage}" + (f", partition {args.partition}" if args.partition
          else "") + f": {len(ids)} jobs: {', '.join(ids)}", flush=True)  # fmt: skip
    started = time.monotonic()
    codes: dict[str, int] = {}
    for group in launch_groups([config.jobs[i] for i in ids]):
        if len(group) == 1:
            codes[group[0].id] = cmd_job(config, group[0], args)
        else:
            codes.update(run_shared(config, group, args))
        if 130 in codes.values():
            break  # cancelled: stop the stage
    paths = [Path(args.results) / job_dir_name(i) / "result.json" for i in ids]
    print(f"\nstage {args.stage}, engine {args.engine}:\n{stage_table(read_results(paths))}")
    if args.engine == "stub":
        print("(stub engine: scores come from its answer key and set accuracy, not from a model)")
    print(f"wall time: {time.monotonic() - started:.1f} s")
    failed = [job_id for job_id, code in codes.items() if code]
    if 130 in codes.values():
        return 130
    if failed:
        print(f"sglang-ci: {len(failed)} job(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def launch_groups(jobs: list[Job]) -> list[list[Job]]:
    """Runs of consecutive jobs whose servers start identically (partitioning keeps such
    jobs next to each other): each run shares one launch."""
    groups: list[list[Job]] = []
    for job in jobs:
        if groups and groups[-1][0].launch_key == job.launch_key:
            groups[-1].append(job)
        else:
            groups.append([job])
    return groups


def run_shared(config: Config, jobs: list[Job], args: argparse.Namespace) -> dict[str, int]:
    """Jobs of one launch group, one launch; retries are per job, so none here."""
    from sglang_ci.run.job_runner import report, run_group
    from sglang_ci.run.retry import job_timeout

    for job in jobs:
        if job.missing_threshold:
            raise ConfigError(job.missing_threshold)
    if args.engine == "sglang":
        require_gpus(jobs[0].id, jobs[0].gpus, visible_gpus(os.environ))
    print(f"sglang-ci: one launch for {len(jobs)} jobs: {', '.join(j.id for j in jobs)}"
          " (no retries inside a shared launch)")  # fmt: skip
    out_dirs = [Path(args.results) / job_dir_name(job.id) for job in jobs]
    timeout = args.timeout or sum(job_timeout(job.est_time) for job in jobs)
    outcomes = run_group(jobs, launch_settings(args, out_dirs[0]), out_dirs,
                         suites_dir(config), timeout)  # fmt: skip
    for outcome, out_dir in zip(outcomes, out_dirs, strict=True):
        result = outcome.result
        result.attempts = [{"attempt": 1, "status": result.status,
                            "reason": result.reason.splitlines()[0] if result.reason else "",
                            "retriable": False, "why": "shared launch"}]  # fmt: skip
        result.write(out_dir / "result.json")
        report(outcome, out_dir / "result.json")
    return {o.result.job: o.exit_code for o in outcomes}


def cmd_report(args: argparse.Namespace) -> int:
    from sglang_ci.results.report import collect, render, update_durations

    results = collect(Path(args.results_dir))
    text = render(results)
    print(text)
    for target in filter(None, (args.output, os.environ.get("GITHUB_STEP_SUMMARY"))):
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")
    if args.durations:
        written = update_durations(Path(args.durations), results)
        print(f"\n{written} durations written to {args.durations}")
    return 0 if results and all(r.get("status") == "passed" for r in results) else 1


def launch_settings(args: argparse.Namespace, out_dir: Path) -> LaunchSettings:
    from sglang_ci.launch.launcher import LaunchSettings

    env = dict(os.environ)
    if args.engine == "stub":
        env = stub_data_defaults(env)
    return LaunchSettings(
        engine=args.engine,
        python=sys.executable,
        out_dir=out_dir,
        launch_timeout=args.launch_timeout or LAUNCH_TIMEOUTS[args.engine],
        env=env,
        request_timeout=args.request_timeout,
    )


def cmd_calibrate(config: Config, job: Job, args: argparse.Namespace) -> int:
    from sglang_ci.calibration import calibrate
    from sglang_ci.config.baselines import BASELINES_FILE, append_runs

    calibrate.require_runs(args.runs)
    if args.engine == "sglang":
        require_gpus(job.id, job.gpus, visible_gpus(os.environ))
    out_dir = Path(args.results) / "calibrate" / job_dir_name(job.id)
    result = calibrate.run_calibration(job, launch_settings(args, out_dir), args.runs,
                                       args.relaunch)  # fmt: skip
    calibrate.check_scores(result.scores)
    print(calibrate.report(result))
    picture = calibrate.draw(result, out_dir / "calibration.png")
    missing = "(install matplotlib, or sglang-ci[plot], for calibration.png)"
    print(f"  plot         {picture or missing}")
    print(f"  records      {out_dir}/run-*/{result.eval_name}.jsonl  (compare: python -m"
          f" sglang_ci diff {out_dir})")  # fmt: skip
    if args.write:
        if args.engine == "stub":
            print("  warning      stub-engine scores (its answer key and set accuracy): for"
                  " rehearsals only, never commit them as a model's baseline")  # fmt: skip
        baselines = config.source.parent / BASELINES_FILE
        append_runs(baselines, job.id, calibrate.baseline_entries(result))
        print(f"  written      {len(result.runs)} runs to {baselines};"
              " `python -m sglang_ci validate` shows the derived threshold")  # fmt: skip
    return 0


def suites_dir(config: Config) -> Path:
    """suites/ beside stages.toml when there is one, else the project's own."""
    beside = config.source.parent / "suites"
    return beside if beside.is_dir() else Path(__file__).resolve().parent.parent / "suites"


def stub_data_defaults(env: dict[str, str]) -> dict[str, str]:
    """For a stub rehearsal, unless set otherwise: the shipped sample data as the stub's
    answer key and as the evals' data (never for the real engine, never silently)."""
    from sglang_ci.data import GSM8K_SAMPLE, HELLASWAG_SAMPLE
    from sglang_ci.evals.data import GSM8K, HELLASWAG
    from sglang_ci.stub.model import DATA_ENV

    defaults = {
        DATA_ENV: os.pathsep.join([str(GSM8K_SAMPLE), str(HELLASWAG_SAMPLE)]),
        GSM8K.env: str(GSM8K_SAMPLE),
        HELLASWAG.env: str(HELLASWAG_SAMPLE),
    }
    chosen = {key: value for key, value in defaults.items() if not env.get(key)}
    if chosen:
        print(
            "sglang-ci: stub engine: shipped sample data (not GSM8K or HellaSwag) for "
            + ", ".join(sorted(chosen)),
            flush=True,
        )
    return {**env, **chosen}


def main_exit_code(argv: Sequence[str] | None = None) -> int:
    from sglang_ci.config.errors import FatalError, JobCancelled

    try:
        return run(sys.argv[1:] if argv is None else argv)
    except FatalError as error:
        print(f"sglang-ci: error: {error}", file=sys.stderr)
        return error.return_code
    except JobCancelled as cancelled:
        print(f"sglang-ci: cancelled by {cancelled.signal_name}; everything torn down",
              file=sys.stderr)  # fmt: skip
        return cancelled.return_code
