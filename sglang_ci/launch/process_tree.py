"""Every process that ever belonged to a server we started, and ending all of them.

A server is started in a session of its own, so its session id and process group id
equal its pid. Its processes are found three ways, because each alone misses some:
- a psutil walk of its descendants, taken every few hundred ms while it runs (catches a
  child that called setsid while still attached);
- its process group and session, scanned at teardown (catch helpers that re-parented
  away when their parent died, as SGLang's schedulers do);
- this process as a child subreaper (Linux), so orphans re-parent to us, not PID 1,
  and we can reap them instead of leaving zombies.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

_PR_SET_CHILD_SUBREAPER = 36
WALK_INTERVAL_S = 0.2
# How long closing may wait for the walker: the walk in progress (a /proc scan, ms) and
# then it sees the stop event.
WALKER_JOIN_S = 2.0


def become_subreaper() -> bool:
    """Make orphaned descendants re-parent to this process (Linux); False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _reap(process: psutil.Process) -> None:
    """Collect the exit status of our own child (or adopted orphan) so no zombie stays.
    A process may be gone already, reaped by its own parent (a compiler run by SGLang's
    scheduler during its JIT build): psutil then raises NoSuchProcess, which must not
    abort the teardown of everything else."""
    with contextlib.suppress(ChildProcessError, OSError, psutil.Error):
        if process.ppid() == os.getpid():
            os.waitpid(process.pid, os.WNOHANG)


@dataclass(frozen=True)
class TeardownReport:
    terminated: int  # ended by SIGTERM
    killed: int  # needed SIGKILL
    survivors: tuple[str, ...]  # "pid name" of processes still alive at the end
    seconds: float
    how: str = ""  # how the main process ended: see ending()
    exit_code: int | None = None  # the main process's


def ending(was_running: bool, exit_code: int | None, killed_by_us: bool) -> str:
    """How the main process ended, in words. SGLang's launch_server answers SIGTERM by
    SIGKILLing its own tree, itself last, so -9 after our SIGTERM alone is its own handler
    at work, not a kill of ours."""
    if not was_running:
        return f"had exited before teardown (code {exit_code})"
    if killed_by_us:
        return "killed by us (SIGKILL after the grace period)"
    if exit_code == -signal.SIGKILL:
        return "ended by its own handler after SIGTERM (exit -9)"
    if exit_code is None:
        return "still running"
    return f"exited after SIGTERM (code {exit_code})"


