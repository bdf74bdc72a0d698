"""Start a job's servers (and the PD router), know when they are ready, end them all.

Each server runs in a session of its own, with its output in a log file; readiness is
polled (every 0.1 s for a single server, every 1 s for PD roles as SGLang's PD fixture
does: ``plan.commands.readiness_poll_s``) and a server that dies first fails the launch at
once with its exit code and the tail of its log. Teardown goes in reverse launch order
and is done only when every process is reaped, every port is free and, on a GPU host,
NVML shows the job's GPUs released.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sglang_ci.config.model import Job
from sglang_ci.config.server_args import lookup
from sglang_ci.config.sglang_ports import derived_ports
from sglang_ci.engines import registry
from sglang_ci.launch import gpu_memory
from sglang_ci.launch.cancel import CancelWatch
from sglang_ci.launch.exec_gate import spawn_recorded
from sglang_ci.launch.http_client import make_session
from sglang_ci.launch.ledger import RunLedger
from sglang_ci.launch.ports import PortLease, wait_ports_free
from sglang_ci.launch.process_tree import ProcessTree, TeardownReport
from sglang_ci.launch.secret_args import SecretArgs
from sglang_ci.launch.server_api import Readiness, probe_ready
from sglang_ci.outcome.errors import FatalError, ServerLaunchError
from sglang_ci.outcome.kinds import FailureKind
from sglang_ci.plan.commands import (
    IB_DEVICE_ENV,
    READY_POLL_S,
    env_added,
    ib_device,
    readiness_endpoint,
    readiness_poll_s,
    router_command,
    server_command,
    url,
)

LOG_TAIL_LINES = 50
PORT_RELEASE_S = 10.0
GPU_RELEASE_S = 60.0
GPU_IDLE_S = 120.0


ROUTER_CHECK = (
    "import importlib.util, sys; sys.exit(importlib.util.find_spec('sglang_router') is None)"
)


def require_router(python: str, job: str) -> None:
    """A PD job needs sglang-router in the interpreter that starts it: say so before any
    server starts (the router would otherwise die after both servers had loaded). This
    interpreter is asked in-process; another one through a child."""
    if python == sys.executable:
        missing = importlib.util.find_spec("sglang_router") is None
    else:
        found = subprocess.run([python, "-c", ROUTER_CHECK], capture_output=True, check=False)
        missing = found.returncode != 0
    if missing:
        raise FatalError(
            f"{job}: the PD router (sglang-router) is not installed for {python}; install"
            " it with: pip install 'sglang-ci[pd]'", kind=FailureKind.CONFIG,
        )  # fmt: skip


@dataclass(frozen=True)
class LaunchSettings:
    engine: str
    python: str
    out_dir: Path
    launch_timeout: float
    env: Mapping[str, str]
    request_timeout: float = 600.0
    # --sglang-sequence: none of the runner's improvements between launch and suite
    # (run.server_checks.run_checks), only what SGLang's test does.
    sglang_sequence: bool = False
    # SIGTERM -> SIGKILL, shared by all the job's processes: GitHub sends SIGTERM 7.5 s
    # after SIGINT and SIGKILL 2.5 s after that.
    grace: float = 5.0


@dataclass
class RunningProcess:
    role: str
    command: list[str]
    port: int
    log_path: Path
    popen: subprocess.Popen[bytes]
    tree: ProcessTree
    api_key: str | None = None
    env_added: dict[str, str] = field(default_factory=dict)  # on top of the runner's env
    readiness: Readiness | None = None
    teardown: TeardownReport | None = None

    @property
    def url(self) -> str:
        return url(self.port)

    @property
    def name(self) -> str:
        return self.role if self.role in ("server", "router") else f"{self.role} server"

    def describe(self) -> dict[str, object]:
        return {
            "role": self.role,
            "port": self.port,
            "url": self.url,
            "pid": self.popen.pid,
            "command": self.command,
            "env_added": self.env_added,
            "log": str(self.log_path),
            "exit_code": self.popen.poll(),
            "ready_after_s": round(self.readiness.elapsed, 3) if self.readiness else None,
            "teardown": self.teardown.__dict__ if self.teardown else None,
        }

    def tail(self) -> str:
        return f"last {LOG_TAIL_LINES} lines of {self.log_path}:\n{log_tail(self.log_path)}"


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open(errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines)).rstrip()
    except OSError:
        return "(no log)"


def start_process(
    role: str, command: list[str], env: Mapping[str, str], log_path: Path, port: int,
    on_found: Callable[[int], None] | None = None,
    record: Callable[[int], None] | None = None,
) -> RunningProcess:  # fmt: skip
    """``on_found`` hears of every helper the process tree's walker finds (the ledger);
    ``record`` hears of the process's pid before its command runs (exec_gate)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:  # a re-run of the job replaces its logs
        if record is not None:
            popen = spawn_recorded(command, record, env=env, stdout=log)
        else:
            popen = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=dict(env), start_new_session=True,  # its own group: we end it, not the tty
            )  # fmt: skip
    tree = ProcessTree(popen, on_found)
    return RunningProcess(role, command, port, log_path, popen, tree)


