"""The file job, entries ``run_file`` (``run-file``) and ``run_file_job`` (a stage's file,
attempted): one registered SGLang test file, run as run_suite runs it, then swept. Its twin
is server_job.py. The pieces below it: which files are registered where
(config/registered.py, registered_stage.py), run_suite's command and environment
(config/registered_env.py), their plan (plan/registered_view.py, file_plan.py), the sweep
(launch/file_sweep.py), the test counts of the output (results/test_counts.py).

The command, working directory, environment and per-file time limit are run_suite's
(``config/registered_env.py``). Unlike run_suite, the file runs in a session of its own
under the runner's subreaper, and whatever it ended with (passed, failed, timed out,
cancelled) everything it left is ended and its ports and GPU memory confirmed released
before the runner returns (``launch/file_sweep.py``); result.json records the outcome,
the unittest/pytest counts from its output and what the sweep found.

Differences from run_suite, each deliberate: a timed-out file's tree gets SIGTERM and
``grace`` seconds before SIGKILL (run_suite: SIGKILL at once via kill_process_tree),
and the sweep after a file that passed (run_suite: none).
"""

from __future__ import annotations

import contextlib
import functools
import re
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sglang_ci.config.errors import UsageError
from sglang_ci.config.registered_env import TIMEOUT_PER_FILE_S, ci_env, file_command, workdir
from sglang_ci.config.schema import FileJob
from sglang_ci.config.secrets import Scrubber
from sglang_ci.config.text import number
from sglang_ci.launch import gpu_memory
from sglang_ci.launch.cancel import CancelToken, CancelWatch
from sglang_ci.launch.exec_gate import spawn_recorded
from sglang_ci.launch.file_sweep import PortSampler, SweepFindings, sweep_file
from sglang_ci.launch.gpus import visible_gpus
from sglang_ci.launch.ledger import RunLedger
from sglang_ci.launch.process_tree import ProcessTree, become_subreaper
from sglang_ci.outcome.errors import FatalError, JobTimedOut, RunInterrupted
from sglang_ci.outcome.kinds import FailureKind
from sglang_ci.outcome.retry import classify_file
from sglang_ci.outcome.verdict import Verdict
from sglang_ci.plan.policy import RunPolicy
from sglang_ci.results.job_folder import KEEP_EARLIER, claimed, require_writable
from sglang_ci.results.provenance import collect_provenance
from sglang_ci.results.result_file import JobResult
from sglang_ci.results.scrub import scrub_folder
from sglang_ci.results.test_counts import count_tests
from sglang_ci.run.attempts import attempted
from sglang_ci.run.console import say
from sglang_ci.run.options import DEFAULT_RESULTS

# A cancel must end the tree inside GitHub's window (SIGINT, SIGTERM 7.5 s later, SIGKILL
# 2.5 s after that): SIGTERM, this long, then SIGKILL.
GRACE_S = 5.0
GPU_IDLE_S = 120.0
OUTPUT_TAIL_LINES = 4000
LOG_NAME = "output.log"


@dataclass(frozen=True)
class FileRequest:
    checkout: Path
    file: str  # as given: relative to the checkout, or absolute inside it
    timeout: float = TIMEOUT_PER_FILE_S
    results: Path = Path(DEFAULT_RESULTS)
    suite: str | None = None  # sets SGLANG_ENABLE_ASYNC_ASSERT as the stage workflow does
    ci_env: bool = True  # add the stage workflow's environment (registered_env.ci_env)
    grace: float = GRACE_S
    stage: str | None = None  # the stages.toml stage running it, else the suite is shown


def resolve(checkout: Path, file: str) -> tuple[Path, str]:
    """The file's absolute path and its id (the path relative to the checkout)."""
    root = checkout.resolve()
    if not (root / "test").is_dir():
        raise UsageError(f"{checkout}: no test/ folder; name an SGLang checkout's root")
    path = Path(file) if Path(file).is_absolute() else root / file
    path = path.resolve()
    if not path.is_file():
        raise UsageError(f"{file}: no such file in {checkout}")
    try:
        return path, path.relative_to(root).as_posix()
    except ValueError:
        raise UsageError(f"{file}: not inside the checkout {checkout}") from None


