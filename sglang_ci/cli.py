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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import sglang_ci
from sglang_ci.config.errors import UsageError
from sglang_ci.config.model import load_config
from sglang_ci.engines.registry import DEFAULT_ENGINE, ENGINES
from sglang_ci.outcome.errors import FatalError, RunInterrupted
from sglang_ci.run.options import (
    CalibrateOptions,
    OneLineParser,
    PolicyOptions,
    RunFileOptions,
    RunOptions,
    StageOptions,
    add_arguments,
    from_namespace,
)


def build_parser() -> argparse.ArgumentParser:
    # Subcommands' parsers are of the same class: every bad option or value is one line.
    parser = OneLineParser(
        prog="python -m sglang_ci",
        description="CI matrix runner for SGLang's GPU end-to-end tests, driven by stages.toml.",
    )
    parser.add_argument("--version", action="version", version=f"sglang-ci {sglang_ci.__version__}")
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
    plan.add_argument("--engine", choices=tuple(ENGINES), default=DEFAULT_ENGINE)
    add_arguments(plan, PolicyOptions)
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
    matrix.add_argument("--stage", action="append", help="repeatable")
    matrix.add_argument(
        "--github-output", action="store_true",
        help="every stage of stages.toml (or those of --stage), one `name=<matrix>` line"
        " each for $GITHUB_OUTPUT (name: the stage with '_' for '-')",
    )  # fmt: skip
    add_partition_options(matrix)
    matrix.add_argument(
        "--full-parallel", action="store_true",
        help="no max-parallel throttle (scheduled runs, the `high priority` label), as"
        " compute_partitions.py --full-parallel",
    )  # fmt: skip
    add_arguments(matrix, PolicyOptions)
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
    report.add_argument("--annotations", action="store_true",
                        help="one ::error annotation per job that did not pass (title:"
                        " the job; message: its reason); on under GitHub Actions")  # fmt: skip
    report.add_argument("--json", action="store_true", help="print the report as JSON (the"
                        " markdown still goes to the step summary and --output)")  # fmt: skip
    workflow = command("workflow", "write the reusable GPU workflow (.github/workflows/"
                       "sglang-stages.yml beside stages.toml): one job per stage")  # fmt: skip
    workflow.add_argument("--check", action="store_true",
                          help="write nothing; exit 1 when the file is out of date")  # fmt: skip
    command("cleanup", "end what a killed runner left on this machine (its run ledger) and"
            " mark its unfinished results `runner died`", config=False)  # fmt: skip
    command("changes", "read changed paths (one a line) on stdin; print gpu=true when any"
            " is not documentation (for $GITHUB_OUTPUT)", config=False)  # fmt: skip
    part = command("partition", "split the ids of a durations file ({id: seconds}) over N"
                   " partitions (pytest-split's algorithm), as JSON", config=False)  # fmt: skip
    part.add_argument("--durations", metavar="FILE", required=True)
    part.add_argument("--partitions", type=int, required=True)
    add_registered_parsers(command)
    add_run_file_parser(command)
    from sglang_ci.bisect.cli import add_bisect_parser
    from sglang_ci.history.cli import add_db_option, add_history_parsers

    add_history_parsers(commands)
    add_bisect_parser(commands)
    add_db_option(report)
    add_db_option(matrix)
    matrix.add_argument("--from-history", action="store_true", help="durations from the"
                        " history store: each job's p90 over its latest runs")  # fmt: skip
    from sglang_ci.plan.pack_view import add_pack_plan_parser

    add_pack_plan_parser(command)
    return parser


def add_run_file_parser(command: Callable[..., argparse.ArgumentParser]) -> None:
    sub = command("run-file", "run one registered SGLang test file as run_suite.py runs it"
                  " (cd CHECKOUT/test; python3 FILE -f), then end everything it left and"
                  " confirm its ports and GPU memory released; writes result.json",
                  config=False)  # fmt: skip
    sub.add_argument("checkout", metavar="CHECKOUT", help="an SGLang checkout's root")
    sub.add_argument("file", metavar="FILE", help="e.g. test/registered/core/test_x.py")
    add_arguments(sub, RunFileOptions)