def wait_all_ready(
    processes: list[RunningProcess], timeout: float, path: str, poll_s: float = READY_POLL_S
) -> None:
    """Poll every process in turn, every ``poll_s``, until all answer 200 on ``path``; the
    first one that exits or times out fails the launch at once, naming it, with its log
    tail."""
    sessions = {id(p): make_session(p.api_key, connect_retries=0) for p in processes}
    started = time.monotonic()
    pending = list(processes)
    polls = 0
    try:
        while pending:
            polls += 1
            for process in list(pending):
                elapsed = time.monotonic() - started
                code = process.popen.poll()
                if code is not None:
                    process.readiness = Readiness(False, code, elapsed, polls)
                    raise ServerLaunchError(
                        f"{process.name} exited with code {code} during start-up"
                        f" ({process.url})", diagnostics=process.tail(),
                    )  # fmt: skip
                if probe_ready(sessions[id(process)], process.url + path):
                    process.readiness = Readiness(True, None, time.monotonic() - started, polls)
                    pending.remove(process)
            elapsed = time.monotonic() - started
            if pending and elapsed >= timeout:
                late = pending[0]
                late.readiness = Readiness(False, None, elapsed, polls)
                raise ServerLaunchError(
                    f"{late.name} not ready after {elapsed:.1f} s (launch timeout)"
                    f" ({late.url})", kind=FailureKind.LAUNCH_TIMEOUT, diagnostics=late.tail(),
                )  # fmt: skip
            if pending:
                time.sleep(poll_s)
    finally:
        for session in sessions.values():
            session.close()


def await_ready(process: RunningProcess, timeout: float, path: str) -> None:
    wait_all_ready([process], timeout, path)


