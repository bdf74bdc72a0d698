"""kill -9 of the runner mid-eval, then `cleanup`: everything it started is ended (also
the PD router, which renames itself and drops its environment), its result says
`runner died`, its ports are free; a run in progress and strangers are left alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from sglang_ci.launch.ports import listening
from tests.conftest import ROOT, TAG_ENV, run_python, tagged_processes

pytestmark = pytest.mark.real_process


def start_runner(tmp_path: Path, tag: str, job: str, faults: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, TAG_ENV: tag, "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks"),
           "SGLANG_CI_LEDGER": str(tmp_path / "ledger"),
           "SGLANG_CI_STUB_FAULTS": faults}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "sglang_ci", "job", job, "--engine", "stub", "--results",
         str(tmp_path / "results")],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def wait_for_eval(result: Path, runner: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert runner.poll() is None, "the runner ended before its eval"
        if result.exists():
            record: dict[str, Any] = json.loads(result.read_text())
            if "checks" in record["phases"]:  # the checks are done: the suite is running
                return record
        time.sleep(0.05)
    raise AssertionError("the eval never started")


def ledger_pids(tmp_path: Path) -> list[int]:
    return [entry["pid"] for path in (tmp_path / "ledger").glob("*.json")
            for entry in json.loads(path.read_text())["entries"] if entry["pid"]]  # fmt: skip


def running(pid: int) -> bool:
    """The process exists and has not ended: a zombie has ended. The killed runner's servers
    re-parent to the nearest subreaper, which is this test process once an in-process run
    on this worker made it one; it reaps them at its leisure."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def cleanup(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return run_python("-m", "sglang_ci", "cleanup",
                      env={"SGLANG_CI_LEDGER": str(tmp_path / "ledger"),
                           "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks")})  # fmt: skip


@pytest.mark.parametrize(
    ("job", "folder", "faults"),
    [
        ("spec(model='llama-eagle3', topk=1)", "spec-model-llama-eagle3-topk-1",
         "slow_answer=30,slow_after=1,orphans=2"),
        ("disagg(model='dsv4-flash')", "disagg-model-dsv4-flash", "slow_answer=30,slow_after=1"),
    ],
)  # fmt: skip
def test_kill_9_then_cleanup_leaves_nothing(
    tmp_path: Path, tag: str, job: str, folder: str, faults: str
) -> None:
    runner = start_runner(tmp_path, tag, job, faults)
    result = tmp_path / "results" / folder / "result.json"
    record = wait_for_eval(result, runner)
    pids = ledger_pids(tmp_path)
    assert len(pids) >= len(record["servers"])
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    survivors = [pid for pid in pids if running(pid)]
    assert survivors, "without cleanup the servers outlive a killed runner"

    done = cleanup(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "cleanup: 1 dead run(s): ended" in done.stdout
    assert not any(running(pid) for pid in pids), done.stdout
    assert tagged_processes(tag) == []
    assert listening(list(record["ports"].values())) == []
    final = json.loads(result.read_text())
    assert final["status"] == "error" and final["failure_kind"] == "runner died"
    assert list((tmp_path / "ledger").glob("*.json")) == []
    assert list((tmp_path / "locks").glob("*.lock")) == []  # the dead run's port locks
    assert "no run left anything behind" in cleanup(tmp_path).stdout


def test_cleanup_leaves_a_run_in_progress_alone(tmp_path: Path, tag: str) -> None:
    runner = start_runner(tmp_path, tag, "spec(model='llama-eagle3', topk=1)",
                          "slow_answer=30,slow_after=1")  # fmt: skip
    try:
        wait_for_eval(tmp_path / "results" / "spec-model-llama-eagle3-topk-1" /
                      "result.json", runner)  # fmt: skip
        pids = ledger_pids(tmp_path)
        assert "no run left anything behind" in cleanup(tmp_path).stdout
        assert all(psutil.pid_exists(pid) for pid in pids)
    finally:
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=30) == 130
    assert tagged_processes(tag) == []