class Tee:
    """The file's output to our stdout (as run_suite lets it through) and to its log,
    keeping the last lines for the test counts. Ends when every holder of the pipe is
    gone: the sweep ends orphans that inherited it."""

    def __init__(self, pipe: IO[bytes], log: Path, scrubber: Scrubber) -> None:
        self.pipe, self.log, self.scrubber = pipe, log, scrubber
        self.tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
        self._thread = threading.Thread(target=self._copy, name="file-output", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        with self.log.open("wb") as log, contextlib.suppress(OSError, ValueError):
            for line in iter(self.pipe.readline, b""):
                # Scrubbed on the way: a token the file prints never reaches our stdout
                # (a CI log) or its log, even if the runner is killed before the end.
                raw = self.scrubber.text(line.decode(errors="surrogateescape")).encode(
                    errors="surrogateescape"
                )
                log.write(raw)
                log.flush()
                sys.stdout.buffer.write(raw)
                sys.stdout.flush()
                self.tail.append(raw.decode(errors="replace"))

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def _gpus(env: Mapping[str, str]) -> list[str]:
    """Every GPU the file can see: it picks its own, so all of them are watched."""
    count = visible_gpus(env).count
    return gpu_memory.physical_gpus(range(count), env) if count else []


# The line a failing test's traceback ends with: "AssertionError: 0.61 not greater than
# 0.65", "RuntimeError: CUDA error: ...".
_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception)\b.*")


def last_error(output: Iterable[str]) -> str:
    """The last exception line of the file's output, shortened; "" when there is none."""
    found = ""
    for line in output:
        if _ERROR_LINE.match(line.strip()):
            found = line.strip()
    return found[:300]


def _verdict(token: CancelToken, code: int | None, request: FileRequest,
             tests: dict[str, int], findings: SweepFindings,
             output: Iterable[str]) -> Verdict:  # fmt: skip
    counts = ", ".join(f"{value} {name}" for name, value in tests.items())
    problems = "; ".join(findings.problems)
    if token.timed_out:
        limit = number(request.timeout)
        verdict = Verdict.failure(FailureKind.TIME_LIMIT, f"past its time limit of {limit} s")
    elif token.cancelled:
        verdict = Verdict.failure(FailureKind.CANCELLED, f"cancelled by {token.interruption}")
    elif code != 0:
        error = last_error(output)
        verdict = Verdict.failure(FailureKind.CHECK_FAILED, f"exit code {code}"
                                  + (f" ({counts})" if counts else "")
                                  + (f": {error}" if error else ""))  # fmt: skip
    elif problems:
        return Verdict.failure(FailureKind.TEARDOWN_INCOMPLETE, f"passed, but {problems}")
    else:
        return Verdict.passed()
    return Verdict(verdict.status, verdict.kind, verdict.reason, problems)


def _start(command: list[str], cwd: Path, env: Mapping[str, str],
           record: Callable[[int], None]) -> subprocess.Popen[bytes]:  # fmt: skip
    """In its own session (we end it), its pid recorded before the file runs."""
    return spawn_recorded(command, record, env=env, stdout=subprocess.PIPE, cwd=cwd)


def _wait(popen: subprocess.Popen[bytes], token: CancelToken, timeout: float) -> None:
    """Until the file exits or its time limit; a cancel signal raises out of here."""
    try:
        popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        token.trip(JobTimedOut("timeout"))


def run_file(request: FileRequest, env: Mapping[str, str]) -> JobResult:
    """The file run once in its own folder (earlier runs' files moved aside)."""
    _, job_id = resolve(request.checkout, request.file)
    require_writable(request.results)
    with claimed(request.results, job_id) as folder:
        return run_file_in(request, env, folder)


def run_file_in(request: FileRequest, env: Mapping[str, str], folder: Path) -> JobResult:
    """One attempt of the file, writing into ``folder`` (claimed by the caller). The run
    ledger knows the file's process and session while it runs, so a runner killed by
    ``kill -9`` leaves nothing ``cleanup`` cannot end; secret values are scrubbed from the
    result and the folder afterwards, as a job's are."""
    path, job_id = resolve(request.checkout, request.file)
    run_env = ci_env(request.suite, env) if request.ci_env else dict(env)
    command = file_command(path)
    gpus = _gpus(env)
    result = JobResult(job_id, request.stage or request.suite or "registered", "sglang",
                       len(gpus), command=command, sglang_suite=request.suite or "")  # fmt: skip
    result.provenance = collect_provenance(env)  # which SGLang, commit, host and GPUs
    folder.mkdir(parents=True)
    result_path = folder / "result.json"
    result.write(result_path)
    ledger = RunLedger([job_id], [str(result_path)])
    scrubber = Scrubber(run_env, [command])
    try:
        _attempt(request, run_env, command, gpus, result, folder, ledger, scrubber)
    except (OSError, FatalError) as error:  # before the file ran: busy GPUs, no python3
        kind = error.kind if isinstance(error, FatalError) else FailureKind.INTERNAL
        result.finish(Verdict.failure(kind, f"the file did not start: {error}"))
    finally:
        ledger.close()
    result.reason, result.diagnostics = (
        scrubber.text(result.reason),
        scrubber.text(result.diagnostics),
    )
    scrub_folder(folder, scrubber)  # its output may print a token it was given
    result.write(result_path)
    return result


