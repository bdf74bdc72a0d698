"""``python -m sglang_ci bisect JOB --good REF --bad REF --checkout DIR``: options, checked
before anything starts, then the bisect, its table and summary."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sglang_ci.bisect import output
from sglang_ci.bisect.child import venv_env
from sglang_ci.bisect.commits import commit_range, resolve
from sglang_ci.bisect.driver import Bisector, Outcome, Settings, stderr_say
from sglang_ci.bisect.history_note import history_line
from sglang_ci.bisect.install import DEFAULT_INSTALL, check_template
from sglang_ci.bisect.probe import Target
from sglang_ci.bisect.state import BisectState, check_same, load, save
from sglang_ci.config.errors import UsageError
from sglang_ci.config.text import job_dir_name
from sglang_ci.engines.registry import DEFAULT_ENGINE, ENGINES
from sglang_ci.history.store import store_path

DEFAULT_MAX_RUNS = 24
DEFAULT_CONFIDENCE = 0.98


# Apart from results/: its probe runs are no CI job's, so `report results/` and
# `history ingest results/` never count them.
BISECT_RESULTS = "bisect-results"


def add_bisect_parser(commands: argparse._SubParsersAction[Any]) -> None:
    text = (
        "find the SGLang commit that broke a job (of stages.toml, or a registered file"
        " test/...py): installs each candidate, runs the job, judges against the noise"
    )
    sub = commands.add_parser("bisect", help=text, description=text, allow_abbrev=False)
    sub.add_argument("job", metavar="JOB", help="a job's session id, or a registered file's path")
    sub.add_argument("--good", required=True, metavar="REF", help="a commit where the job is fine")
    sub.add_argument("--bad", required=True, metavar="REF", help="a later commit where it is not")
    sub.add_argument(
        "--checkout",
        required=True,
        metavar="SGLANG_GIT_DIR",
        help="an SGLang git checkout (left as it is: candidates get worktrees)",
    )
    sub.add_argument("--install", metavar="TEMPLATE", default=DEFAULT_INSTALL,
                     help="how to install a candidate; fields {commit} {worktree} {python}"
                     f" (default: {DEFAULT_INSTALL})")  # fmt: skip
    sub.add_argument("--python", metavar="PATH", default=sys.executable,
                     help="the bisect venv's interpreter, holding SGLang's dependencies and"
                     " sglang-ci (default: this one)")  # fmt: skip
    sub.add_argument(
        "--max-runs-per-commit",
        type=int,
        default=DEFAULT_MAX_RUNS,
        metavar="N",
        help=f"the budget of runs on one commit (default {DEFAULT_MAX_RUNS})",
    )
    sub.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE,
                     help="chance the named commit is right, when the noise model holds"
                     f" (default {DEFAULT_CONFIDENCE})")  # fmt: skip
    sub.add_argument(
        "--all-commits",
        action="store_true",
        help="every commit, not the first-parent line (default: first parents)",
    )
    sub.add_argument(
        "--engine",
        choices=tuple(ENGINES),
        default=DEFAULT_ENGINE,
        help="stub: the protocol stand-in, a rehearsal of the bisect, never evidence",
    )
    sub.add_argument(
        "--state",
        metavar="FILE",
        help="the state file; its folder holds the probe runs"
        " (default: bisect-results/<job>/state.json, apart from results/)",
    )
    sub.add_argument("--resume", action="store_true", help="continue the bisect in --state")
    sub.add_argument("--summary", metavar="FILE", help="also write the markdown here"
                     " (default: $GITHUB_STEP_SUMMARY when set)")  # fmt: skip
    sub.add_argument("--json", action="store_true", help="print JSON instead of the table")
    sub.add_argument("--config", metavar="PATH", help="stages.toml (default: ./stages.toml)")
    sub.add_argument("--db", metavar="FILE", help="a history store for the first bad commit's"
                     " score (default: $SGLANG_CI_HISTORY, else results/history.sqlite, when"
                     " it exists)")  # fmt: skip


def target_of(args: argparse.Namespace, env: Mapping[str, str]) -> Target:
    if args.job.endswith(".py"):
        return Target(args.job, False, True, 1, args.engine)
    from sglang_ci.config.model import load_config

    config = load_config(args.config, env, Path.cwd())
    job = config.find_job(args.job)
    config_path = str(config.source) if args.config else None
    return Target(job.id, job.suite.score is not None, False, job.gpus, args.engine, config_path)


def check_python(python: Path) -> None:
    if not python.is_file():
        raise UsageError(f"--python {python}: no such interpreter")
    done = subprocess.run([str(python), "-c", "import sys; print(sys.prefix != sys.base_prefix)"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.stdout.strip() != "True":
        raise UsageError(
            f"--python {python}: not a virtual environment's interpreter; the"
            " bisect installs into a venv of its own, never a system Python"
        )


def bisect_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    if args.max_runs_per_commit < 1:
        raise UsageError(f"--max-runs-per-commit {args.max_runs_per_commit}: must be 1 or more")
    if not 0.5 < args.confidence < 1:
        raise UsageError(f"--confidence {args.confidence}: must be between 0.5 and 1")
    check_template(args.install)
    checkout = Path(args.checkout).resolve()
    if not checkout.is_dir():
        raise UsageError(f"--checkout {checkout}: no such folder; give an SGLang git checkout")
    python = Path(os.path.abspath(args.python))
    check_python(python)
    target = target_of(args, env)
    good, bad = resolve(checkout, args.good, "--good"), resolve(checkout, args.bad, "--bad")
    commits = commit_range(checkout, good, bad, not args.all_commits)
    state_path = Path(args.state or Path(BISECT_RESULTS) / job_dir_name(target.job)
                      / "state.json").resolve()  # fmt: skip
    if args.resume:
        state = load(state_path)
        check_same(state, target.job, good, bad, state_path)
    elif state_path.exists():
        raise UsageError(f"{state_path}: a bisect's state is there; continue it with --resume,"
                         " or give another --state")  # fmt: skip
    else:
        state = BisectState(
            target.job,
            good,
            bad,
            {"install": args.install, "engine": args.engine, "first_parent": not args.all_commits},
        )
        save(state, state_path)
    settings = Settings(target, checkout, python, args.install, args.max_runs_per_commit,
                        args.confidence, state_path.parent, venv_env(python, env))  # fmt: skip
    stderr_say(
        f"{target.job}: {len(commits) - 1} commits after the good end"
        f" ({'first-parent' if not args.all_commits else 'all'}); state {state_path}"
    )
    bisector = Bisector(settings, commits, state, state_path, stderr_say)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # GitHub's cancel, after SIGINT
    try:
        outcome = bisector.bisect()
    except KeyboardInterrupt:
        stderr_say(f"cancelled; every finished run is in {state_path}; continue with --resume")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        bisector.finish()
    if target.scored:
        outcome.history = history_line(store_path(args.db, env), target.job, outcome)
    return report(outcome, target, args, env)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def report(outcome: Outcome, target: Target, args: argparse.Namespace,
           env: Mapping[str, str]) -> int:  # fmt: skip
    print(json.dumps(output.as_json(outcome, target), indent=1) if args.json
          else output.text(outcome, target))  # fmt: skip
    summary = args.summary or env.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(output.markdown(outcome, target))
    # 0: the bisect concluded (a first bad commit, or no regression in range);
    # 1: skipped or undecided commits hide which one it is.
    return 0 if outcome.found is not None or not outcome.regression else 1
