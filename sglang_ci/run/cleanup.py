"""``python -m sglang_ci cleanup``, also run at the start of every run: end what a runner
that died (``kill -9``, a lost CI runner) left behind, as its run ledger records it, and
mark its unfinished results ``error`` / ``runner died``. Runs still in progress (their
runner alive) are left alone, and so is every process the ledger does not vouch for."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from sglang_ci.config.secrets import Scrubber
from sglang_ci.launch.file_locks import try_lock, unlock
from sglang_ci.launch.ledger import START_TIME_SLACK_S, Entry, alive, ledger_dir, ours
from sglang_ci.launch.ledger_check import LedgerFile, Malformed, parse, set_aside
from sglang_ci.launch.ports import lock_path
from sglang_ci.outcome.kinds import FailureKind
from sglang_ci.outcome.verdict import Status, Verdict
from sglang_ci.results.result_file import JobResult
from sglang_ci.results.scrub import scrub_folder

GRACE_S = 5.0


@dataclass
class Reclaimed:
    runs: int = 0
    ended: list[str] = field(default_factory=list)  # "pid role (job)"
    marked: list[str] = field(default_factory=list)  # result.json paths
    set_aside: list[str] = field(default_factory=list)  # one line per malformed file

    def summary(self) -> str:
        if not self.runs:
            return "cleanup: no run left anything behind"
        return (f"cleanup: {self.runs} dead run(s): ended {len(self.ended)} process(es)"
                + (f" ({'; '.join(self.ended)})" if self.ended else "")
                + f"; {len(self.marked)} result(s) marked `runner died`")  # fmt: skip


def _started_after(process: psutil.Process, created: float | None) -> bool:
    """A member of our server's session or tree started after the server did."""
    try:
        return created is None or process.create_time() >= created - START_TIME_SLACK_S
    except psutil.Error:
        return False


def _session_is_ours(entry: Entry) -> bool:
    """The session our server led is still ours: its leader runs with the recorded start
    time, or no process has its id any more (the kernel does not reuse a pid while a
    session or group still bears it, so the members left are the ones our server
    started). A live process with that pid but another start time is a stranger whose
    session must not be touched."""
    if entry.pid is None or entry.sid != entry.pid:
        return False
    if alive(entry.pid, entry.create_time) is not None:
        return True
    return not psutil.pid_exists(entry.pid)


def _leftovers(ledger: LedgerFile) -> dict[int, tuple[psutil.Process, str]]:
    """The ledger's processes still running as this user, with the members of the
    sessions our servers led (nobody outside can join a session) and their descendants;
    every one checked before it is named."""
    found: dict[int, tuple[psutil.Process, str]] = {}
    sessions: dict[int, tuple[str, float | None]] = {}
    for entry in ledger.entries:
        label = f"{entry.role} ({entry.job})"
        process = alive(entry.pid, entry.create_time)
        if process is not None:
            found[process.pid] = (process, label)
        if entry.pid is not None and _session_is_ours(entry):
            sessions[entry.pid] = (label, entry.create_time)
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            sid = os.getsid(process.pid)
            if sid in sessions and process.pid != os.getpid():
                label, created = sessions[sid]
                if ours(process) and _started_after(process, created):
                    found.setdefault(process.pid, (process, label))
    for process, label in list(found.values()):
        with contextlib.suppress(psutil.Error):
            for child in process.children(recursive=True):
                if ours(child) and _started_after(child, process.create_time()):
                    found.setdefault(child.pid, (child, label))
    return found


def _end(processes: list[psutil.Process]) -> None:
    # psutil checks before each signal that the pid still names the process it saw
    # (its start time), so a pid reused since the scan is not signalled.
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, left = psutil.wait_procs(processes, timeout=GRACE_S)
    for process in left:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(left, timeout=GRACE_S)


def _held_by_a_live_run(path: Path) -> bool:
    """Whether a run holds the job folder's lock (results/.<folder>.lock) right now:
    its runner is alive, so its result is not ours to mark."""
    lock = path.parent.parent / f".{path.parent.name}.lock"
    if not lock.exists():
        return False
    fd = try_lock(lock)
    if fd is None:
        return True
    unlock(lock, fd)
    return False


def _mark(path: Path) -> bool:
    if not path.is_absolute() or _held_by_a_live_run(path):
        return False  # a relative path is another folder's file (older ledgers)
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


def _drop_port_locks(ledger: LedgerFile) -> None:
    """The dead runner's port lock files: the kernel released its locks, the files stay.
    Removed only when nobody holds them (another run may have taken the port since)."""
    for entry in ledger.entries:
        for port in entry.ports:
            path = lock_path(port)
            fd = try_lock(path) if path.exists() else None
            if fd is not None:
                unlock(path, fd)


def scrub_dead_runs_folders(results: list[str]) -> None:
    """A runner killed by ``kill -9`` never scrubbed its job folders: the server's log
    holds its arguments (an api key) and maybe the environment (GITHUB_TOKEN). Hidden here,
    before the workflow's upload step: the secret values of the environment cleanup runs
    in (a CI step's is the dead runner's), and any value after a secret-looking name."""
    scrubber = Scrubber(os.environ, [], by_name=True)
    for result in results:
        scrub_folder(Path(result).parent, scrubber)


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
        try:
            ledger = parse(path)
        except Malformed as why:
            if path.exists():  # not a file its runner removed while we read it
                reclaimed.set_aside.append(set_aside(path, str(why)))
            continue
        if alive(ledger.runner.pid, ledger.runner.create_time) is not None:
            continue  # a run in progress
        reclaimed.runs += 1
        leftovers = _leftovers(ledger)
        _end([process for process, _ in leftovers.values()])
        reclaimed.ended += [f"{pid} {label}" for pid, (_, label) in sorted(leftovers.items())]
        reclaimed.marked += [r for r in ledger.results if _mark(Path(r))]
        scrub_dead_runs_folders(list(ledger.results))
        _drop_port_locks(ledger)
        with contextlib.suppress(OSError):
            path.unlink()


def cleanup_before_run() -> None:
    """At the start of every run: say something only when something was left."""
    reclaimed = cleanup()
    for line in reclaimed.set_aside:
        print(f"sglang-ci: {line}", flush=True)
    if reclaimed.runs:
        print(f"sglang-ci: {reclaimed.summary()}", flush=True)
