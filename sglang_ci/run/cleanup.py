"""``python -m sglang_ci cleanup``, also run at the start of every run: end what a runner
that died (``kill -9``, a lost CI runner) left behind, as its run ledger records it, and
mark its unfinished results ``error`` / ``runner died``. Runs still in progress (their
runner alive) are left alone, and so is every process the ledger does not vouch for."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from sglang_ci.config.errors import FailureKind
from sglang_ci.launch.file_locks import try_lock, unlock
from sglang_ci.launch.ledger import alive, ledger_dir, read
from sglang_ci.launch.ports import lock_path
from sglang_ci.results.result_file import JobResult, Status, Verdict

GRACE_S = 5.0


@dataclass
class Reclaimed:
    runs: int = 0
    ended: list[str] = field(default_factory=list)  # "pid role (job)"
    marked: list[str] = field(default_factory=list)  # result.json paths

    def summary(self) -> str:
        if not self.runs:
            return "cleanup: no run left anything behind"
        return (f"cleanup: {self.runs} dead run(s): ended {len(self.ended)} process(es)"
                + (f" ({'; '.join(self.ended)})" if self.ended else "")
                + f"; {len(self.marked)} result(s) marked `runner died`")  # fmt: skip


def _leftovers(data: dict[str, Any]) -> dict[int, tuple[psutil.Process, str]]:
    """The ledger's processes still running, with the members of the sessions our
    servers led (nobody outside can join a session) and their descendants."""
    found: dict[int, tuple[psutil.Process, str]] = {}
    sessions: dict[int, str] = {}
    for entry in data.get("entries", []):
        label = f"{entry.get('role')} ({entry.get('job')})"
        process = alive(entry.get("pid"), entry.get("create_time"))
        if process is not None:
            found[process.pid] = (process, label)
        if entry.get("pid") and entry.get("sid") == entry.get("pid"):
            sessions[entry["sid"]] = label
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            sid = os.getsid(process.pid)
            if sid in sessions and process.pid != os.getpid():
                found.setdefault(process.pid, (process, sessions[sid]))
    for process, label in list(found.values()):
        with contextlib.suppress(psutil.Error):
            for child in process.children(recursive=True):
                found.setdefault(child.pid, (child, label))
    return found


def _end(processes: list[psutil.Process]) -> None:
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, left = psutil.wait_procs(processes, timeout=GRACE_S)
    for process in left:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(left, timeout=GRACE_S)


def _mark(path: Path) -> bool:
    try:
        result = JobResult.load(path)
    except (OSError, ValueError, TypeError):
        return False
    if result.status is not Status.RUNNING:
        return False
    result.finish(Verdict.failure(FailureKind.RUNNER_DIED, "runner died: what it started was"
                                  " ended by `python -m sglang_ci cleanup`"))  # fmt: skip
    result.write(path)
    return True


def _drop_port_locks(data: dict[str, Any]) -> None:
    """The dead runner's port lock files: the kernel released its locks, the files stay.
    Removed only when nobody holds them (another run may have taken the port since)."""
    for entry in data.get("entries", []):
        for port in entry.get("ports") or []:
            path = lock_path(int(port))
            fd = try_lock(path) if path.exists() else None
            if fd is not None:
                unlock(path, fd)


def cleanup() -> Reclaimed:
    """Passes until one finds no dead run: ending a packed run's slot workers (its
    ledger's processes) makes their own runs dead, for the next pass to reclaim."""
    reclaimed = Reclaimed()
    for _ in range(3):
        runs = reclaimed.runs
        _cleanup_pass(reclaimed)
        if reclaimed.runs == runs:
            break
    return reclaimed


def _cleanup_pass(reclaimed: Reclaimed) -> None:
    for path in sorted(ledger_dir().glob("*.json")):
        data = read(path)
        if data is None:
            continue
        runner = data.get("runner", {})
        if alive(runner.get("pid"), runner.get("create_time")) is not None:
            continue  # a run in progress
        reclaimed.runs += 1
        leftovers = _leftovers(data)
        _end([process for process, _ in leftovers.values()])
        reclaimed.ended += [f"{pid} {label}" for pid, (_, label) in sorted(leftovers.items())]
        reclaimed.marked += [r for r in data.get("results", []) if _mark(Path(r))]
        _drop_port_locks(data)
        with contextlib.suppress(OSError):
            path.unlink()


def cleanup_before_run() -> None:
    """At the start of every run: say something only when something was left."""
    reclaimed = cleanup()
    if reclaimed.runs:
        print(f"sglang-ci: {reclaimed.summary()}", flush=True)
