"""Start a job's servers (and the PD router), know when they are ready, end them all.

Each server runs in a session of its own, with its output in a log file; readiness is
polled every 0.1 s and a server that dies first fails the launch at once with its exit
code and the tail of its log. Teardown goes in reverse launch order and is done only
when every process is reaped, every port is free and, on a GPU host, NVML shows the
job's GPUs released.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sglang_ci import gpu_memory
from sglang_ci.commands import router_command, server_command, url
from sglang_ci.config import Job
from sglang_ci.errors import FatalError, ServerLaunchError, TeardownError
from sglang_ci.http_client import make_session
from sglang_ci.ports import PortLease, wait_ports_free
from sglang_ci.process_tree import ProcessTree, TeardownReport
from sglang_ci.server_api import Readiness, wait_ready
from sglang_ci.server_args import lookup

LOG_TAIL_LINES = 50
PORT_RELEASE_S = 10.0
GPU_RELEASE_S = 60.0
GPU_IDLE_S = 120.0


@dataclass(frozen=True)
class LaunchSettings:
    engine: str
    python: str
    out_dir: Path
    launch_timeout: float
    env: Mapping[str, str]
    request_timeout: float = 600.0
    grace: float = 5.0  # SIGTERM -> SIGKILL; GitHub leaves 7.5 s between SIGINT and SIGTERM


@dataclass
class RunningProcess:
    role: str
    command: list[str]
    port: int
    log_path: Path
    popen: subprocess.Popen[bytes]
    tree: ProcessTree
    api_key: str | None = None
    readiness: Readiness | None = None
    teardown: TeardownReport | None = None

    @property
    def url(self) -> str:
        return url(self.port)

    def describe(self) -> dict[str, object]:
        return {
            "role": self.role,
            "port": self.port,
            "url": self.url,
            "pid": self.popen.pid,
            "command": self.command,
            "log": str(self.log_path),
            "exit_code": self.popen.poll(),
            "ready_after_s": round(self.readiness.elapsed, 3) if self.readiness else None,
            "teardown": self.teardown.__dict__ if self.teardown else None,
        }


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open(errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines)).rstrip()
    except OSError:
        return "(no log)"


def start_process(
    role: str, command: list[str], env: Mapping[str, str], log_path: Path, port: int
) -> RunningProcess:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:  # a re-run of the job replaces its logs
        popen = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=dict(env), start_new_session=True,  # its own group: we end it, not the tty
        )  # fmt: skip
    return RunningProcess(role, command, port, log_path, popen, ProcessTree(popen))


def _launch_failure(process: RunningProcess, readiness: Readiness) -> ServerLaunchError:
    if readiness.exit_code is not None:
        what = f"exited with code {readiness.exit_code} during start-up"
    else:
        what = f"not ready after {readiness.elapsed:.1f} s (launch timeout)"
    name = "server" if process.role in ("server", "router") else f"{process.role} server"
    name = "router" if process.role == "router" else name
    return ServerLaunchError(
        f"{name} {what} ({process.url}); last {LOG_TAIL_LINES} lines of"
        f" {process.log_path}:\n{log_tail(process.log_path)}"
    )


def await_ready(process: RunningProcess, timeout: float, path: str) -> None:
    session = make_session(process.api_key, connect_retries=0)
    with session:
        readiness = wait_ready(session, process.url, process.popen.poll, timeout, path)
    process.readiness = readiness
    if not readiness.ready:
        raise _launch_failure(process, readiness)


@dataclass
class DeploymentRun:
    """The processes of one job: one server, or prefill + decode + router."""

    job: Job
    settings: LaunchSettings
    lease: PortLease
    processes: list[RunningProcess] = field(default_factory=list)
    gpus: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Where suites send requests: the router for PD, else the server."""
        return self.processes[-1].url

    @property
    def api_key(self) -> str | None:
        return self.processes[-1].api_key

    @property
    def servers(self) -> list[RunningProcess]:
        return [p for p in self.processes if p.role != "router"]

    def start(self) -> None:
        deployment = self.job.deployment
        if self.settings.engine == "sglang":
            self.gpus = gpu_memory.physical_gpus(range(self.job.gpus), self.settings.env)
            gpu_memory.wait_idle(self.gpus, GPU_IDLE_S)
        bootstrap = self.lease.take() if deployment.disaggregated else None
        for server in deployment.servers:
            port = self.lease.take()
            command = server_command(
                self.settings.python, self.settings.engine, deployment, server, port, bootstrap
            )
            env = {**self.settings.env, **dict(server.env)}
            process = start_process(
                server.role, command, env, self.settings.out_dir / f"{server.role}.log", port
            )
            api_key = lookup(server.args, "api-key")
            process.api_key = api_key if isinstance(api_key, str) else None
            self.processes.append(process)
        # PD servers are checked on /health, as SGLang's own PD tests do: a lone prefill
        # or decode server cannot run a generation before the pair is connected.
        path = "/health" if deployment.disaggregated else "/health_generate"
        self._await_all(self.processes, path)
        if deployment.disaggregated and bootstrap is not None:
            self._start_router(bootstrap)

    def _await_all(self, processes: list[RunningProcess], path: str) -> None:
        """Wait for several servers at once; the first failure wins."""
        errors: list[BaseException] = []

        def wait(process: RunningProcess) -> None:
            try:
                await_ready(process, self.settings.launch_timeout, path)
            except FatalError as error:
                errors.append(error)

        threads = [threading.Thread(target=wait, args=(p,), daemon=True) for p in processes[1:]]
        for thread in threads:
            thread.start()
        wait(processes[0])  # in the main thread, so a cancellation signal interrupts it
        for thread in threads:
            while thread.is_alive():
                thread.join(0.1)
        if errors:
            raise errors[0]

    def _start_router(self, bootstrap: int) -> None:
        prefill, decode = self.processes
        port, metrics_port = self.lease.take(), self.lease.take()
        command = router_command(self.settings.python, prefill.url, bootstrap, decode.url, port)
        # The router exposes Prometheus on 0.0.0.0:29000 unless told otherwise: two PD
        # jobs on one host would collide, and nothing should listen beyond loopback.
        command += ["--prometheus-port", str(metrics_port), "--prometheus-host", "127.0.0.1"]
        env = dict(self.settings.env)
        if self.settings.engine == "stub":
            env["HF_HUB_OFFLINE"] = "1"  # the stub's model path is no hub repository
        router = start_process("router", command, env, self.settings.out_dir / "router.log", port)
        self.processes.append(router)
        await_ready(router, self.settings.launch_timeout, "/health")

    def deaths(self) -> str:
        """Processes that died after becoming ready, with exit code and log tail."""
        deadline = time.monotonic() + 1.0  # a crash that dropped a connection may still be exiting
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        notes = [
            f"{p.role} exited with code {p.popen.poll()}; last {LOG_TAIL_LINES} lines of"
            f" {p.log_path}:\n{log_tail(p.log_path)}"
            for p in self.processes
            if p.readiness and p.readiness.ready and p.popen.poll() is not None
        ]
        return "\n".join(notes)

    def ports(self) -> list[int]:
        return self.lease.ports

    def teardown(self, hurry: threading.Event | None = None) -> list[str]:
        """Reverse launch order; returns problems (empty when all is released)."""
        problems: list[str] = []
        ours: set[int] = set()
        for process in reversed(self.processes):
            ours.update(p.pid for p in process.tree.members())
            grace = 0.0 if hurry is not None and hurry.is_set() else self.settings.grace
            report = process.tree.teardown(grace, hurry=hurry)
            process.teardown = report
            if report.survivors:
                problems.append(f"{process.role}: still running: {', '.join(report.survivors)}")
        held = wait_ports_free(self.ports(), 1.0 if hurry and hurry.is_set() else PORT_RELEASE_S)
        if held:
            problems.append(f"ports still held after teardown: {', '.join(map(str, held))}")
        if self.gpus:
            try:
                gpu_memory.wait_released(self.gpus, ours, GPU_RELEASE_S)
            except FatalError as error:
                problems.append(str(error))
        return problems


def raise_teardown_problems(problems: list[str]) -> None:
    if problems:
        raise TeardownError("teardown incomplete: " + "; ".join(problems))
