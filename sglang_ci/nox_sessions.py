"""Nox sessions generated from stages.toml: one session per suite, one parameter per job.

Kept apart from the noxfile so the noxfile stays a few lines and so this code is typed
and tested like the rest. Imported only inside nox (it imports nox).

Job sessions run in the current environment (``venv_backend="none"``): on a GPU runner
that is where SGLang is installed, and a per-job virtualenv would reinstall it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shlex
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType

import nox

from sglang_ci.config.axes import AXES, call_args

# Every job session carries MATRIX_TAG: `nox -l --json` lists only selected sessions and
# job sessions are not selected by default, so `nox -l --json -t matrix` is the matrix.
from sglang_ci.config.model import MATRIX_TAG, Config, Job
from sglang_ci.engines import registry
from sglang_ci.engines.registry import DEFAULT_ENGINE, REHEARSAL_ENGINE
from sglang_ci.launch.cancel import SIGNALS as CANCEL_SIGNALS
from sglang_ci.launch.gpus import require_gpus, visible_gpus
from sglang_ci.outcome.errors import FatalError
from sglang_ci.plan.dry_run import render_calibration_plan, render_plan
from sglang_ci.run.commands import stage_units
from sglang_ci.run.options import (
    CalibrateOptions,
    Options,
    RunOptions,
    StageOptions,
    options_help,
    parse,
    to_argv,
)


def session_options(session: nox.Session, kind: type[Options], prog: str) -> Options:
    """What follows ``--``, parsed by the options' one declaration; a bad value ends the
    session with the option's own one-line error; ``--help`` prints the options and runs
    nothing."""
    if any(arg in ("-h", "--help") for arg in session.posargs):
        print(options_help(kind, prog))
        session.skip("--help: nothing run")
    try:
        return parse(kind, session.posargs, prog)
    except FatalError as error:
        session.error(str(error))


def stub_rehearsal(session: nox.Session) -> str:
    """This very session on the stub engine: its name, its arguments without ``--engine``
    (and ``--write``, which the stub refuses), then ``--engine stub``."""
    kept: list[str] = []
    args = iter(session.posargs)
    for arg in args:
        if arg in ("--engine", "--write") or arg.startswith("--engine="):
            if arg == "--engine":
                next(args, None)
            continue
        kept.append(arg)
    # Double quotes, as the README writes sessions: their names hold single quotes only.
    return f'nox -s "{session.name}" -- {shlex.join([*kept, "--engine", REHEARSAL_ENGINE])}'


def require_session_gpus(session: nox.Session, what: str, needed: int, env: Mapping[str, str],
                         config: Config, units: Sequence[str], results: str) -> None:  # fmt: skip
    """A GPU shortage stops here, before any subprocess: a GPU-less box fails at once,
    naming the command that rehearses this session without GPUs; each unit gets the same
    `error` / `GPU shortage` result.json as the runner's own refusal writes."""
    try:
        require_gpus(what, needed, visible_gpus(env), stub_rehearsal(session))
    except FatalError as error:
        from sglang_ci.run.refused import record_refused  # only a refusal needs it

        refused = [config.unit(u) for u in units]
        if refused:
            record_refused(refused, Path(results), DEFAULT_ENGINE, error, env)
        session.error(str(error))


def job_tags(job: Job) -> list[str]:
    # The stage selects a CI job's worth of sessions (`nox -t base-b`); the suite and the
    # model alias select across stages (`nox -t spec`, `nox -t gemma4-31b`).
    return [job.stage, job.suite.name, job.model.alias, MATRIX_TAG]


def current_python() -> str:
    """The interpreter that runs nox: the environment nox was installed in, where SGLang
    and this project are installed beside it. Not ``python`` from PATH: with nox run from
    a venv that is not activated (``.venv/bin/python3 -m nox``), PATH names another
    Python, without the runner's dependencies."""
    return sys.executable


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


