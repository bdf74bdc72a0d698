"""Nox sessions generated from stages.toml: one session per suite, one parameter per job.

Kept apart from the noxfile so the noxfile stays a few lines and so this code is typed
and tested like the rest. Imported only inside nox (it imports nox).

Job sessions run in the current environment (``venv_backend="none"``): on a GPU runner
that is where SGLang is installed, and a per-job virtualenv would reinstall it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import nox

from sglang_ci.cli import add_calibrate_options, add_job_options
from sglang_ci.config.axes import AXES, call_args
from sglang_ci.config.errors import FatalError, JobCancelled

# Every job session carries MATRIX_TAG: `nox -l --json` lists only selected sessions and
# job sessions are not selected by default, so `nox -l --json -t matrix` is the matrix.
from sglang_ci.config.model import MATRIX_TAG, Config, Job
from sglang_ci.launch.cancel import SIGNALS as CANCEL_SIGNALS
from sglang_ci.launch.gpus import require_gpus, visible_gpus
from sglang_ci.plan.dry_run import render_plan


class _SessionArgs(argparse.ArgumentParser):
    """argparse that reports a bad ``-- ...`` argument instead of exiting nox."""

    def error(self, message: str) -> Any:
        raise FatalError(f"bad session arguments after '--': {message}")


def job_options(posargs: Sequence[str]) -> argparse.Namespace:
    """The options after ``--``, read by the CLI's own definitions (one source of truth)."""
    parser = _SessionArgs(prog='nox -s "<job session>" --', add_help=False, allow_abbrev=False)
    add_job_options(parser)
    return parser.parse_args(list(posargs))


def job_tags(job: Job) -> list[str]:
    # The stage selects a CI job's worth of sessions (`nox -t base-b`); the suite and the
    # model alias select across stages (`nox -t spec`, `nox -t gemma4-31b`).
    return [job.stage, job.suite.name, job.model.alias, MATRIX_TAG]


def current_python() -> str:
    """The interpreter of the current environment, where SGLang is installed."""
    return shutil.which("python") or shutil.which("python3") or sys.executable


def run_forwarding_signals(
    session: nox.Session, argv: list[str], env: dict[str, str] | None = None
) -> int:
    """Run the job runner, passing it every cancellation signal nox receives.

    nox's own session.run gives a child 0.3 s after Ctrl-C before SIGTERM and 0.2 s more
    before SIGKILL, and nox itself dies on SIGTERM without telling its child: either way
    the runner would lose the time it needs to tear its servers down.
    """
    session.log(shlex.join(argv))
    process = subprocess.Popen(argv, env=env)

    def forward(signum: int, _frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in CANCEL_SIGNALS}
    try:
        return process.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def job_argv(python: str, config: Config, job: Job, posargs: Sequence[str]) -> list[str]:
    return [python, "-m", "sglang_ci", "job", job.id, "--config", str(config.source), *posargs]


def check_job_options(session: nox.Session, config: Config, job: Job) -> argparse.Namespace:
    """Parse the options after ``--``; a dry run prints the plan; a GPU shortage stops
    here, before any subprocess, so a GPU-less box fails at once."""
    try:
        options = job_options(session.posargs)
        if not options.dry_run and options.engine == "sglang":
            require_gpus(job.id, job.gpus, visible_gpus(os.environ))
    except FatalError as error:
        session.error(str(error))
    return options


def run_job(session: nox.Session, config: Config, job: Job) -> None:
    if job.missing_threshold:
        session.error(job.missing_threshold)
    options = check_job_options(session, config, job)
    if options.dry_run:
        print(render_plan(job, config.stages[job.stage], options.engine))
        return
    code = run_forwarding_signals(session, job_argv(current_python(), config, job, session.posargs))
    if code == JobCancelled.return_code:
        session.error(f"{job.id}: cancelled; servers torn down, result marked cancelled")
    if code:
        session.error(f"{job.id}: failed with exit code {code}")


def _job_session(config: Config) -> Callable[..., None]:
    def session_body(session: nox.Session, **_axes: object) -> None:
        run_job(session, config, config.find_job(session.name))

    return session_body


def register_job_sessions(config: Config) -> None:
    by_suite: dict[str, list[Job]] = {}
    for job in config.jobs.values():
        by_suite.setdefault(job.suite.name, []).append(job)
    for suite_name, jobs in by_suite.items():
        suite = config.suites[suite_name]
        body = _job_session(config)
        body.__doc__ = suite.description or f"the {suite_name} suite"
        params = [
            nox.param(
                *(dict(job.params).get(axis) for axis in suite.axes),
                id=call_args(job.params),
                tags=job_tags(job),
            )
            for job in jobs
        ]
        parametrized = nox.parametrize(list(suite.axes), params)(body)
        # default=False: a bare `nox` runs the runner's own checks, never a GPU job.
        nox.session(name=suite_name, venv_backend="none", default=False)(parametrized)


