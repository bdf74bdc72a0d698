"""``python -m sglang_ci``: validate the config, list the jobs, show or run one job.

Each command is a small function returning an exit code; ``__main__`` alone exits.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sglang_ci.commands import ENGINE_MODULES
from sglang_ci.config import Config, Job, load_config
from sglang_ci.gpus import require_gpus, visible_gpus
from sglang_ci.plan import render_plan, render_stage_plan
from sglang_ci.results import job_dir_name

if TYPE_CHECKING:
    from sglang_ci.launcher import LaunchSettings

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
    return parser


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


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "eval":  # talks to a server; needs no stages.toml
        from sglang_ci.evals.cli import cmd_eval

        return cmd_eval(args)
    if args.command == "diff":
        from sglang_ci.flips import cmd_diff

        return cmd_diff(args.records)
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
    if args.engine == "sglang":
        require_gpus(job.id, job.gpus, visible_gpus(os.environ))
    # Imported here: the launcher pulls in requests and psutil, which validate/list/plan
    # (and nox's session listing) never need.
    from sglang_ci.job_runner import report, run_job

    out_dir = Path(args.results) / job_dir_name(job.id)
    outcome = run_job(job, launch_settings(args, out_dir), suites_dir(config))
    report(outcome, out_dir / "result.json")
    return outcome.exit_code


def launch_settings(args: argparse.Namespace, out_dir: Path) -> LaunchSettings:
    from sglang_ci.launcher import LaunchSettings

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
    from sglang_ci import calibrate
    from sglang_ci.baselines import BASELINES_FILE, append_runs

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
    from sglang_ci.errors import FatalError, JobCancelled

    try:
        return run(sys.argv[1:] if argv is None else argv)
    except FatalError as error:
        print(f"sglang-ci: error: {error}", file=sys.stderr)
        return error.return_code
    except JobCancelled as cancelled:
        print(f"sglang-ci: cancelled by {cancelled.signal_name}; everything torn down",
              file=sys.stderr)  # fmt: skip
        return cancelled.return_code