def run_runner(session: nox.Session, python: str, config: Config, argv: Sequence[str],
               what: str) -> None:  # fmt: skip
    """``python -m sglang_ci ARGV`` with signals forwarded; a non-zero exit fails the
    session, naming what failed."""
    command = [python, "-m", "sglang_ci", *argv, "--config", str(config.source)]
    code = run_forwarding_signals(session, command)
    if code == 130:
        session.log(f"{what}: cancelled; servers torn down, result marked cancelled")
        # nox's own route for a cancel: "interrupted", exit 130, no later session started.
        raise KeyboardInterrupt
    if code:
        session.error(f"{what}: failed with exit code {code}")


def run_job(session: nox.Session, config: Config, job: Job) -> None:
    if job.missing_threshold:
        session.error(job.missing_threshold)
    options = session_options(session, RunOptions, 'nox -s "<job session>" --')
    if options.dry_run:
        print(render_plan(job, config.stages[job.stage], options.engine))
        return
    if registry.engine(options.engine).uses_gpus:
        require_session_gpus(session, job.id, job.gpus, os.environ, config, [job.id],
                             options.results)  # fmt: skip
    run_runner(session, current_python(), config, ["job", job.id, *to_argv(options)], job.id)


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
        options = session_options(session, CalibrateOptions, 'nox -s "calibrate(...)" --')
        if options.dry_run:  # in this process, as a job session's: nothing to install
            print(render_calibration_plan(job, config.stages[job.stage], options.engine,
                                          options.runs, options.relaunch))  # fmt: skip
            return
        if registry.engine(options.engine).uses_gpus:
            # A calibration leaves no job result: the runner's calibrate records none either.
            require_session_gpus(session, job.id, job.gpus, os.environ, config, [], "")
        run_runner(session, current_python(), config, ["calibrate", job.id, *to_argv(options)],
                   f"calibration of {job.id}")  # fmt: skip

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
        options = session_options(session, StageOptions, f"nox -s \"stage(name='{name}')\" --")
        if options.stage not in (None, name):
            session.error(f"this session runs stage {name}; --stage {options.stage} is another")
        options = dataclasses.replace(options, stage=name)
        if not options.dry_run and registry.engine(options.engine).uses_gpus:
            # Registered files pick their GPUs themselves (run_suite checks none).
            needed = max((job.gpus for job in config.stage_jobs(name)), default=0)
            require_session_gpus(session, f"stage {name}", needed, os.environ, config,
                                 stage_units(config, options), options.results)  # fmt: skip
        run_runner(session, current_python(), config, ["run", *to_argv(options)], f"stage {name}")

    # No stage tag here: `nox -t base-b` must select the jobs once, not again via this session.
    params = [nox.param(name, id=f"name={name!r}") for name in config.stages]
    nox.session(name="stage", venv_backend="none", default=False)(
        nox.parametrize("name", params)(stage)
    )


def register_file_sessions(config: Config) -> None:
    """``file(path='test/registered/...')`` for each registered SGLang file a stage runs."""
    if not config.files:
        return

    def file(session: nox.Session, path: str) -> None:
        """A registered SGLang file, run as run_suite.py runs it, then swept."""
        options = session_options(session, RunOptions, 'nox -s "file(path=...)" --')
        run_runner(session, current_python(), config, ["job", path, *to_argv(options)], path)

    params = [
        nox.param(f.id, id=f"path={f.id!r}", tags=[f.stage, MATRIX_TAG])
        for f in config.files.values()
    ]
    nox.session(name="file", venv_backend="none", default=False)(
        nox.parametrize("path", params)(file)
    )


DEMO_STAGE = "base-b"

# Run inside the demo venv: exit 0 only if it holds this checkout's project (editable) and,
# when asked ("-" when not), the pinned router. Versions alone would miss a venv made from
# another checkout.
DEMO_READY_CHECK = """
import json, sys
from importlib import metadata
root, router = sys.argv[1], sys.argv[2]
try:
    ci = metadata.distribution("sglang-ci")
    ok = router == "-" or metadata.version("sglang-router") == router
except metadata.PackageNotFoundError:
    sys.exit(1)
url = json.loads(ci.read_text("direct_url.json") or "{}").get("url", "")
sys.exit(0 if ok and url == root else 1)
"""


