"""Every port SGLang derives from the ports the runner passes is in range and leased.

The rules below are written out here from SGLang's sources, not imported from the code
under test, so a wrong rule there fails here:

- gRPC: ``--port`` + 10000 unless env ``SGLANG_GRPC_PORT``; outside 1..65535 the server
  refuses to start, gRPC enabled or not (sglang 0.5.12 ``srt/server_args.py`` L1147-1155,
  ``ServerArgs._handle_deprecated_args``; 0.5.10.post1 has no gRPC port).
- DP attention, no ``--dist-init-addr``: handshake on ``--port`` + 13
  (``srt/managers/data_parallel_controller.py`` ``_broadcast_worker_ports``, 0.5.12 L322,
  0.5.10.post1 L311); on one node also ``--port`` + 233 .. + 238, each waited for and
  refused when never available (``srt/server_args.py`` ``PortArgs.init_new``, 0.5.12 L7815,
  0.5.10.post1 L6597).
- ``--grpc-mode`` without ``--grpc-http-sidecar-port``: sidecar on ``--port`` + 1
  (sglang 0.5.12 ``srt/entrypoints/grpc_server.py`` L170).
"""

from __future__ import annotations

import functools
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sglang_ci.config.model import load_config
from sglang_ci.config.server_args import Args
from sglang_ci.config.sglang_ports import derived_ports
from sglang_ci.launch import launcher, ports
from sglang_ci.launch.launcher import DeploymentRun, LaunchSettings
from sglang_ci.launch.ports import PortLease, listening, port_is_free
from sglang_ci.outcome.errors import FatalError
from sglang_ci.stub.ports import port_error
from tests.conftest import FIXTURES, run_python

DP_ATTENTION: Args = (("tp-size", 4), ("dp-size", 4), ("enable-dp-attention", True))


def sglang_derives(args: Args, port: int) -> set[int]:
    """The ports SGLang 0.5.12 computes from ``--port port`` (see the module docstring)."""
    flags = dict(args)
    derived = {port + 10000}  # server_args.py L1149
    if flags.get("grpc-mode") is True and "grpc-http-sidecar-port" not in flags:
        derived.add(port + 1)  # entrypoints/grpc_server.py L170
    if flags.get("enable-dp-attention") is True and "dist-init-addr" not in flags:
        derived.add(port + 13)  # data_parallel_controller.py L322
        if int(str(flags.get("nnodes", 1))) == 1:
            derived.update(range(port + 233, port + 239))  # server_args.py L7817-7829
    return derived


def sglang_accepts(args: Args, port: int) -> bool:
    return all(1 <= p <= 65535 for p in {port} | sglang_derives(args, port))


@pytest.fixture(autouse=True)
def _own_lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SGLANG_CI_PORT_LOCKS", str(tmp_path / "locks"))


def free_port(args: Args = ()) -> int:
    """A port free now with all its derived ports (other jobs share this host's ports)."""
    while True:
        port = ports.os_port()
        wanted = {port} | sglang_derives(args, port)
        if all(1 <= p <= 65535 for p in wanted) and all(port_is_free(p) for p in wanted):
            return port


def os_offers(monkeypatch: pytest.MonkeyPatch, *offers: int) -> None:
    """The OS's next choices are ``offers``, then whatever it really picks."""
    queue = iter(offers)
    real = ports.os_port
    monkeypatch.setattr(ports, "os_port", lambda: next(queue, None) or real())


ARG_SETS = {
    "plain": (),
    "dp-attention": DP_ATTENTION,
    "dp-attention, dist-init-addr": (*DP_ATTENTION, ("dist-init-addr", "10.0.0.1:5000")),
    "dp-attention, 2 nodes": (*DP_ATTENTION, ("nnodes", 2), ("dist-init-addr", "h:5000")),
    "grpc-mode": (("grpc-mode", True),),
    "grpc-mode, sidecar port": (("grpc-mode", True), ("grpc-http-sidecar-port", 9000)),
}


@pytest.mark.parametrize("args", ARG_SETS.values(), ids=ARG_SETS.keys())
@pytest.mark.parametrize("port", [1024, 30000, 55535, 55536, 58981, 65302, 65535])
def test_derived_ports_follow_sglang(args: Args, port: int) -> None:
    assert set(derived_ports(args, port)) == sglang_derives(args, port)


@pytest.mark.parametrize("args", ARG_SETS.values(), ids=ARG_SETS.keys())
def test_chooser_leases_every_derived_port(args: Args) -> None:
    with PortLease() as lease:
        port = lease.take(functools.partial(derived_ports, args))
        assert sglang_accepts(args, port)
        assert {port} | sglang_derives(args, port) == set(lease.ports)
        assert listening(lease.ports) == []


@pytest.mark.parametrize("args", ARG_SETS.values(), ids=ARG_SETS.keys())
def test_chooser_refuses_a_forced_high_port(args: Args, monkeypatch: pytest.MonkeyPatch) -> None:
    # 58981 is the port the OS handed out when sglang 0.5.12 exited with
    # "SGLANG_GRPC_PORT (68981) must be between 1 and 65535"; 65400 also overflows the
    # DP-attention block; 65535 is the last port there is.
    forced = (58981, 65400, 65535)
    os_offers(monkeypatch, *forced, free_port(args))
    with PortLease() as lease:
        chosen = lease.take(functools.partial(derived_ports, args))
        assert chosen not in forced and sglang_accepts(args, chosen)
        assert set(lease.ports) == {chosen} | sglang_derives(args, chosen)


