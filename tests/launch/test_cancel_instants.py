"""A cancel at any instant of a launch ends with the servers recorded, torn down and reaped
before the runner returns, and the run ledger removed.

The instants are code points, not times: the runner signals itself (SIGINT, as GitHub
sends first) from a hook at each point, so the sweep is the same on a fast or a loaded
machine. The stub starts slowly (``slow_start``), ignores SIGTERM (teardown must wait and
then SIGKILL) and, while starting, runs short compiler processes that it reaps itself
(``jit_build``, as SGLang's scheduler runs nvcc for its JIT ops): members of the server's
tree that vanish while teardown waits on them. Such a vanished member once aborted the
whole teardown: result.json with ``servers: []``, the server left running, the ledger
left behind (seen on real SGLang, SIGINT during its JIT build).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from sglang_ci.config.model import load_config
from sglang_ci.config.secrets import Environment
from sglang_ci.launch import launcher
from sglang_ci.launch.launcher import LaunchSettings
from sglang_ci.launch.ledger import LEDGER_ENV, RunLedger
from sglang_ci.launch.ports import LOCK_DIR_ENV, listening
from sglang_ci.run import server_checks, server_job
from sglang_ci.run.orchestrator import data_defaults
from tests.conftest import FIXTURES, ROOT, TAG_ENV, tagged_processes

pytestmark = pytest.mark.real_process

JOB = "sanity(model='llama3-8b')"
STARTING = "slow_start=60,jit_build,ignore_sigterm"
READY = "jit_build,ignore_sigterm"


def cancel_now() -> None:
    """SIGINT to this process: the run's handler raises at the next bytecode, right here."""
    os.kill(os.getpid(), signal.SIGINT)


def after_call(target: Any, name: str, when: Callable[..., bool], monkeypatch: Any) -> None:
    """Wrap ``target.name``: after each call whose arguments and answer satisfy ``when``,
    cancel (once)."""
    original = getattr(target, name)
    fired: list[bool] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        answer = original(*args, **kwargs)
        if not fired and when(*args, answer=answer, **kwargs):
            fired.append(True)
            cancel_now()
        return answer

    monkeypatch.setattr(target, name, wrapper)


def has_compilers(session: Any, url: str, *, answer: bool) -> bool:
    """A readiness poll while the server's compiler processes run."""
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if port_of(process) == port and process.children():
                return True
    return False


def port_of(process: psutil.Process) -> int | None:
    command = process.cmdline()
    if "sglang_ci.stub" in command and "--port" in command:
        return int(command[command.index("--port") + 1])
    return None


def log_says(text: str) -> Callable[..., bool]:
    def check(_session: Any, url: str, *, answer: bool) -> bool:
        logs = list(Path(os.environ["CANCEL_SWEEP_OUT"]).glob("*.log"))
        return any(text in log.read_text(errors="replace") for log in logs)

    return check


# instant: (faults, where to hook, whether a server was started by then)
INSTANTS: dict[str, tuple[str, Callable[[Any], None], bool]] = {
    "ledger entry written, server not started": (STARTING, lambda mp: after_call(
        RunLedger, "add", lambda *_a, answer: True, mp), False),
    "inside the ledger's write, before its rename": (STARTING, lambda mp: ledger_dump_hook(
        mp), False),
    "server started, not yet in the ledger": (STARTING, lambda mp: after_call(
        launcher, "start_process", lambda *_a, answer, **_k: True, mp), True),
    "first readiness poll": (STARTING, lambda mp: after_call(
        launcher, "probe_ready", lambda *_a, answer: True, mp), True),
    "listening, answering 503": (STARTING, lambda mp: after_call(
        launcher, "probe_ready", log_says("listening on"), mp), True),
    "JIT build: compilers running": (STARTING, lambda mp: after_call(
        launcher, "probe_ready", has_compilers, mp), True),
    "just after ready": (READY, lambda mp: after_call(
        launcher, "wait_all_ready", lambda *_a, answer, **_k: True, mp), True),
    "smoke request sent": (READY, lambda mp: after_call(
        server_checks, "smoke_generate", lambda *_a, answer: True, mp), True),
}  # fmt: skip


def ledger_dump_hook(monkeypatch: Any) -> None:
    """Cancel inside the ledger's first write: its temporary file written, not yet renamed."""
    from sglang_ci.launch import ledger

    namespace = types.SimpleNamespace(dump=json.dump, loads=json.loads)
    monkeypatch.setattr(ledger, "json", namespace)
    after_call(namespace, "dump", lambda *_a, answer: True, monkeypatch)


def kill_tagged(tag: str) -> None:
    """What a failed run left: killed here, so one failure does not leak into the next."""
    for entry in tagged_processes(tag):
        with contextlib.suppress(OSError):
            os.kill(int(entry.split()[0]), signal.SIGKILL)


@pytest.mark.parametrize("instant", list(INSTANTS))
def test_a_cancel_at_any_instant_of_a_launch_tears_everything_down(
    tmp_path: Path, tag: str, instant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults, hook, started = INSTANTS[instant]
    out = tmp_path / "job"
    monkeypatch.setenv(LEDGER_ENV, str(tmp_path / "ledger"))
    monkeypatch.setenv(LOCK_DIR_ENV, str(tmp_path / "locks"))
    monkeypatch.setenv("CANCEL_SWEEP_OUT", str(out))
    env = data_defaults("stub", {**os.environ, TAG_ENV: tag, "SGLANG_CI_STUB_FAULTS": faults})
    config = load_config(None, {}, FIXTURES)
    job = config.find_job(JOB)
    settings = LaunchSettings(engine="stub", python=sys.executable, out_dir=out,
                              launch_timeout=120, env=Environment(env), grace=2.0)  # fmt: skip
    hook(monkeypatch)
    try:
        [result] = server_job.run_group([job], settings, [out], ROOT / "suites")
        record = json.loads((out / "result.json").read_text())
        left = tagged_processes(tag)
    finally:
        kill_tagged(tag)
    assert result.status.value == "cancelled", record["reason"]
    assert (record["status"], record["exit_code"]) == ("cancelled", 130)
    assert record["reason"] == "cancelled by SIGINT"
    assert left == []
    assert list((tmp_path / "ledger").iterdir()) == []  # torn down: nothing to clean
    if started:
        [server] = record["servers"]
        assert server["teardown"] is not None, record
        assert server["teardown"]["survivors"] == []
        assert record["ports"]["server"] == server["port"]
        assert listening(list(record["ports"].values())) == []
    else:
        assert record["servers"] == []
