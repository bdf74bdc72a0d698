"""The run pipeline end to end on the stub, on a small config of its own: per-run
cancellation (a timeout never poisons the next job or the retry), the liveness watch in
calibrations, cancellation inside a shared launch, and the teardown verdict."""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sglang_ci.launch.cancel import CancelToken
from sglang_ci.outcome.errors import JobCancelled
from sglang_ci.outcome.kinds import FailureKind
from sglang_ci.outcome.verdict import Status, Verdict
from sglang_ci.results.result_file import JobResult, job_dir_name
from sglang_ci.run.verdict_rules import after_teardown
from tests.conftest import ROOT, TAG_ENV, run_python, tagged_processes, write_quick_project

CONFIG = """
[models.slow]
model-path = "org/slow"
env = { SGLANG_CI_STUB_FAULTS = "slow_answer=30" }

[models.pair-a]
model-path = "org/pair"
env = { SGLANG_CI_STUB_FAULTS = "slow_answer=30" }

[models.pair-b]
model-path = "org/pair"
env = { SGLANG_CI_STUB_FAULTS = "slow_answer=30" }

[models.fast]
model-path = "org/fast"

[models.crashing]
model-path = "org/crashing"
env = { SGLANG_CI_STUB_FAULTS = "crash_after=25" }

[suites.quick]
axes = ["model"]
score = "gsm8k"
eval = { num-examples = 20, num-shots = 5, threads = 8 }

[stages.timeouts]
gpus = 1
runner = "r"
timeout = 30

[[stages.timeouts.jobs]]
suite = "quick"
model = "slow"
thresholds = { gsm8k = 0.5 }
est-time = 20  # the longest runs first, as run_suite orders a shard

[[stages.timeouts.jobs]]
suite = "quick"
model = "fast"
thresholds = { gsm8k = 0.5 }
est-time = 10

[stages.shared]
gpus = 1
runner = "r"
timeout = 30

[[stages.shared.jobs]]
suite = "quick"
model = "pair-a"
thresholds = { gsm8k = 0.5 }
est-time = 10

[[stages.shared.jobs]]
suite = "quick"
model = "pair-b"
thresholds = { gsm8k = 0.5 }
est-time = 10

[stages.calibration]
gpus = 1
runner = "r"
timeout = 30

[[stages.calibration.jobs]]
suite = "quick"
model = "crashing"
thresholds = { gsm8k = 0.5 }
est-time = 10
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A stages.toml with its own suites/ folder beside it."""
    return write_quick_project(tmp_path, CONFIG)


def result_of(results: Path, job: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((results / job_dir_name(job) / "result.json").read_text())
    return data


def env_for(tmp_path: Path, tag: str) -> dict[str, str]:
    return {TAG_ENV: tag, "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks")}


def launched(folder: Path) -> bool:
    """The attempt writing ``folder`` has its servers ready (the launch phase recorded)."""
    try:
        return "launch" in json.loads((folder / "result.json").read_text())["phases"]
    except (OSError, ValueError, KeyError):
        return False


