"""PD disaggregation through the real sglang-router 0.3.2 wheel over a stub prefill and a
stub decode, once per router invocation: ``--mini-lb`` (SGLang's PD fixture; the wheel
ships sglang_router/mini_lb.py, a FastAPI/uvicorn app that needs no sglang) and the Rust
router (pd-router = "rust")."""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
import requests

from sglang_ci.config.model import load_config
from sglang_ci.launch.launcher import DeploymentRun, LaunchSettings, RunningProcess
from sglang_ci.launch.ports import PortLease, listening, port_is_free
from sglang_ci.stub.bootstrap import BootstrapCheck
from tests.conftest import FIXTURES, TAG_ENV, tagged_processes

DEVICES = "mlx5_0,mlx5_4"  # what a runner would name; the stub only reports it


def flag(process: RunningProcess, name: str) -> str:
    return process.command[process.command.index(name) + 1]


@pytest.mark.real_process
@pytest.mark.parametrize("router_kind", ["mini-lb", "rust"])
def test_router_routes_through_stub_prefill_and_decode(
    tmp_path: Path, tag: str, gsm8k_key: Path, router_kind: str
) -> None:
    job = load_config(None, {}, FIXTURES).jobs["disagg(model='dsv4-flash')"]
    job = replace(job, model=replace(job.model, pd_router=router_kind))
    env = {**os.environ, TAG_ENV: tag, "SGLANG_CI_STUB_DATA": str(gsm8k_key),
           "SGLANG_CI_STUB_ACCURACY": "1.0", "SGLANG_CI_IB_DEVICE": DEVICES}  # fmt: skip
    env.pop("MC_TCP_ENABLE_CONNECTION_POOL", None)
    settings = LaunchSettings("stub", sys.executable, tmp_path, 60.0, env)
    with PortLease() as lease:
        run = DeploymentRun(job, settings, lease)
        try:
            run.start()
            assert [p.role for p in run.processes] == ["prefill", "decode", "router"]
            prefill, decode, router = run.processes
            assert router.command[1:4] == [
                "-m",
                "sglang_router.launch_router",
                "--pd-disaggregation",
            ]
            after_prefill = router.command[router.command.index("--prefill") + 2]
            if router_kind == "mini-lb":
                assert "--mini-lb" in router.command and after_prefill == "--decode"
                assert "MiniLB" in router.tail(), "the wheel's MiniLoadBalancer serves"
            else:
                assert "--mini-lb" not in router.command
                assert after_prefill == str(run.extra_ports["bootstrap"])
            bootstrap = run.extra_ports["bootstrap"]
            assert flag(prefill, "--disaggregation-bootstrap-port") == str(bootstrap)
            assert flag(decode, "--disaggregation-bootstrap-port") == str(bootstrap)
            assert not port_is_free(bootstrap), "prefill holds its bootstrap port"
            assert flag(decode, "--base-gpu-id") == "4"
            # Set as SGLang's fixture sets it, for every process. The router's own environ
            # is unreadable (setproctitle reuses that memory): its launch record says it.
            for process in (prefill, decode):
                environ = psutil.Process(process.popen.pid).environ()
                assert environ.get("MC_TCP_ENABLE_CONNECTION_POOL") == "true", process.role
            assert router.describe()["env_added"] == {"MC_TCP_ENABLE_CONNECTION_POOL": "true"}
            for process in (prefill, decode):
                info = requests.get(process.url + "/server_info", timeout=10).json()
                assert info["disaggregation_bootstrap_port"] == bootstrap
                assert info["disaggregation_ib_device"] == DEVICES
                assert info["disaggregation_transfer_backend"] == "mooncake"
                # Polled every 1 s (SGLang's wait_for_http_ready): at 0.1 s a stub that takes
                # a few tenths of a second to start would have needed several more polls.
                assert process.readiness is not None
                assert process.readiness.polls <= process.readiness.elapsed + 2

            # Through the router the decode reaches the prefill's bootstrap server: for the
            # mini-lb at its own --disaggregation-bootstrap-port (the request names none).
            question = gsm8k_key.read_text().splitlines()[0].split('"question": "')[1].split('"')[0]
            prompt = f"Question: {question}\nAnswer:"
            completion = requests.post(run.url + "/v1/completions", json={
                "model": "m", "prompt": prompt, "max_tokens": 64, "stop": ["Question"]},
                timeout=30).json()  # fmt: skip
            assert "The answer is 5." in completion["choices"][0]["text"]
            generated = requests.post(run.url + "/generate", json={
                "text": prompt, "sampling_params": {"max_new_tokens": 64, "stop": ["Question"]}},
                timeout=30).json()  # fmt: skip
            assert "The answer is 5." in generated["text"]
        finally:
            problems = run.teardown()
        assert problems == []
        assert [p.teardown.survivors for p in run.processes if p.teardown] == [(), (), ()]
        # Checked while the lease still holds them: once released, a parallel test's lease
        # may take one of these ports at once.
        assert lease.ports and listening(lease.ports) == []
    assert tagged_processes(tag) == []


def test_stub_decode_needs_the_prefills_bootstrap_port() -> None:
    """A request the mini-lb routes names no port: the decode uses its own, and fails when
    that is not where the prefill's bootstrap server listens."""
    with socket.socket() as listening, socket.socket() as unused:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        unused.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        up, down = listening.getsockname()[1], unused.getsockname()[1]
        routed = {"bootstrap_host": "127.0.0.1", "bootstrap_port": None}
        assert BootstrapCheck("decode", up).problem(routed) is None
        problem = BootstrapCheck("decode", down).problem(routed)
        assert problem and f"127.0.0.1:{down} (this server's own" in problem
        named = {"bootstrap_host": ["127.0.0.1"], "bootstrap_port": [up]}
        assert BootstrapCheck("decode", down).problem(named) is None
        assert BootstrapCheck("prefill", down).problem(routed) is None
        assert BootstrapCheck("decode", down).problem({"text": "direct"}) is None
