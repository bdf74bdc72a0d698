"""A process is on record before it can escape (issue 20, items 7 and 8).

Item 7: kill -9 of the runner between starting a server and writing its pid left the
server running with a null pid in the ledger. Now the pid is recorded before the
server's command runs (launch.exec_gate); a runner that dies before recording leaves a
child that runs nothing. Item 8: helpers that left their server's session and were
adopted by the runner (subreaper) are recorded as they are found, so `cleanup` after
kill -9 ends them too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from sglang_ci.launch.exec_gate import GATE, spawn_recorded
from sglang_ci.launch.ports import listening
from tests.conftest import ROOT, TAG_ENV, run_python, tagged_processes
from tests.launch.test_cleanup import start_runner, wait_for_eval

pytestmark = pytest.mark.real_process

# A runner killed right after it started the server and before it recorded the pid: the
# launcher's own spawn, with the recording replaced by the kill.
KILLED_WHILE_RECORDING = """
import os, signal, sys
from pathlib import Path
from sglang_ci.launch.launcher import start_process
def die(pid):
    Path(sys.argv[2]).write_text(str(pid))
    os.kill(os.getpid(), signal.SIGKILL)
command = [sys.executable, "-c", f"open({sys.argv[1]!r}, 'w').write('ran')"]
start_process("server", command, os.environ, Path(sys.argv[3]), 0, None, die)
"""


def gone(pid: int, within: float = 30.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False


def test_a_runner_killed_before_recording_leaves_a_child_that_runs_nothing(
    tmp_path: Path, tag: str
) -> None:
    ran, child = tmp_path / "ran", tmp_path / "child"
    runner = subprocess.run(
        [sys.executable, "-c", KILLED_WHILE_RECORDING, str(ran), str(child),
         str(tmp_path / "server.log")],
        cwd=ROOT, env={**os.environ, TAG_ENV: tag}, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert runner.returncode == -signal.SIGKILL, runner.stderr
    assert gone(int(child.read_text()))  # it ended by itself: the gate saw end-of-file
    assert not ran.exists()  # and the command never ran
    assert "runner ended before it recorded this process" in (tmp_path / "server.log").read_text()
    assert tagged_processes(tag) == []


def test_the_pid_is_recorded_before_the_command_runs(tmp_path: Path) -> None:
    seen: list[list[str]] = []
    ran = tmp_path / "ran"
    command = [sys.executable, "-c", f"open({str(ran)!r}, 'w').write('ran')"]

    def record(pid: int) -> None:
        # Popen returns once the gate's exec is past its point of no return, a moment
        # before the kernel has set up its arguments: /proc shows no cmdline until then.
        deadline = time.monotonic() + 30
        while not (cmdline := psutil.Process(pid).cmdline()) and time.monotonic() < deadline:
            time.sleep(0.01)
        seen.append(cmdline)
        assert not ran.exists()

    with (tmp_path / "log").open("wb") as log:
        popen = spawn_recorded(command, record, env=os.environ, stdout=log)
    assert popen.wait(timeout=30) == 0 and ran.read_text() == "ran"
    (cmdline,) = seen
    assert cmdline[1:5] == ["-I", "-S", "-c", GATE]  # still the gate, not the command


def test_a_missing_program_fails_in_the_runner(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError), (tmp_path / "log").open("wb") as log:
        spawn_recorded(["no-such-program-here"], lambda pid: None, env=os.environ, stdout=log)


def ledger_roles(tmp_path: Path) -> list[str]:
    return [entry["role"] for path in (tmp_path / "ledger").glob("*.json")
            for entry in json.loads(path.read_text())["entries"] if entry["pid"]]  # fmt: skip


def test_adopted_escapees_are_reclaimed_after_kill_9(tmp_path: Path, tag: str) -> None:
    runner = start_runner(tmp_path, tag, "spec(model='llama-eagle3', topk=1)",
                          "slow_answer=30,slow_after=1,escapees=2")  # fmt: skip
    record = wait_for_eval(tmp_path / "results" / "spec-model-llama-eagle3-topk-1" /
                           "result.json", runner)  # fmt: skip
    deadline = time.monotonic() + 30  # the adoption watch scans every 0.2 s
    while ledger_roles(tmp_path).count("adopted") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ledger_roles(tmp_path).count("adopted") == 2, ledger_roles(tmp_path)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    assert len(tagged_processes(tag)) >= 3  # the server and the 2 escapees outlive it
    done = run_python("-m", "sglang_ci", "cleanup",
                      env={"SGLANG_CI_LEDGER": str(tmp_path / "ledger"),
                           "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks")})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "adopted (spec(model='llama-eagle3', topk=1))" in done.stdout
    assert tagged_processes(tag) == []
    assert listening(list(record["ports"].values())) == []
