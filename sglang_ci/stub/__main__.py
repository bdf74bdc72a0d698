"""``python -m sglang_ci.stub <the arguments sglang.launch_server gets>``."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer

import psutil

from sglang_ci.stub import STUB_ENGINE_NAME
from sglang_ci.stub.args import parse_server_args, settings_from
from sglang_ci.stub.bootstrap import BootstrapHandler
from sglang_ci.stub.faults import FAULTS_ENV, Faults, FaultSpecError, parse_faults
from sglang_ci.stub.generation import StubState
from sglang_ci.stub.gpu_set import gpu_set
from sglang_ci.stub.ports import port_error
from sglang_ci.stub.server import StubHTTPServer

STARTUP_S = 0.2  # a token start-up delay, so "starting" (503) is a state callers really see


def log(message: str) -> None:
    print(f"[stub] {message}", flush=True)


def spawn_orphans(count: int, escape: bool = False) -> None:
    """Helpers that re-parent away at once (double fork), keeping the listening sockets.

    This is what SGLang's scheduler processes look like to a harness whose server died:
    not its children any more, still in its process group, still holding its ports.
    """
    for _ in range(count):
        child = os.fork()
        if child == 0:
            if escape:
                os.setsid()
            if os.fork() == 0:
                while True:  # a grandchild: lives until someone kills it
                    time.sleep(3600)
            os._exit(0)
        os.waitpid(child, 0)


# One compile step: ignores SIGTERM (a compiler finishes its file) and ends in 0.3 s.
COMPILER = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
            " time.sleep(0.3)")  # fmt: skip


def start_jit_build(state: StubState) -> None:
    """Compiler processes, two staggered at a time, until ready; each reaped here as soon as
    it ends, so the runner's teardown meets tree members that are gone, not zombies."""

    def compile_steps(offset: float) -> None:
        time.sleep(offset)
        while not state.ready.is_set():
            subprocess.run([sys.executable, "-c", COMPILER], check=False)

    log("fault jit_build: compiling JIT ops until ready")
    for offset in (0.0, 0.15):
        threading.Thread(target=compile_steps, args=(offset,), daemon=True).start()


def become_ready(state: StubState, faults: Faults) -> None:
    if faults.exit_on_start is not None:
        log(f"fault exit_on_start={faults.exit_on_start}: exiting during start-up")
        os._exit(faults.exit_on_start)
    if faults.never_healthy:
        log("fault never_healthy: staying in start-up")
        return
    state.ready.set()
    # The wall-clock instant, so a benchmark can measure how late the harness noticed.
    log(f"ready at {time.time():.6f}")


def end_like_sglang(_signum: int, _frame: object) -> None:
    """SGLang's launch_server on SIGTERM: kill_process_tree of itself, children first and
    then itself, all with SIGKILL, so its exit status is -9 (a clean stop, not a crash).
    Helpers that re-parented away are no children any more and stay for the runner. A
    second SIGTERM while this runs (a group and a session signalled) only repeats it."""
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child.kill()
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> int:
    try:
        args = parse_server_args(sys.argv[1:])
        settings = settings_from(args)
        faults = parse_faults(os.environ.get(FAULTS_ENV, ""))
        state = StubState(settings, args, faults)
        state.gpu_ids = gpu_set(args, os.environ)
    except (ValueError, OSError, FaultSpecError) as error:
        print(f"{STUB_ENGINE_NAME}: error: {error}", file=sys.stderr)
        return 2
    try:
        problem = port_error(args, settings.port, os.environ)
    except ValueError as error:  # SGLang's env parsing raises too
        problem = str(error)
    if problem:
        # SGLang raises these from ServerArgs, uncaught: a traceback ending in this line,
        # exit status 1. The same line lets a log search find either.
        print(f"ValueError: {problem}", file=sys.stderr)
        return 1
    log(f"{STUB_ENGINE_NAME}: protocol stand-in for sglang.launch_server, not a model")
    # As SGLang's launch_server logs its ServerArgs, api_key included: the runner must
    # keep such values out of every file it uploads.
    log("server_args=ServerArgs(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")")
    if faults.log_env:
        log(f"environment: {dict(os.environ)!r}")
    log(f"model-path {settings.model_path} (not loaded), role {settings.disaggregation_mode}")
    if settings.disaggregation_mode != "null":
        log(
            f"disaggregation: bootstrap port {settings.bootstrap_port or 'default 8998'},"
            f" transfer backend {settings.transfer_backend},"
            f" ib device {settings.ib_device or 'none given (SGLang: detected by mooncake)'}"
            " (no KV cache is transferred: the stub holds no model)"
        )
    log(
        f"answer key: {len(state.model.answers)} questions, accuracy {state.model.accuracy:g},"
        f" {'deterministic' if settings.deterministic else 'nondeterministic'}"
    )
    if faults.active():
        log(f"faults: {', '.join(faults.active())}")
    if faults.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, end_like_sglang)

    server = StubHTTPServer((settings.host, settings.port), state)
    servers: list[ThreadingHTTPServer] = [server]
    if settings.disaggregation_mode == "prefill" and settings.bootstrap_port:
        servers.append(
            ThreadingHTTPServer((settings.host, settings.bootstrap_port), BootstrapHandler)
        )
        log(f"bootstrap server on port {settings.bootstrap_port}")
    spawn_orphans(faults.orphans)  # after binding: the orphans inherit the sockets
    spawn_orphans(faults.escapees, escape=True)
    if faults.jit_build:
        start_jit_build(state)

    for extra in servers[1:]:
        threading.Thread(target=extra.serve_forever, daemon=True).start()
    delay = STARTUP_S + faults.slow_start
    threading.Timer(delay, become_ready, (state, faults)).start()
    log(f"listening on http://{settings.host}:{settings.port}")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