def test_chooser_refuses_a_port_whose_derived_port_is_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as listener:  # somebody listens on what would be the gRPC port
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        if busy <= 11024 or not port_is_free(busy - 10000):
            pytest.skip("the OS's pick gives no usable main port below it")
        os_offers(monkeypatch, busy - 10000, free_port())
        with PortLease() as lease:
            assert lease.take(functools.partial(derived_ports, ())) != busy - 10000
            assert busy not in lease.ports


def test_chooser_refuses_a_port_whose_derived_port_another_job_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with PortLease() as other_job:
        while True:  # the other job holds first + 13, e.g. as its router port
            first = free_port(DP_ATTENTION)
            os_offers(monkeypatch, first + 13)
            if other_job.take() == first + 13:
                break
        os_offers(monkeypatch, first, free_port(DP_ATTENTION))
        with PortLease() as lease:
            chosen = lease.take(functools.partial(derived_ports, DP_ATTENTION))
            assert chosen != first and first + 13 not in lease.ports


def test_chooser_gives_up_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "os_port", lambda: 60000)
    with PortLease() as lease, pytest.raises(FatalError, match="10 derived ports outside"):
        lease.take(functools.partial(derived_ports, ()), attempts=10)


def test_chooser_only_returns_ports_sglang_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter(range(65535, 1024, -97))  # every corner of the range, high ones first
    monkeypatch.setattr(ports, "os_port", lambda: next(draws))
    with PortLease() as lease:
        for _ in range(20):
            port = lease.take(functools.partial(derived_ports, DP_ATTENTION), attempts=1000)
            assert sglang_accepts(DP_ATTENTION, port), port


def test_launcher_leases_each_servers_derived_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The launcher's call site, with the processes faked (PD: prefill, decode, router)."""
    started: list[Any] = []

    def fake_start(role: str, command: list[str], *_: Any) -> Any:
        process = SimpleNamespace(role=role, port=int(command[command.index("--port") + 1]),
                                  url="", api_key=None)  # fmt: skip
        started.append(process)
        return process

    monkeypatch.setattr(launcher, "start_process", fake_start)
    monkeypatch.setattr(launcher, "wait_all_ready", lambda *_: None)
    job = load_config(None, {}, FIXTURES).jobs["disagg(model='dsv4-flash')"]
    settings = LaunchSettings("stub", sys.executable, tmp_path, 1.0, {})
    with PortLease() as lease:
        DeploymentRun(job, settings, lease).start()
        servers = {s.role: s.args for s in job.deployment.servers}
        for process in started[:2]:
            args = servers[process.role]
            assert sglang_accepts(args, process.port)
            assert sglang_derives(args, process.port) <= set(lease.ports)


@pytest.mark.parametrize(
    ("port", "env", "message"),
    [
        (58981, {}, "SGLANG_GRPC_PORT (68981) must be between 1 and 65535"),
        (55536, {}, "SGLANG_GRPC_PORT (65536) must be between 1 and 65535"),
        (55535, {}, None),
        (58981, {"SGLANG_GRPC_PORT": "50051"}, None),
        (3000, {"SGLANG_GRPC_PORT": "70000"}, "SGLANG_GRPC_PORT (70000) must be between 1 and"),
        (3000, {"SGLANG_GRPC_PORT": "3000"}, None),  # only checked with gRPC enabled
        (3000, {"SGLANG_GRPC_PORT": "3000", "SGLANG_ENABLE_GRPC": "true"}, "must differ"),
    ],
)
def test_stub_checks_the_grpc_port(port: int, env: dict[str, str], message: str | None) -> None:
    problem = port_error({}, port, env)
    assert problem == message if message is None else message in str(problem)


def test_stub_checks_the_dp_attention_block() -> None:
    args = {"enable_dp_attention": True, "dp_size": 2}
    env = {"SGLANG_GRPC_PORT": "50051"}
    assert port_error(args, 65400, env) == "dist_init_port at 65633 is not available in 30 seconds."
    assert port_error({**args, "dp_size": 1}, 65400, env) is None  # SGLang turns it off
    assert port_error({**args, "dist_init_addr": "h:5000"}, 65400, env) is None


@pytest.fixture
def no_grpc_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("SGLANG_GRPC_PORT", "SGLANG_ENABLE_GRPC"):
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.mark.real_process
@pytest.mark.usefixtures("no_grpc_env")
def test_stub_refuses_a_port_whose_grpc_port_overflows() -> None:
    done = run_python("-m", "sglang_ci.stub", "--model-path", "m", "--port", "58981")
    assert done.returncode == 1, done.stderr
    assert "ValueError: SGLANG_GRPC_PORT (68981) must be between 1 and 65535" in done.stderr
    assert "listening" not in done.stdout


@pytest.mark.real_process
@pytest.mark.usefixtures("no_grpc_env")
def test_stub_refuses_an_overflowing_dp_attention_block() -> None:
    args = ["--port", "65400", "--enable-dp-attention", "--dp-size", "2", "--tp-size", "2"]
    done = run_python("-m", "sglang_ci.stub", "--model-path", "m", *args,
                      env={"SGLANG_GRPC_PORT": "50051"})  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "dist_init_port at 65633 is not available in 30 seconds." in done.stderr
