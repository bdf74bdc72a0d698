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

from sglang_ci.commands import ENGINE_MODULES
from sglang_ci.config import Config, Job, load_config
from sglang_ci.gpus import require_gpus, visible_gpus
from sglang_ci.plan import render_plan, render_stage_plan
from sglang_ci.results import job_dir_name

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
    job = command("job", "run one job (or show its dry run)")
    job.add_argument("job_id", metavar="JOB", help="the job's session id, as `list` shows it")
    add_job_options(job)
    return parser


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
    config = load_config(args.config, os.environ, Path.cwd())
    if args.command == "validate":
        return cmd_validate(config)
    if args.command == "list":
        return cmd_list(config, args.stage, as_json=args.json)
    if args.command == "plan":
        return cmd_plan(config, args.stage, args.engine)
    return cmd_job(config, config.find_job(args.job_id), args)


def cmd_validate(config: Config) -> int:
    print(
        f"{config.source.name}: valid: {len(config.stages)} stages, {len(config.models)} models,"
        f" {len(config.suites)} suites, {len(config.jobs)} jobs"
    )
    return 0


def job_row(job: Job) -> dict[str, object]:
    return {
        "session": job.id,
        "stage": job.stage,
        "gpus": job.gpus,
        "est_time": job.est_time,
        "thresholds": dict(job.thresholds),
    }


def cmd_list(config: Config, stage: str | None, *, as_json: bool) -> int:
    jobs = config.stage_jobs(stage) if stage else list(config.jobs.values())
    rows = [job_row(job) for job in jobs]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [("SESSION", "STAGE", "GPUS", "EST", "THRESHOLDS")] + [
        (
            str(row["session"]),
            str(row["stage"]),
            str(row["gpus"]),
            f"{job.est_time:g}s",
            ", ".join(f"{name} {value:g}" for name, value in job.thresholds),
        )
        for row, job in zip(rows, jobs, strict=True)
    ]
    widths = [max(len(line[col]) for line in table) for col in range(len(table[0]))]
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
    from sglang_ci.launcher import LaunchSettings

    out_dir = Path(args.results) / job_dir_name(job.id)
    env = dict(os.environ)
    if args.engine == "stub":
        env = stub_data_defaults(env)
    settings = LaunchSettings(
        engine=args.engine,
        python=sys.executable,
        out_dir=out_dir,
        launch_timeout=args.launch_timeout or LAUNCH_TIMEOUTS[args.engine],
        env=env,
        request_timeout=args.request_timeout,
    )
    outcome = run_job(job, settings, suites_dir(config))
    report(outcome, out_dir / "result.json")
    return outcome.exit_code


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
    from sglang_ci.errors import FatalError

    try:
        return run(sys.argv[1:] if argv is None else argv)
    except FatalError as error:
        print(f"sglang-ci: error: {error}", file=sys.stderr)
        return error.return_code