def _attempt(request: FileRequest, run_env: Mapping[str, str], command: list[str],
             gpus: list[str], result: JobResult, folder: Path,
             ledger: RunLedger, scrubber: Scrubber) -> None:  # fmt: skip
    job_id = result.job
    if gpus:  # the file must not share its GPUs with what an earlier one left
        with result.phase("gpu_idle"):
            gpu_memory.wait_idle(gpus, GPU_IDLE_S)
    baseline = gpu_memory.usage(gpus) or {}
    adopting = become_subreaper()  # orphans of the file re-parent to us, not to init
    token = CancelToken()
    started = time.monotonic()
    cwd = workdir(request.checkout.resolve())
    print(f"sglang-ci: {job_id}: cd {cwd} && {' '.join(command)}", flush=True)
    with CancelWatch(token) as watch:
        with watch.deferred():  # a signal before the tree is known would leak the file
            entry = ledger.add("file", job_id, [])
            popen = _start(command, cwd, run_env, functools.partial(ledger.started, entry))
            tree = ProcessTree(popen, functools.partial(ledger.seen, "file helper", job_id))
            sampler = PortSampler(tree)
            assert popen.stdout is not None
            tee = Tee(popen.stdout, folder / LOG_NAME, scrubber)
        try:
            _wait(popen, token, request.timeout)
        except RunInterrupted:
            pass  # recorded on the token; the sweep below ends the tree
        finally:
            result.phases["file"] = round(time.monotonic() - started, 3)
            with watch.shielded():
                grace = request.grace if popen.poll() is None else min(request.grace, 1.0)
                findings = sweep_file(tree, sampler, grace=grace, adopting=adopting,
                                      gpus=gpus, gpu_baseline=baseline,
                                      hurry=token.hurry)  # fmt: skip
                tee.join(timeout=5.0)
    result.phases["sweep"] = round(findings.seconds, 3)
    result.tests = count_tests(tee.tail)
    result.sweep = findings.as_dict()
    result.finish(_verdict(token, popen.returncode, request, result.tests, findings,
                           tee.tail))  # fmt: skip


def summary(result: JobResult) -> str:
    """One line: how the file ended, its counts, and what the sweep ended."""
    sweep = result.sweep
    ended = len(sweep.get("left_behind", [])) + len(sweep.get("adopted", []))
    counts = ", ".join(f"{value} {name}" for name, value in result.tests.items())
    return (f"{result.job}: {result.status}"
            + (f" ({result.reason})" if result.reason else "")
            + ("" if counts and counts in result.reason else
               f"; tests: {counts}" if counts else "; no test summary in its output")
            + f"; {number(result.phases.get('file', 0.0))} s; sweep: {ended} left-over"
            f" process(es) ended, ports seen {sweep.get('ports_seen', [])}")  # fmt: skip


# A stage's registered files in the stage's pipeline: each runs as ``run-file`` runs it,
# under the stage's time limit, attempted as a job is (``attempts``) but with SGLang's
# retry rule for files: decided on the file's output.
def _output(folder: Path) -> str:
    try:
        return (folder / LOG_NAME).read_text(errors="replace")
    except OSError:
        return ""


def run_file_job(
    file: FileJob, policy: RunPolicy, results: Path, env: Mapping[str, str],
    keep_earlier: int = KEEP_EARLIER,
) -> JobResult:  # fmt: skip
    request = FileRequest(file.checkout, file.id, policy.time_limit, results, file.suite,
                          stage=file.stage)  # fmt: skip
    require_writable(results)

    with claimed(results, file.id, keep_earlier) as folder:

        def attempt_once() -> JobResult:
            result = run_file_in(request, env, folder)
            say(summary(result))
            return result

        # SGLang decides a file's retry on its output (run_unittest_files).
        return attempted(file.id, folder, policy, attempt_once,
                         lambda done: classify_file(done.verdict, _output(folder)))  # fmt: skip
