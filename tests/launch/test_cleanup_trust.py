"""`cleanup` trusts nothing it did not write (issue 20, items 3 and 6): the ledger folder
is the user's own (0700); a file in it that is malformed or not the user's is reported in
one line and set aside (moved, not deleted), never acted on and never a traceback; a
process is signalled only when it runs as this user with the recorded start time, or is
a member of a session our server led; results are named by absolute path, and a result
whose run holds its folder is never marked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from sglang_ci.cli import main_exit_code
from sglang_ci.launch.file_locks import try_lock, unlock
from sglang_ci.launch.ledger import LEDGER_ENV, RunLedger, ledger_dir
from sglang_ci.run.cleanup import cleanup
from tests.conftest import FIXTURE_TOML

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]
DEAD_RUNNER = {"pid": os.getpid(), "create_time": 1.0}  # our pid, another start: gone


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "ledger"
    monkeypatch.setenv(LEDGER_ENV, str(folder))
    monkeypatch.setenv("SGLANG_CI_PORT_LOCKS", str(tmp_path / "locks"))
    return folder


def plant(folder: Path, name: str, data: Any, raw: str | None = None) -> Path:
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / name
    path.write_text(raw if raw is not None else json.dumps(data))
    return path


def entry(process: psutil.Process, **extra: Any) -> dict[str, Any]:
    return {"role": "server", "job": "j", "ports": [], "pid": process.pid,
            "create_time": process.create_time(), "pgid": process.pid, "sid": process.pid,
            **extra}  # fmt: skip


def dead_run(*entries: dict[str, Any], results: list[str] | None = None) -> dict[str, Any]:
    return {"runner": DEAD_RUNNER, "jobs": ["j"], "results": results or [],
            "entries": list(entries)}  # fmt: skip


def test_the_ledger_folder_is_private(ledger: Path) -> None:
    assert ledger_dir() == ledger
    assert ledger.stat().st_mode & 0o777 == 0o700
    ledger.chmod(0o1777)  # a folder of ours made shared (as the old default was)
    ledger_dir()
    assert ledger.stat().st_mode & 0o7777 == 0o700


def test_the_default_ledger_folder_is_per_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LEDGER_ENV, raising=False)
    folder = ledger_dir()
    assert folder.name == f"sglang-ci-ledger-{os.getuid()}"
    assert folder.stat().st_mode & 0o777 == 0o700 and folder.stat().st_uid == os.getuid()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to make another user's folder")
def test_a_ledger_folder_of_another_user_is_refused(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger.mkdir(mode=0o777)
    os.chown(ledger, 65534, 65534)
    assert main_exit_code(["cleanup"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "belongs to uid 65534, not to this user" in line and LEDGER_ENV in line


MALFORMED = [
    ("empty", ""),
    ("not JSON", "{"),
    ("a list", "[]"),
    ("no runner", json.dumps({"entries": []})),
    ("runner pid text", json.dumps({**dead_run(), "runner": {"pid": "1", "create_time": 1}})),
    ("runner pid zero", json.dumps({**dead_run(), "runner": {"pid": 0, "create_time": 1}})),
    ("entries not a list", json.dumps({**dead_run(), "entries": {"pid": 1}})),
    ("entry pid text", json.dumps(dead_run({"role": "s", "job": "j", "ports": [], "pid": "x"}))),
    ("entry ports text", json.dumps(dead_run({"role": "s", "job": "j", "ports": ["a"]}))),
    ("results numbers", json.dumps({**dead_run(), "results": [1]})),
    ("create_time text", json.dumps(dead_run({"role": "s", "job": "j", "ports": [],
                                              "pid": 5, "create_time": "now"}))),
    ("not UTF-8", "\udcff"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "raw"), MALFORMED, ids=[case for case, _ in MALFORMED])
def test_a_malformed_ledger_file_is_one_line_and_set_aside(
    ledger: Path, capsys: pytest.CaptureFixture[str], case: str, raw: str
) -> None:
    ledger.mkdir(mode=0o700)
    path = ledger / "123-abc.json"
    path.write_bytes(raw.encode("utf-8", "surrogateescape"))
    assert main_exit_code(["cleanup"]) == 0, case
    out, err = capsys.readouterr()
    assert err == "" and "Traceback" not in out
    (line,) = [line for line in out.splitlines() if "malformed" in line]
    assert str(path) in line and "moved to" in line
    (kept,) = (ledger / "set-aside").iterdir()  # moved, not deleted
    assert kept.read_bytes() == raw.encode("utf-8", "surrogateescape")
    assert not path.exists()
    assert main_exit_code(["cleanup"]) == 0  # the next run: nothing to say
    assert "malformed" not in capsys.readouterr().out


@pytest.mark.real_process
def test_a_run_after_a_malformed_file_starts(
    ledger: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plant(ledger, "9-x.json", None, raw=json.dumps({"runner": [], "entries": 3}))
    code = main_exit_code(["job", "spec(model='llama-eagle3', topk=1)", "--engine",
                           "stub", "--config", str(FIXTURE_TOML), "--results",
                           str(tmp_path / "results")])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in out + err
    assert "run ledger file" in out and "malformed (no runner)" in out


@pytest.mark.real_process
def test_a_reused_pid_leading_a_strangers_session_is_left_alone(ledger: Path) -> None:
    """The ledger names a server (pid, start time, its own session) that is gone; its pid
    now leads an unrelated session with a member. Neither may be signalled."""
    stranger = subprocess.Popen([*SLEEPER[:2], "import subprocess, sys, time;"
                                 f" subprocess.Popen({SLEEPER!r}); time.sleep(120)"],
                                start_new_session=True)  # fmt: skip
    try:
        leader = psutil.Process(stranger.pid)
        while not leader.children():
            pass  # its member started
        recorded = entry(leader, create_time=leader.create_time() - 30)  # an older process
        plant(ledger, "1-a.json", dead_run(recorded))
        done = cleanup()
        assert done.ended == [] and done.runs == 1
        assert stranger.poll() is None and all(c.is_running() for c in leader.children())
    finally:
        for child in psutil.Process(stranger.pid).children():
            child.kill()
        stranger.kill()
        stranger.wait()


@pytest.mark.real_process
@pytest.mark.skipif(os.getuid() != 0, reason="needs root to start another user's process")
def test_another_users_process_is_never_signalled(ledger: Path) -> None:
    """A ledger entry naming another user's process, pid and start time right."""
    victim = subprocess.Popen(["sleep", "120"], user=65534, start_new_session=True)
    try:
        plant(ledger, "1-a.json", dead_run(entry(psutil.Process(victim.pid))))
        assert cleanup().ended == []
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()