def calibrate_options(posargs: Sequence[str]) -> argparse.Namespace:
    parser = _SessionArgs(prog='nox -s "calibrate(...)" --', add_help=False, allow_abbrev=False)
    add_calibrate_options(parser)
    return parser.parse_args(list(posargs))


def calibration_ids(config: Config) -> dict[str, Job]:
    """``calibrate(...)`` session ids of the scored jobs: the job's own parameters, with
    the suite named first only where two suites' jobs would share an id."""
    scored = [job for job in config.jobs.values() if job.suite.score]
    counts = Counter(call_args(job.params) for job in scored)
    ids = {}
    for job in scored:
        plain = call_args(job.params)
        ids[plain if counts[plain] == 1 else f"suite={job.suite.name!r}, {plain}"] = job
    return ids


def register_calibrate_sessions(config: Config) -> None:
    """``calibrate(<the job's parameters>)`` for every scored job, e.g.
    ``nox -s "calibrate(model='gemma4-26b-a4b', topk=3)" -- --runs 20 --write``."""
    ids = calibration_ids(config)
    by_signature = {f"calibrate({call})": job for call, job in ids.items()}

    def calibrate(session: nox.Session, **_axes: object) -> None:
        """Run a scored job's eval N times: spread, determinism, recommended threshold."""
        job = by_signature[session.name]
        try:
            options = calibrate_options(session.posargs)
            if options.engine == "sglang":
                require_gpus(job.id, job.gpus, visible_gpus(os.environ))
        except FatalError as error:
            session.error(str(error))
        argv = [current_python(), "-m", "sglang_ci", "calibrate", job.id,
                "--config", str(config.source), *session.posargs]  # fmt: skip
        code = run_forwarding_signals(session, argv)
        if code:
            session.error(f"calibration of {job.id} ended with exit code {code}")

    names = ["suite", *AXES]
    params = []
    for call, job in ids.items():
        values = {"suite": job.suite.name if call.startswith("suite=") else None,
                  **dict(job.params)}  # fmt: skip
        params.append(nox.param(*(values.get(n) for n in names), id=call, tags=["calibrate"]))
    nox.session(name="calibrate", venv_backend="none", default=False)(
        nox.parametrize(names, params)(calibrate)
    )


def register_stage_sessions(config: Config) -> None:
    def stage(session: nox.Session, name: str) -> None:
        """Every job of one CI stage in order; `-- --partition K/N` runs one CI job of it."""
        argv = [current_python(), "-m", "sglang_ci", "run", "--stage", name,
                "--config", str(config.source), *session.posargs]  # fmt: skip
        if "--dry-run" not in session.posargs and "--engine" not in " ".join(session.posargs):
            needed = max(config.jobs[j].gpus for j in config.stages[name].jobs)
            try:
                require_gpus(f"stage {name}", needed, visible_gpus(os.environ))
            except FatalError as error:
                session.error(str(error))
        code = run_forwarding_signals(session, argv)
        if code:
            session.error(f"stage {name} ended with exit code {code}")

    # No stage tag here: `nox -t base-b` must select the jobs once, not again via this session.
    params = [nox.param(name, id=f"name={name!r}") for name in config.stages]
    nox.session(name="stage", venv_backend="none", default=False)(
        nox.parametrize("name", params)(stage)
    )


DEMO_STAGE = "base-b"


def register_demo_session(config: Config) -> None:
    def demo(session: nox.Session) -> None:
        """A whole stage (base-b) end to end on the stub engine with the shipped sample data."""
        session.install("-e", ".")
        posargs = list(session.posargs)
        if "--stage" not in posargs:
            posargs = ["--stage", DEMO_STAGE, *posargs]
        python = str(Path(session.bin) / "python")
        argv = [python, "-m", "sglang_ci", "run", "--engine", "stub",
                "--config", str(config.source), *posargs]  # fmt: skip
        code = run_forwarding_signals(session, argv)
        if code:
            session.error(f"demo ended with exit code {code}")

    nox.session(name="demo", venv_backend="venv", default=False)(demo)


def register_matrix_session(config: Config) -> None:
    def matrix(session: nox.Session) -> None:
        """The GitHub matrix JSON of the stages given after `--` (`-- --stage base-b`)."""
        argv = [current_python(), "-m", "sglang_ci", "matrix", "--config", str(config.source),
                *session.posargs]  # fmt: skip
        code = run_forwarding_signals(session, argv)
        if code:
            session.error(f"matrix ended with exit code {code}")

    nox.session(name="matrix", venv_backend="none", default=False)(matrix)
