"""README's exit-code table on every route (the CLI's `job`, `run --stage`, a nox job
session), and a cancellation between attempts: `cancelled`, exit 130, a final result.json.

Every signal here is sent when a condition is seen (a folder, a log line), never after a
fixed delay, so the tests do not depend on the machine's speed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sglang_ci.results.result_file import job_dir_name
from tests.conftest import ROOT, TAG_ENV, run_python, tagged_processes, write_quick_project

pytestmark = pytest.mark.real_process

CONFIG = """
[models.broken]
model-path = "org/broken"
env = { SGLANG_CI_STUB_FAULTS = "exit_on_start=3" }

[models.fine]
model-path = "org/fine"

[models.weak]
model-path = "org/weak"
env = { SGLANG_CI_STUB_ACCURACY = "0.0" }

[models.starting]
model-path = "org/starting"
env = { SGLANG_CI_STUB_FAULTS = "slow_start=600" }

[suites.quick]
axes = ["model"]
score = "gsm8k"
eval = { num-examples = 20, num-shots = 5, threads = 8 }

[stages.routes]
gpus = 1
runner = "r"
timeout = 30

[[stages.routes.jobs]]
suite = "quick"
model = ["weak", "starting"]
thresholds = { gsm8k = 0.5 }
est-time = 10

[stages.one-broken]
gpus = 1
runner = "r"
timeout = 30

[[stages.one-broken.jobs]]
suite = "quick"
model = ["broken", "fine"]
thresholds = { gsm8k = 0.5 }
est-time = 10
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_quick_project(tmp_path, CONFIG)


def env_for(tmp_path: Path, tag: str) -> dict[str, str]:
    return {TAG_ENV: tag, "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks"),
            "SGLANG_CI_LEDGER": str(tmp_path / "ledger")}  # fmt: skip


def record(results: Path, job: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((results / job_dir_name(job) / "result.json").read_text())
    return data


def wait_until(condition: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    """Until ``condition`` holds; fails at once if the process ended first."""
    deadline = time.monotonic() + 120
    while not condition():
        assert process.poll() is None, process.communicate()[0].decode()
        assert time.monotonic() < deadline, "condition not met within 120 s"
        time.sleep(0.05)


def started(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True,  # signals reach it alone
    )  # fmt: skip


def finished(process: subprocess.Popen[bytes]) -> str:
    try:
        return process.communicate(timeout=120)[0].decode()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_the_retry_wait_cancels(
    project: Path, tmp_path: Path, tag: str, sig: signal.Signals
) -> None:
    job, results = "quick(model='weak')", tmp_path / "results"
    runner = started(
        [sys.executable, "-m", "sglang_ci", "job", job, "--engine", "stub", "--config",
         str(project), "--results", str(results), "--enable-retry", "--max-attempts", "2",
         "--retry-wait", "600"], env_for(tmp_path, tag),
    )  # fmt: skip
    first = results / f"{job_dir_name(job)}-attempt-1"
    wait_until(lambda: (first / "result.json").is_file(), runner)  # the wait has begun
    runner.send_signal(sig)
    output = finished(runner)
    assert runner.returncode == 130, output
    assert "Traceback" not in output
    final = record(results, job)
    assert (final["status"], final["failure_kind"], final["exit_code"]) == (
        "cancelled", "cancelled", 130)  # fmt: skip
    assert final["reason"] == f"cancelled by {sig.name} during the wait before attempt 2"
    assert [(a["attempt"], a["status"]) for a in final["attempts"]] == [
        (1, "failed"), (2, "cancelled")]  # fmt: skip
    assert json.loads((first / "result.json").read_text())["failure_kind"] == "below threshold"
    assert tagged_processes(tag) == []


def test_job_route_exit_code_of_a_launch_exit(project: Path, tmp_path: Path, tag: str) -> None:
    run = run_python("-m", "sglang_ci", "job", "quick(model='broken')", "--engine", "stub",
                     "--config", str(project), "--results", str(tmp_path / "results"),
                     env=env_for(tmp_path, tag))  # fmt: skip
    assert run.returncode == 5, run.stdout + run.stderr
    assert record(tmp_path / "results", "quick(model='broken')")["failure_kind"] == "launch exit"


def test_stage_route_with_one_launch_exit_exits_5(project: Path, tmp_path: Path, tag: str) -> None:
    """One job failed (launch exit), the next one skipped by fail-fast: the one failure's
    code, 5, not the 1 of several failures."""
    results = tmp_path / "results"
    run = run_python("-m", "sglang_ci", "run", "--stage", "one-broken", "--engine", "stub",
                     "--config", str(project), "--results", str(results),
                     env=env_for(tmp_path, tag), timeout=120)  # fmt: skip
    assert run.returncode == 5, run.stdout + run.stderr
    assert record(results, "quick(model='fine')")["status"] == "skipped"
    continued = run_python(
        "-m", "sglang_ci", "run", "--stage", "one-broken", "--engine", "stub", "--config",
        str(project), "--results", str(tmp_path / "again"), "--continue-on-error",
        env=env_for(tmp_path, tag), timeout=120,
    )  # fmt: skip
    assert continued.returncode == 5, continued.stdout + continued.stderr
    assert record(tmp_path / "again", "quick(model='fine')")["status"] == "passed"


def nox(session: str, project: Path, results: Path, env: dict[str, str]) -> list[str]:
    return [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", session, "--",
            "--engine", "stub", "--results", str(results)]  # fmt: skip


def test_nox_route_cancel_exits_130(project: Path, tmp_path: Path, tag: str) -> None:
    results = tmp_path / "results"
    env = {**env_for(tmp_path, tag), "SGLANG_CI_CONFIG": str(project)}
    runner = started(nox("quick(model='starting')", project, results, env), env)
    log = results / job_dir_name("quick(model='starting')") / "server.log"
    wait_until(lambda: log.is_file() and "listening on" in log.read_text(), runner)
    runner.send_signal(signal.SIGINT)
    output = finished(runner)
    assert runner.returncode == 130, output
    assert record(results, "quick(model='starting')")["status"] == "cancelled"
    assert tagged_processes(tag) == []


def test_nox_route_failure_names_the_runners_code(project: Path, tmp_path: Path, tag: str) -> None:
    """nox ends every failed session with 1 (its own rule); the session's error line keeps
    the runner's code."""
    env = {**env_for(tmp_path, tag), "SGLANG_CI_CONFIG": str(project)}
    run = subprocess.run(nox("quick(model='broken')", project, tmp_path / "results", env),
                         env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=False)  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    assert "failed with exit code 5" in run.stdout + run.stderr