@pytest.mark.real_process
def test_a_ledger_file_of_another_user_is_set_aside(ledger: Path) -> None:
    ours = subprocess.Popen(SLEEPER, start_new_session=True)
    try:
        path = plant(ledger, "1-a.json", dead_run(entry(psutil.Process(ours.pid))))
        if os.getuid() == 0:
            os.chown(path, 65534, 65534)  # planted by someone else
        else:
            pytest.skip("needs root to plant another user's file")
        done = cleanup()
        assert done.ended == [] and ours.poll() is None
        assert "owned by uid 65534, not by this user" in done.set_aside[0]
    finally:
        ours.kill()
        ours.wait()


def write_running(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"job": "j", "stage": "s", "engine": "stub", "gpus": 0,
                                "status": "running", "phases": {}}))  # fmt: skip


def status(path: Path) -> str:
    return str(json.loads(path.read_text())["status"])


def test_results_are_recorded_by_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ledger: Path
) -> None:
    """A killed run in folder A with a relative --results; cleanup run from folder B,
    where a live run of the same job writes the same relative path."""
    killed, live = tmp_path / "a", tmp_path / "b"
    relative = Path("results/j/result.json")
    write_running(killed / relative)
    write_running(live / relative)
    monkeypatch.chdir(killed)
    run = RunLedger(["j"], [str(relative)])
    plant(ledger, run.path.name, dead_run(results=run.results))
    monkeypatch.chdir(live)
    lock = live / "results" / ".j.lock"
    held = try_lock(lock)  # the live run holds its job folder
    assert held is not None
    try:
        assert cleanup().marked == [str(killed / relative)]
    finally:
        unlock(lock, held)
    assert status(killed / relative) == "error"
    assert status(live / relative) == "running"


def test_a_result_whose_run_holds_its_folder_is_not_marked(tmp_path: Path, ledger: Path) -> None:
    result = tmp_path / "results" / "j" / "result.json"
    write_running(result)
    plant(ledger, "1-a.json", dead_run(results=[str(result)]))
    lock = tmp_path / "results" / ".j.lock"
    held = try_lock(lock)
    assert held is not None
    try:
        assert cleanup().marked == []
    finally:
        unlock(lock, held)
    assert status(result) == "running"