def run_file_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from sglang_ci.run.file_job import FileRequest, run_file, summary

    options = from_namespace(RunFileOptions, args)
    request = FileRequest(Path(args.checkout), args.file, options.timeout,
                          Path(options.results), options.suite, not options.no_ci_env)  # fmt: skip
    if options.suite is not None:
        warning = unregistered_warning(Path(args.checkout), args.file, options.suite, env)
        if warning:
            print(f"sglang-ci: warning: {warning}", file=sys.stderr, flush=True)
    result = run_file(request, env)
    print(f"sglang-ci: {summary(result)}", flush=True)
    return result.exit_code or 0


def unregistered_warning(checkout: Path, file: str, suite: str,
                         env: Mapping[str, str]) -> str | None:  # fmt: skip
    """Why ``file`` would not run in ``suite`` under run_suite.py (it is not registered
    there), naming the suites it is registered in; None when it is, or when the checkout
    cannot be read (run-file itself then says what is wrong)."""
    from sglang_ci.config.errors import ConfigError
    from sglang_ci.config.registry_cache import cached_registry, registry_cache_dir

    try:
        registry = cached_registry(checkout.resolve(), registry_cache_dir(env))
    except (ConfigError, UsageError, OSError):
        return None
    path = Path(file)
    if path.is_absolute() and path.is_relative_to(checkout.resolve()):
        path = path.relative_to(checkout.resolve())
    name = path.as_posix().removeprefix("./")
    mine = [r for r in registry.registrations if r.file == name]
    if any(r.suite == suite for r in mine):
        return None
    where = ", ".join(sorted({r.suite for r in mine})) or "no suite"
    return (f"{name} is not registered in suite {suite!r} (registered in: {where});"
            " run_suite.py would not run it there")  # fmt: skip


def add_registered_parsers(command: Callable[..., argparse.ArgumentParser]) -> None:
    listing = command("registered", "the CUDA test files an SGLang checkout registers"
                      " (register_cuda_ci), read by AST as run_suite.py reads them",
                      config=False)  # fmt: skip
    parts = command("registered-partitions", "SGLang's LPT split of registered suites next"
                    " to ours, each against the lower bound max(total/n, longest)",
                    config=False)  # fmt: skip
    for sub in (listing, parts):
        sub.add_argument("checkout", metavar="CHECKOUT", help="an SGLang checkout's root")
        sub.add_argument("--suite", help="one suite, e.g. base-b-test-1-gpu-small")
        sub.add_argument("--nightly", action="store_true", help="nightly registrations")
    listing.add_argument("--json", action="store_true",
                         help='{"suites": {suite: {file: est_time}}, "nightly": {...},'
                         ' "disabled": N}')  # fmt: skip
    parts.add_argument("--partitions", type=int, default=None,
                       help="N shards (default: compute_partitions.py's size from"
                       " pr-test*.yml)")  # fmt: skip
    parts.add_argument("--durations", metavar="FILE",
                       help="measured {file: seconds} overriding est_time, as"
                       " run_suite's live_est")  # fmt: skip
    parts.add_argument("--min-files", type=int, default=1,
                       help="without --suite: only suites with this many files")  # fmt: skip