@dataclass
class DeploymentRun:
    """The processes of one job: one server, or prefill + decode + router."""

    job: Job
    settings: LaunchSettings
    lease: PortLease
    cancel: CancelWatch | None = None
    processes: list[RunningProcess] = field(default_factory=list)
    gpus: list[str] = field(default_factory=list)
    gpu_baseline: dict[str, int] = field(default_factory=dict)
    extra_ports: dict[str, int] = field(default_factory=dict)  # bootstrap, router metrics
    teardown_problems: list[str] = field(default_factory=list)
    ledger: RunLedger | None = None  # what a cleanup needs if this runner is killed
    secret_args: SecretArgs = field(default_factory=SecretArgs)  # --api-key off the argv

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

    @contextlib.contextmanager
    def _spawning(self) -> Iterator[None]:
        """No cancellation between starting a process and registering it for teardown."""
        if self.cancel is None:
            yield
        else:
            with self.cancel.deferred():
                yield

    def _spawn(self, role: str, command: list[str], env: Mapping[str, str], port: int,
               ports: list[int]) -> RunningProcess:  # fmt: skip
        """Start one process: in the ledger before it starts (role, ports) and before its
        command runs (pid), registered for teardown before any cancellation can
        interrupt."""
        job, ledger = self.job.id, self.ledger
        on_found = functools.partial(ledger.seen, f"{role} helper", job) if ledger else None
        log = self.settings.out_dir / f"{role}.log"
        with self._spawning():  # the ledger's writes too: a half-written one leaves a file
            entry = ledger.add(role, job, ports) if ledger else None
            if self.cancel is not None and self.cancel.token.interruption is not None:
                raise self.cancel.token.fresh()  # cancelled during the write: start nothing
            record = functools.partial(ledger.started, entry) if ledger and entry else None
            process = start_process(role, command, env, log, port, on_found, record)
            self.processes.append(process)
        return process

    def start(self) -> None:
        deployment = self.job.deployment
        if deployment.disaggregated:
            require_router(self.settings.python, self.job.id)
        if registry.engine(self.settings.engine).uses_gpus:
            self.gpus = gpu_memory.physical_gpus(range(self.job.gpus), self.settings.env)
            gpu_memory.wait_idle(self.gpus, GPU_IDLE_S)
            self.gpu_baseline = gpu_memory.usage(self.gpus) or {}
        bootstrap = self.lease.take() if deployment.disaggregated else None
        if bootstrap is not None:
            self.extra_ports["bootstrap"] = bootstrap
        devices = ib_device(self.settings.env)
        if deployment.disaggregated and devices is None:
            # SGLang's fixture warns likewise when its device variable is unset.
            print(f"sglang-ci: {IB_DEVICE_ENV} unset: --disaggregation-ib-device left out,"
                  " SGLang picks its default", flush=True)  # fmt: skip
        for server in deployment.servers:
            port = self.lease.take(functools.partial(derived_ports, server.args))
            command = server_command(
                self.settings.python, self.settings.engine, deployment, server, port,
                bootstrap, devices,
            )  # fmt: skip
            command = self.secret_args.hidden(command, server.role)
            added = env_added(deployment, server)
            ports = [port, *derived_ports(server.args, port), *filter(None, [bootstrap])]
            process = self._spawn(server.role, command, {**self.settings.env, **added}, port,
                                  ports)  # fmt: skip
            process.env_added = added
            api_key = lookup(server.args, "api-key")
            process.api_key = api_key if isinstance(api_key, str) else None
        wait_all_ready(self.processes, self.settings.launch_timeout,
                       readiness_endpoint(deployment, deployment.servers[0].role),
                       readiness_poll_s(deployment))  # fmt: skip
        self.secret_args.remove()  # the servers have read their arguments
        if deployment.disaggregated and bootstrap is not None:
            self._start_router(bootstrap)

    def _start_router(self, bootstrap: int) -> None:
        prefill, decode = self.processes
        kind = self.job.model.pd_router
        port = self.lease.take()
        metrics_port = self.lease.take() if kind == "rust" else None
        if metrics_port is not None:
            self.extra_ports["router-metrics"] = metrics_port
        command = router_command(
            self.settings.python, kind, prefill.url, bootstrap, decode.url, port, metrics_port
        )
        added = env_added(self.job.deployment)
        env = {**self.settings.env, **added, **registry.engine(self.settings.engine).router_env()}
        router = self._spawn("router", command, env, port, [p for p in (port, metrics_port) if p])
        router.env_added = added
        wait_all_ready([router], self.settings.launch_timeout,
                       readiness_endpoint(self.job.deployment, "router"),
                       readiness_poll_s(self.job.deployment))  # fmt: skip

    def exited(self, wait: float = 1.0) -> list[RunningProcess]:
        """Processes that ended on their own, allowing ``wait`` seconds for one whose crash
        dropped a connection to finish exiting."""
        deadline = time.monotonic() + wait
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        return [p for p in self.processes if p.popen.poll() is not None]

    def diagnostics(self) -> str:
        """For a failure while running: who died (exit code) and every process's log tail."""
        self.exited()
        notes = []
        for process in self.processes:
            code = process.popen.poll()
            state = f"{process.name} exited with code {code}" if code is not None else (
                f"{process.name} still running")  # fmt: skip
            notes.append(f"{state}; {process.tail()}")
        return "\n".join(notes)

    def stop_processes(self, hurry: threading.Event | None = None) -> list[str]:
        """SIGTERM in reverse launch order under one shared grace deadline, SIGKILL what is
        left, reap everything. Returns problems (empty when every process is gone)."""
        self.secret_args.remove()  # a launch that never got ready
        problems = []
        deadline = time.monotonic() + self.settings.grace
        for process in reversed(self.processes):
            grace = max(0.0, deadline - time.monotonic())
            if hurry is not None and hurry.is_set():
                grace = 0.0
            try:
                report = process.tree.teardown(grace, hurry=hurry)
            except Exception as error:  # the next process is still ours to end
                problems.append(f"{process.name}: teardown failed: {type(error).__name__}:"
                                f" {error}")  # fmt: skip
                continue
            process.teardown = report
            if report.survivors:
                problems.append(f"{process.name}: still running: {', '.join(report.survivors)}")
        return problems

    def wait_released(self, hurry: threading.Event | None = None) -> list[str]:
        """Ports free, then (GPU host) NVML showing the GPUs released; bounded."""
        problems = []
        held = wait_ports_free(self.lease.ports, PORT_RELEASE_S, hurry)
        if held:
            problems.append(f"ports still held after teardown: {', '.join(map(str, held))}")
        if self.gpus:
            try:
                gpu_memory.wait_released(self.gpus, self.gpu_baseline, GPU_RELEASE_S, hurry)
            except FatalError as error:
                problems.append(str(error))
        return problems

    def teardown(self, hurry: threading.Event | None = None) -> list[str]:
        return self.stop_processes(hurry) + self.wait_released(hurry)
