"""What a registered SGLang file left behind, found and ended.

A registered file launches its own servers (``popen_launch_server``) and ends them with
SGLang's ``kill_process_tree``; what escapes that (helpers, children of killed trees,
orphans keeping ports: sglang issues #31645, #36589, #31281) would reach the next file
under run_suite. Here the file runs in a session of its own under the runner's
subreaper; while it runs, the ports its processes listen on are sampled; after it ends,
its tree, its session and the orphans re-parented to the runner are ended, the sampled
ports must be free, and on a GPU host NVML must show the memory released.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

from sglang_ci.launch import gpu_memory
from sglang_ci.launch.ports import wait_ports_free
from sglang_ci.launch.process_tree import ProcessTree, sweep_adopted
from sglang_ci.outcome.errors import FatalError

SAMPLE_S = 0.5
PORT_RELEASE_S = 10.0
GPU_RELEASE_S = 60.0


def _label(process: psutil.Process) -> str:
    try:
        return f"{process.pid} {' '.join(process.cmdline()[:4]) or process.name()}"
    except psutil.Error:
        return f"{process.pid} ?"


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def file_processes(tree: ProcessTree) -> list[psutil.Process]:
    """The file's processes now: its tree and session, and every descendant of the
    runner (as subreaper the runner adopts the file's orphans; it starts nothing else)."""
    found = {process.pid: process for process in tree.members()}
    with contextlib.suppress(psutil.Error):
        for process in psutil.Process().children(recursive=True):
            found.setdefault(process.pid, process)
    return [process for process in found.values() if _alive(process)]


def listening_ports(pids: set[int]) -> set[int]:
    """Ports some process of ``pids`` listens on."""
    try:
        return {
            conn.laddr.port
            for conn in psutil.net_connections(kind="inet")
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.pid in pids
        }
    except psutil.AccessDenied:  # /proc/net closed (macOS): ask each process
        ports: set[int] = set()
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                ports.update(
                    conn.laddr.port
                    for conn in psutil.Process(pid).net_connections(kind="inet")
                    if conn.status == psutil.CONN_LISTEN and conn.laddr
                )
        return ports


class PortSampler:
    """Every ``SAMPLE_S`` while the file runs, the ports its processes listen on: a port
    opened and still held by an orphan is among them, one opened and closed in between
    two samples is no concern of the sweep."""

    def __init__(self, tree: ProcessTree, interval: float = SAMPLE_S) -> None:
        self.tree = tree
        self.interval = interval
        self.ports: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="port-sampler", daemon=True)
        self._thread.start()

    def sample(self) -> None:
        pids = {process.pid for process in file_processes(self.tree)}
        self.ports |= listening_ports(pids)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(psutil.Error, OSError):
                self.sample()

    def stop(self) -> set[int]:
        """Stop sampling (one last sample first); the ports seen."""
        self._stop.set()
        self._thread.join(timeout=5.0)
        with contextlib.suppress(psutil.Error, OSError):
            self.sample()
        return self.ports


@dataclass
class SweepFindings:
    left_behind: list[str] = field(default_factory=list)  # alive when the file had ended
    terminated: int = 0
    killed: int = 0
    adopted: list[str] = field(default_factory=list)  # orphans ended outside its session
    ports_seen: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # anything not released: not clean
    gpu_release_s: float | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "left_behind": self.left_behind, "terminated": self.terminated,
            "killed": self.killed, "adopted": self.adopted, "ports_seen": self.ports_seen,
            "problems": self.problems, "gpu_release_s": self.gpu_release_s,
            "seconds": round(self.seconds, 3),
        }  # fmt: skip


def sweep_file(
    tree: ProcessTree,
    sampler: PortSampler,
    *,
    grace: float,
    adopting: bool,
    gpus: Sequence[str] = (),
    gpu_baseline: dict[str, int] | None = None,
    hurry: threading.Event | None = None,
) -> SweepFindings:
    """End everything the file left (SIGTERM, ``grace`` seconds, SIGKILL), then confirm its
    ports and GPU memory released. Bounded; a later cancel signal (``hurry``) cuts waits."""
    started = time.monotonic()
    findings = SweepFindings(ports_seen=sorted(sampler.stop()))
    findings.left_behind = [_label(p) for p in file_processes(tree) if p.pid != tree.pid]
    report = tree.teardown(grace, hurry=hurry)
    findings.terminated, findings.killed = report.terminated, report.killed
    findings.problems += [f"still running: {survivor}" for survivor in report.survivors]
    if adopting:
        with contextlib.suppress(psutil.Error):
            findings.adopted = [_label(p) for p in psutil.Process().children() if _alive(p)]
        findings.problems += sweep_adopted({tree.pid}, grace=min(grace, 1.0))
    held = wait_ports_free(findings.ports_seen, PORT_RELEASE_S, hurry)
    if held:
        findings.problems.append(f"ports still held after the sweep: {', '.join(map(str, held))}")
    if gpus:
        try:
            findings.gpu_release_s = gpu_memory.wait_released(
                gpus, gpu_baseline or {}, GPU_RELEASE_S, hurry
            )
        except FatalError as error:
            findings.problems.append(str(error))
    findings.seconds = time.monotonic() - started
    return findings