def registered_command(args: argparse.Namespace) -> int:
    from sglang_ci.config.registered import read_registry
    from sglang_ci.plan.partition import read_durations
    from sglang_ci.plan.registered_view import (
        partition_detail,
        partition_summary,
        registered_listing,
    )

    registry = read_registry(args.checkout)
    if args.command == "registered":
        print(registered_listing(registry, args.suite, args.nightly, args.json))
        return 0
    if args.partitions is not None and args.partitions < 1:
        raise UsageError(f"--partitions {args.partitions}: must be 1 or more")
    measured = read_durations(Path(args.durations)) if args.durations else {}
    if args.suite is None:
        print(partition_summary(registry, args.nightly, args.partitions, args.min_files,
                                measured))  # fmt: skip
    else:
        print(partition_detail(registry, args.suite, args.nightly, args.partitions, measured))
    return 0


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

        reclaimed = cleanup()
        for line in reclaimed.set_aside:  # malformed ledger files, moved aside
            print(f"sglang-ci: {line}")
        print(reclaimed.summary())
        return 0
    if args.command == "changes":
        from sglang_ci.plan.changes import needs_gpu_stages

        print(f"gpu={'true' if needs_gpu_stages(sys.stdin) else 'false'}")
        return 0
    if args.command == "partition":
        from sglang_ci.plan.partition import partition_json

        print(partition_json(Path(args.durations), args.partitions))
        return 0
    if args.command == "run-file":
        return run_file_command(args, env)
    if args.command in ("registered", "registered-partitions"):
        return registered_command(args)
    if args.command in ("history", "dashboard", "bisect"):
        from sglang_ci.bisect.cli import bisect_command
        from sglang_ci.history.cli import dashboard_command, history_command

        own = {"history": history_command, "dashboard": dashboard_command, "bisect": bisect_command}
        return own[args.command](args, env)
    if args.command == "report":
        from sglang_ci.history.report_hooks import evidence_for, quarantined_notes
        from sglang_ci.results.report import report_command
        from sglang_ci.results.report_plan import report_plan

        folder = Path(args.results_dir)
        annotate = args.annotations or env.get("GITHUB_ACTIONS") == "true"
        return report_command(folder, args.durations, args.output, env, report_plan(args, env),
                              evidence_for(folder, args.db, env),
                              quarantined_notes(args.config, env), annotate=annotate,
                              json_out=args.json)  # fmt: skip
    # A calibration is how a new scored job gets the baseline its threshold needs.
    lenient = args.command == "calibrate"
    config = load_config(args.config, env, Path.cwd(), lenient_scores=lenient)
    if args.command in ("validate", "list"):
        from sglang_ci.plan.github_matrix import durations_for, plan_stage
        from sglang_ci.plan.listing import job_listing, validation_summary

        if args.command == "validate":  # every stage must split as its settings say
            from sglang_ci.history.quarantine import check_beside

            check_beside(config.source, [*config.jobs, *config.files])
            measured = durations_for(config, None)
            for stage in config.stages:
                plan_stage(config, stage, None, measured)
        print(validation_summary(config) if args.command == "validate"
              else job_listing(config, args.stage, as_json=args.json))  # fmt: skip
        return 0
    if args.command == "workflow":
        from sglang_ci.plan.workflow_file import workflow_command

        return workflow_command(config, config.source.parent,
                                check=args.check)  # fmt: skip
    if args.command == "plan":
        from sglang_ci.plan.dry_run import render_stage_plan

        policy = from_namespace(PolicyOptions, args)
        print(render_stage_plan(config, args.stage, args.engine, policy))
        return 0
    if args.command == "matrix":
        from sglang_ci.plan.github_matrix import durations_for, matrix, plan_stage

        measured = durations_for(config, args.durations)
        if args.from_history:  # measured p90s, over the durations file's entries
            from sglang_ci.history.cli import stored_p90s

            measured = {**measured, **stored_p90s(args.db, env)}
        stages = args.stage or (list(config.stages) if args.github_output else None)
        if not stages:
            raise UsageError("matrix: --stage NAME (repeatable) or --github-output")
        policy = from_namespace(PolicyOptions, args)
        plans = [plan_stage(config, stage, args.partitions, measured,
                            full_parallel=args.full_parallel) for stage in stages]  # fmt: skip
        if not args.github_output:
            print(json.dumps(matrix(config, plans, policy)))
            return 0
        for plan in plans:  # a stage's jobs in the workflow read its output by this name
            print(f"{plan.stage.replace('-', '_')}={json.dumps(matrix(config, [plan], policy))}")
        return 0
    if args.command == "pack-plan":
        from sglang_ci.plan.pack_view import pack_plan_command

        return pack_plan_command(config, args)
    if args.command == "calibrate":
        from sglang_ci.run.calibrate_runner import calibrate_command

        options = from_namespace(CalibrateOptions, args)
        return calibrate_command(config, config.find_job(args.job_id), options, env)
    from sglang_ci.run.commands import job_command, stage_command

    if args.command == "run":
        return stage_command(config, from_namespace(StageOptions, args), env)
    return job_command(config, config.find_unit(args.job_id), from_namespace(RunOptions, args), env)


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