def demo_fingerprint(root: Path, router: str) -> str:
    """What the demo venv was built from: the project's dependencies and the router pin.
    A change to either means installing again; the code itself is editable."""
    digest = hashlib.sha256((root / "pyproject.toml").read_bytes())
    digest.update(router.encode())
    return digest.hexdigest()


def venv_stamp(root: Path, router: str, install: Sequence[str]) -> str:
    """The marker's text: the fingerprint and what was installed (``.`` or ``.[pd]``)."""
    return f"{demo_fingerprint(root, router)} {shlex.join(install)}"


def demo_venv_ready(session: nox.Session, python: str, root: Path, router: str | None,
                    marker_name: str, stamp: str) -> bool:  # fmt: skip
    """True when the reused venv needs no install: its marker holds ``stamp`` and the venv
    really holds this checkout's project and (``router`` not None) the pinned router."""
    marker = Path(str(session.virtualenv.location)) / marker_name
    if not marker.is_file() or marker.read_text() != stamp:
        return False
    # -I: the checkout's own sglang_ci.egg-info (on the path as the cwd) must not answer.
    check = [python, "-I", "-c", DEMO_READY_CHECK, root.as_uri(), router or "-"]
    return subprocess.run(check, capture_output=True, check=False).returncode == 0


WRITE_MARKER = "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text(sys.argv[2])"


def install_once(session: nox.Session, root: Path, router: str, name: str,
                 install: Sequence[str], *, with_router: bool = True) -> None:  # fmt: skip
    """``pip install INSTALL`` into a reused venv unless it already holds this checkout
    (editable) and, ``with_router``, the router pin as of this pyproject.toml."""
    marker_name = f"sglang-ci-{name}.installed"  # in the venv: a new venv has none
    python = str(Path(session.bin) / "python")
    stamp = venv_stamp(root, router, install)
    if demo_venv_ready(session, python, root, router if with_router else None, marker_name,
                       stamp):  # fmt: skip
        session.log(f"{name} venv up to date: skipping install")
        return
    # pip's own lines, not nox's silence: a cold install shows what it fetches.
    session.install(*install, silent=False)
    # Written as an install step, which nox skips exactly when it skips pip (`nox -R` on a
    # reused venv): a venv pip did not update is not known to match, so it gets no marker.
    marker = Path(str(session.virtualenv.location)) / marker_name
    session.run_install(python, "-I", "-c", WRITE_MARKER, str(marker), stamp, silent=True,
                        log=False)  # fmt: skip


def register_demo_session(config: Config, root: Path, router: str) -> None:

    def demo(session: nox.Session) -> None:
        """A whole stage (base-b) end to end on the stub engine with the shipped sample data."""
        options = session_options(session, StageOptions, "nox -s demo --")
        options = dataclasses.replace(
            options, stage=options.stage or DEMO_STAGE, engine=REHEARSAL_ENGINE
        )
        python = str(Path(session.bin) / "python")
        # The venv is reused between runs (reuse_venv=True): installing again costs most of
        # a warm run, so it happens only on a fresh venv or a changed pyproject/pin. The
        # core install; the pd extra (the router, ~90 MB) only for a stage with PD jobs.
        try:
            jobs = config.stage_jobs(options.stage or DEMO_STAGE)
        except FatalError as error:  # a misspelt --stage, before anything is installed
            session.error(str(error))
        pd = any(job.deployment.disaggregated for job in jobs)
        install_once(session, root, router, "demo", ["-e", ".[pd]" if pd else "."],
                     with_router=pd)  # fmt: skip
        run_runner(session, python, config, ["run", *to_argv(options)], "demo")

    nox.session(name="demo", venv_backend="venv", default=False, reuse_venv=True)(demo)


def register_matrix_session(config: Config) -> None:
    def matrix(session: nox.Session) -> None:
        """The GitHub matrix JSON of the stages given after `--` (`-- --stage base-b`)."""
        run_runner(session, current_python(), config, ["matrix", *session.posargs], "matrix")

    nox.session(name="matrix", venv_backend="none", default=False)(matrix)