def run_limit_reached_when(argv: list[str], env: dict[str, str],
                           ready: list[Callable[[], bool]]) -> tuple[int, str]:  # fmt: skip
    """Run the runner; each time the next condition of ``ready`` holds, its time limit
    expires: SIGALRM, the signal the limit's own timer sends, at a point the test chose
    rather than after seconds a loaded machine may need for the healthy work."""
    runner = subprocess.Popen(argv, env={**os.environ, **env}, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        for condition in ready:
            while not condition():
                assert runner.poll() is None, runner.communicate()[0].decode()
                assert time.monotonic() < deadline
                time.sleep(0.05)
            runner.send_signal(signal.SIGALRM)
        output = runner.communicate(timeout=120)[0].decode()
    finally:
        if runner.poll() is None:
            runner.kill()
    return runner.returncode, output


@pytest.mark.real_process
def test_timeout_then_a_healthy_job_in_one_run(project: Path, tmp_path: Path, tag: str) -> None:
    """Job 1 times out in both attempts, each a full attempt (not an instant failure left
    over from the first); job 2, in the same process, passes. The limit is long (600 s):
    each attempt of job 1 reaches it when the test says (its servers ready, its smoke
    request hanging on the slow stub), so no healthy step races a short limit."""
    results = tmp_path / "results"
    slow_dir = results / job_dir_name("quick(model='slow')")
    first = slow_dir.with_name(f"{slow_dir.name}-attempt-1")
    code, output = run_limit_reached_when(
        [sys.executable, "-m", "sglang_ci", "run", "--stage", "timeouts", "--engine", "stub",
         "--config", str(project), "--results", str(results), "--timeout", "600",
         "--enable-retry", "--max-attempts", "2", "--retry-wait", "0",
         "--retry-timeout-increase", "0", "--continue-on-error"],
        env_for(tmp_path, tag),
        [lambda: launched(slow_dir), lambda: first.is_dir() and launched(slow_dir)],
    )  # fmt: skip
    assert code == 124, output  # one job failed: its code (README's table)
    slow, fast = (
        result_of(results, "quick(model='slow')"),
        result_of(results, "quick(model='fast')"),
    )
    assert [a["status"] for a in slow["attempts"]] == ["timeout", "timeout"], slow["attempts"]
    assert slow["failure_kind"] == "time limit"
    assert slow["reason"] == "ran past its time limit of 600 s"
    # The retry ran until its own limit: it did not fail at once on a stale stop event, but
    # launched its server (ready, recorded) and was stopped only by the limit.
    assert "launch" in slow["phases"] and slow["servers"][0]["ready_after_s"] is not None
    assert slow["servers"][0]["teardown"]["survivors"] == []
    assert fast["status"] == "passed", fast["reason"]
    assert fast["score"] == 1.0
    # Provenance (issue 15, item 3): the runner's own commit, as git itself reports it.
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip
    assert fast["provenance"]["runner_commit"] == head
    assert fast["provenance"]["python"] == platform.python_version()
    assert fast["provenance"]["host"] == socket.gethostname()
    assert tagged_processes(tag) == []


@pytest.mark.real_process
def test_fail_fast_skips_the_rest_of_the_partition(project: Path, tmp_path: Path, tag: str) -> None:
    """ci_utils.py run_unittest_files @ 6ed5780c4f: without --continue-on-error the
    first failing file ends the run (`if not continue_on_error: break`); here the jobs
    left are recorded as skipped, with why, in the table and in their result files."""
    results = tmp_path / "results"
    run = run_python(
        "-m", "sglang_ci", "run", "--stage", "timeouts", "--engine", "stub", "--config",
        str(project), "--results", str(results), "--timeout", "2",
        env=env_for(tmp_path, tag), timeout=120,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 124, output  # one job failed (time limit): its code
    slow, fast = (
        result_of(results, "quick(model='slow')"),
        result_of(results, "quick(model='fast')"),
    )
    assert [a["status"] for a in slow["attempts"]] == ["timeout"]  # one attempt: no retry
    assert fast["status"] == "skipped" and fast["exit_code"] == 0
    why = "not run: fail-fast after quick(model='slow') timeout (continue-on-error is off)"
    assert fast["reason"] == why
    assert f"quick(model='fast'): skipped: {why}" in run.stdout
    assert tagged_processes(tag) == []


@pytest.mark.real_process
def test_cancel_inside_a_shared_launch(project: Path, tmp_path: Path, tag: str) -> None:
    results = tmp_path / "results"
    runner = subprocess.Popen(
        [sys.executable, "-m", "sglang_ci", "run", "--stage", "shared", "--engine", "stub",
         "--config", str(project), "--results", str(results)],
        env={**os.environ, **env_for(tmp_path, tag)}, cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert runner.stdout is not None
    lines = []
    for line in runner.stdout:  # the launch is ready: the first job's checks are running
        lines.append(line)
        if "ready:" in line:
            break
    time.sleep(0.3)
    signalled = time.monotonic()
    runner.send_signal(signal.SIGINT)
    output = "".join(lines) + runner.communicate(timeout=30)[0]
    assert time.monotonic() - signalled < 10, "torn down inside GitHub's cancel window"
    assert runner.returncode == 130, output
    first = result_of(results, "quick(model='pair-a')")
    second = result_of(results, "quick(model='pair-b')")
    assert first["status"] == "cancelled" and first["reason"] == "cancelled by SIGINT"
    assert second["status"] == "skipped" and second["failure_kind"] == "cancelled"
    assert "not run: the shared launch ended during quick(model='pair-a')" in second["reason"]
    assert second["launched_by"] == "quick(model='pair-a')"
    assert tagged_processes(tag) == []


@pytest.mark.real_process
def test_calibrate_with_a_server_that_dies(project: Path, tmp_path: Path, tag: str) -> None:
    """The server dies during the second eval: the calibration ends with `server died`
    before any report (--write is refused on the stub altogether: test_evidence.py)."""
    baselines = project.parent / "baselines.toml"
    run = run_python(
        "-m", "sglang_ci", "calibrate", "quick(model='crashing')", "--engine", "stub",
        "--runs", "3", "--config", str(project), "--results",
        str(tmp_path / "results"), env=env_for(tmp_path, tag), timeout=120,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 5, output
    assert "calibration stopped (server died: server exited with code 1 during the run)" in output
    assert "run 1: gsm8k 1.0000" in output and "run 2:" not in output
    assert not baselines.exists()
    assert tagged_processes(tag) == []


def test_teardown_incomplete_is_an_error_with_exit_code_6() -> None:
    problems = ["ports still held after teardown: 41234"]
    verdict = after_teardown(Verdict.passed(), CancelToken(), problems, None)
    assert verdict.status is Status.ERROR
    assert verdict.kind is FailureKind.TEARDOWN_INCOMPLETE and verdict.exit_code == 6
    assert verdict.reason == "teardown incomplete: ports still held after teardown: 41234"
    cancelled = Verdict.failure(FailureKind.CANCELLED, "cancelled by SIGINT")
    kept = after_teardown(cancelled, CancelToken(), problems, None)
    assert kept.status is Status.CANCELLED and kept.exit_code == 130
    assert kept.reason.endswith("; teardown incomplete: ports still held after teardown: 41234")


def test_a_signal_during_teardown_cancels_a_passed_job() -> None:
    token = CancelToken()
    token.trip(JobCancelled("SIGTERM"))
    verdict = after_teardown(Verdict.passed(), token, [], None)
    assert verdict.status is Status.CANCELLED and verdict.exit_code == 130


def test_result_file_round_trips_its_typed_verdict(tmp_path: Path) -> None:
    result = JobResult("quick(model='fast')", "timeouts", "stub", 1)
    result.finish(Verdict.failure(FailureKind.SERVER_DIED, "server exited with code -9",
                                  "last 50 lines of server.log:\n..."))  # fmt: skip
    result.write(tmp_path / "result.json")
    loaded = JobResult.load(tmp_path / "result.json")
    assert loaded.verdict == result.verdict
    assert loaded.exit_code == 5 and loaded.status is Status.ERROR
    assert json.loads((tmp_path / "result.json").read_text())["failure_kind"] == "server died"
    assert not list(tmp_path.glob(".result.json.*")), "no temporary file left behind"
