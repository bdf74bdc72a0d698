"""``python -m sglang_ci``: parse the command line and dispatch; nothing else.

Each command is a function elsewhere returning an exit code; ``__main__`` alone exits.
Modules that start processes are imported by the commands that need them, so that
`validate`, `list` and `plan` (and nox's session listing) stay fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sglang_ci.config.errors import FatalError, RunInterrupted, UsageError
from sglang_ci.config.model import load_config
from sglang_ci.run.options import (
    ENGINES,
    CalibrateOptions,
    RunOptions,
    StageOptions,
    add_arguments,
    from_namespace,
)

if TYPE_CHECKING:
    from sglang_ci.results.planned import Plan


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sglang_ci",
        description="CI matrix runner for SGLang's GPU end-to-end tests, driven by stages.toml.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, *, config: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, allow_abbrev=False)
        if config:
            sub.add_argument(
                "--config", metavar="PATH",
                help="stages.toml to read (default: $SGLANG_CI_CONFIG, else ./stages.toml)",
            )  # fmt: skip
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
    add_arguments(calibrate, CalibrateOptions)
    diff = command("diff", "questions whose correctness changed between eval runs (flip"
                   " analysis over two or more .jsonl files, or one calibration folder);"
                   " exit 0: none flipped, 1: some did", config=False)  # fmt: skip
    diff.add_argument("records", nargs="+", metavar="PATH")
    job = command("job", "run one job (or show its dry run)")
    job.add_argument("job_id", metavar="JOB", help="the job's session id, as `list` shows it")
    add_arguments(job, RunOptions)
    matrix = command("matrix", "the GitHub matrix of stages: one entry per partition (JSON)")
    matrix.add_argument("--stage", action="append", required=True, help="repeatable")
    add_partition_options(matrix)
    run_stage = command("run", "run the jobs of a stage, or of one CI partition of it, in order")
    add_arguments(run_stage, StageOptions)
    report = command("report", "merge the result.json files of a run into stage summaries",
                     config=False)  # fmt: skip
    report.add_argument("results_dir", metavar="DIR")
    report.add_argument("--durations", metavar="FILE", help="update this durations file")
    report.add_argument("--output", metavar="FILE", help="also write the markdown here")
    report.add_argument("--plan", metavar="FILE", help="what should have run: a `matrix`"
                        " output, or the report job's toJSON(needs)")  # fmt: skip
    report.add_argument("--stage", action="append", help="what should have run: every job of"
                        " this stage in stages.toml (repeatable)")  # fmt: skip
    report.add_argument("--config", metavar="PATH", help="stages.toml for --stage")
    command("cleanup", "end what a killed runner left on this machine (its run ledger) and"
            " mark its unfinished results `runner died`", config=False)  # fmt: skip
    part = command("partition", "split the ids of a durations file ({id: seconds}) over N"
                   " partitions (pytest-split's algorithm), as JSON", config=False)  # fmt: skip
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


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    env = os.environ
    if args.command == "eval":  # talks to a server; needs no stages.toml
        from sglang_ci.evals.cli import cmd_eval

        return cmd_eval(args)
    if args.command == "diff":
        from sglang_ci.calibration.flips import cmd_diff

        return cmd_diff(args.records)
    if args.command == "cleanup":
        from sglang_ci.run.cleanup import cleanup

        print(cleanup().summary())
        return 0
    if args.command == "partition":
        from sglang_ci.plan.partition import partition_json

        print(partition_json(Path(args.durations), args.partitions))
        return 0
    if args.command == "report":
        from sglang_ci.results.report import report_command

        return report_command(Path(args.results_dir), args.durations, args.output, env,
                              report_plan(args, env))  # fmt: skip
    # A calibration is how a new scored job gets the baseline its threshold needs.
    lenient = args.command == "calibrate"
    config = load_config(args.config, env, Path.cwd(), lenient_scores=lenient)
    if args.command in ("validate", "list"):
        from sglang_ci.plan.listing import job_listing, validation_summary

        print(validation_summary(config) if args.command == "validate"
              else job_listing(config, args.stage, as_json=args.json))  # fmt: skip
        return 0
    if args.command == "plan":
        from sglang_ci.plan.dry_run import render_stage_plan

        print(render_stage_plan(config, args.stage, args.engine))
        return 0
    if args.command == "matrix":
        from sglang_ci.plan.github_matrix import durations_for, matrix, plan_stage

        measured = durations_for(config, args.durations)
        plans = [plan_stage(config, stage, args.partitions, measured) for stage in args.stage]
        print(json.dumps(matrix(config, plans)))
        return 0
    if args.command == "calibrate":
        from sglang_ci.run.calibrate_runner import calibrate_command

        options = from_namespace(CalibrateOptions, args)
        return calibrate_command(config, config.find_job(args.job_id), options, env)
    from sglang_ci.run.commands import job_command, stage_command

    if args.command == "run":
        return stage_command(config, from_namespace(StageOptions, args), env)
    return job_command(config, config.find_job(args.job_id), from_namespace(RunOptions, args), env)


def report_plan(args: argparse.Namespace, env: Mapping[str, str]) -> Plan | None:
    """The plan `report` checks the results against: --plan FILE, or --stage from stages.toml."""
    from sglang_ci.results.planned import from_stages, read_plan

    if args.plan and args.stage:
        raise UsageError("report: give --plan or --stage, not both")
    if args.plan:
        return read_plan(Path(args.plan))
    if not args.stage:
        return None
    config = load_config(args.config, env, Path.cwd())
    return from_stages((s, [job.id for job in config.stage_jobs(s)]) for s in args.stage)


def main_exit_code(argv: Sequence[str] | None = None) -> int:
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except FatalError as error:
        print(f"sglang-ci: error: {error}", file=sys.stderr)
        return error.return_code
    except RunInterrupted as stopped:
        print(f"sglang-ci: {stopped.kind.value} ({stopped.cause}); everything torn down",
              file=sys.stderr)  # fmt: skip
        return stopped.return_code