class ProcessTree:
    def __init__(
        self, popen: subprocess.Popen[bytes], on_found: Callable[[int], None] | None = None
    ) -> None:
        self.popen = popen
        self.on_found = on_found  # told of each new member (the run ledger records it)
        self.pid = popen.pid
        self.known: dict[int, psutil.Process] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        with contextlib.suppress(psutil.Error):
            self.known[self.pid] = psutil.Process(self.pid)
        self._walker = threading.Thread(
            target=self._walk_loop, name=f"process-tree-{self.pid}", daemon=True
        )
        self._walker.start()

    def _walk_loop(self) -> None:
        while not self._stop.wait(WALK_INTERVAL_S):
            if self.popen.poll() is not None:
                # The server itself is gone: no descendants left to find through it
                # (orphans are found by their group and session at teardown).
                return
            self.walk()

    def close(self) -> None:
        """Stop the walker thread and wait for it (bounded). Teardown calls this; call it
        directly for a tree that is never torn down. Idempotent."""
        self._stop.set()
        if self._walker is not threading.current_thread():
            self._walker.join(timeout=WALKER_JOIN_S)

    @property
    def walking(self) -> bool:
        return self._walker.is_alive()

    def walk(self) -> None:
        """Record the server's current descendants."""
        try:
            found = psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            return
        with self._lock:
            new = [p for p in found if p.pid not in self.known]
            for process in new:
                self.known[process.pid] = process
        if self.on_found is not None:
            for process in new:
                with contextlib.suppress(OSError):  # a ledger write must not stop the walker
                    self.on_found(process.pid)

    def _session_members(self) -> list[psutil.Process]:
        members = []
        for process in psutil.process_iter():
            with contextlib.suppress(OSError, psutil.Error):
                if os.getsid(process.pid) == self.pid or os.getpgid(process.pid) == self.pid:
                    members.append(process)
        return members

    def members(self) -> list[psutil.Process]:
        """Every live process that belongs or ever belonged to the server."""
        self.walk()
        with self._lock:
            for process in self._session_members():
                self.known.setdefault(process.pid, process)
            candidates = list(self.known.values())
        return [process for process in candidates if _alive(process)]

    def _signal(self, processes: list[psutil.Process], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)
        for process in processes:
            with contextlib.suppress(psutil.Error):
                process.send_signal(sig)

    def _wait_gone(
        self,
        processes: list[psutil.Process],
        deadline: float,
        hurry: threading.Event | None = None,
    ) -> list[psutil.Process]:
        alive = processes
        while alive:
            # The main process is reaped by its Popen, which keeps its exit status; a
            # waitpid of ours would take it (Popen then reports 0).
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=0)
            for process in alive:
                if process.pid != self.pid:
                    _reap(process)
            alive = [process for process in alive if _alive(process)]
            if not alive or time.monotonic() >= deadline or (hurry and hurry.is_set()):
                break
            time.sleep(0.02)
        return alive

    def teardown(
        self, grace: float, kill_wait: float = 5.0, hurry: threading.Event | None = None
    ) -> TeardownReport:
        """SIGTERM, up to ``grace`` seconds (less if ``hurry`` is set), SIGKILL, then wait
        until every one is reaped."""
        started = time.monotonic()
        try:
            return self._teardown(started, grace, kill_wait, hurry)
        finally:
            self.close()

    def _teardown(
        self, started: float, grace: float, kill_wait: float, hurry: threading.Event | None
    ) -> TeardownReport:
        self._stop.set()  # no walk races the scans below; close() joins the walker after
        was_running = self.popen.poll() is None
        targets = self.members()
        self._signal(targets, signal.SIGTERM)
        left = self._wait_gone(targets, time.monotonic() + grace, hurry)
        terminated = len(targets) - len(left)
        killed: set[int] = set()
        # Anything still alive, or started while we waited, gets SIGKILL; repeat until a
        # scan finds nobody, since a dying process may still fork.
        deadline = time.monotonic() + kill_wait
        while True:
            stragglers = self.members()
            if not stragglers or time.monotonic() >= deadline:
                break
            killed.update(p.pid for p in stragglers)
            self._signal(stragglers, signal.SIGKILL)
            self._wait_gone(stragglers, deadline)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        survivors = tuple(f"{p.pid} {_name(p)}" for p in self.members())
        code = self.popen.poll()
        how = ending(was_running, code, self.pid in killed)
        return TeardownReport(terminated, len(killed), survivors, time.monotonic() - started,
                              how, code)  # fmt: skip


def _name(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline()[:4]) or process.name()
    except psutil.Error:
        return "?"


class AdoptionWatch:
    """While a launch runs, the orphans this runner adopted as child subreaper (children
    it did not start: helpers that left their server's group and session, then lost
    their parent) are told to ``on_adopted`` as a walk finds them, with their
    descendants, so that the run ledger holds them if the runner is killed before its
    teardown sweeps them. ``known`` gives the pids the runner started or recorded."""

    def __init__(self, known: Callable[[], set[int]], on_adopted: Callable[[int], None]) -> None:
        self.known = known
        self.on_adopted = on_adopted
        self.seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="adoption-watch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(WALK_INTERVAL_S):
            self.scan()

    def scan(self) -> None:
        try:
            known = self.known()  # once a scan: it copies the ledger's pids under its lock
            adopted = [c for c in psutil.Process().children() if c.pid not in known]
            for child in list(adopted):
                adopted += child.children(recursive=True)
        except psutil.Error:
            return
        for process in adopted:
            if process.pid not in self.seen and _alive(process):
                self.seen.add(process.pid)
                with contextlib.suppress(OSError):  # a ledger write must not stop the watch
                    self.on_adopted(process.pid)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=WALKER_JOIN_S)


def sweep_adopted(started: set[int], grace: float = 1.0) -> list[str]:
    """End the orphans this process adopted as subreaper: descendants of our servers that
    left their process group and session (setsid) before their parent died, so that no
    scan found them. Only the runner's own servers ever run under it, so any child it did
    not start itself is one of those. Returns problems for any that survive."""
    try:
        strays = [c for c in psutil.Process().children() if c.pid not in started and _alive(c)]
        for stray in list(strays):
            strays += stray.children(recursive=True)
    except psutil.Error:
        return []
    if not strays:
        return []
    print(f"sglang-ci: ending {len(strays)} process(es) that escaped their server's group:"
          f" {', '.join(f'{p.pid} {_name(p)}' for p in strays)}", flush=True)  # fmt: skip
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for stray in strays:
            with contextlib.suppress(psutil.Error):
                stray.send_signal(sig)
        deadline = time.monotonic() + wait
        while strays and time.monotonic() < deadline:
            for stray in strays:
                _reap(stray)
            strays = [stray for stray in strays if _alive(stray)]
            time.sleep(0.02)
    return [f"still running: {p.pid} {_name(p)}" for p in strays]
