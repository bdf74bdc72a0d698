"""The exact command lines of a job's servers and router.

One builder serves both the dry run and the launcher, so the plan a person reads is the
command that runs. The stub engine swaps only the module that serves; every argument
SGLang would get, the stub gets too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sglang_ci.config.deployment import Deployment, Server
from sglang_ci.config.server_args import to_argv
from sglang_ci.engines import registry
from sglang_ci.plan.rdma import SYSFS_INFINIBAND, pd_ib_device

HOST = "127.0.0.1"
# How often a starting single server's readiness is polled. SGLang's popen_launch_server
# polls every 10 s; a GPU minute per launch is worth a few more requests (improvement).
READY_POLL_S = 0.1
# PD roles are polled as SGLang's PD fixture polls them (wait_for_http_ready sleeps 1 s,
# python/sglang/utils.py@5227b07669): a PD launch takes minutes, so a faster poll would
# win under a second per role; fidelity costs nothing here.
PD_READY_POLL_S = 1.0

# Every endpoint the launcher, the evals and the suites call on a server; the contract
# check (nox -s contract) confirms each is a route of the pinned SGLang release.
ENDPOINTS = (
    "/health", "/health_generate", "/flush_cache", "/server_info", "/get_server_info",
    "/get_model_info", "/v1/models", "/generate", "/v1/completions", "/v1/chat/completions",
    "/metrics",
)  # fmt: skip

ROUTER_MODULE = "sglang_router.launch_router"

# RDMA devices are a fact of the runner, never of the config: a runner may name them here
# (else they are picked as SGLang's PD fixture picks them, plan.rdma).
IB_DEVICE_ENV = "SGLANG_CI_IB_DEVICE"
# Set by SGLang's PDDisaggregationServerBase.setUpClass in os.environ, so the prefill, the
# decode and the router all inherit it (disaggregation_fixture.py@5227b07669).
PD_ENV = (("MC_TCP_ENABLE_CONNECTION_POOL", "true"),)

Port = int | str  # a number when launching, a placeholder such as "PORT" in a dry run


def server_command(
    python: str,
    engine: str,
    deployment: Deployment,
    server: Server,
    port: Port,
    bootstrap_port: Port | None = None,
    ib_device: str | None = None,
) -> list[str]:
    """A server's argv, as SGLang's test helpers build it. A single server as
    popen_launch_server: ``sglang serve --model-path M <args> --device cuda --host H --port
    P`` (SGLang's CI runs `sglang serve` since 0.5.10, e6da514c2c, so in every release the
    jobs claim; device "auto" resolves to cuda on NVIDIA GPUs); the engine (engines/) gives
    only the program. PD roles as popen_launch_pd_server: ``python3 -m sglang.launch_server``, no
    --device, and the bootstrap port on both, as SGLang's fixture passes it: with the
    mini-lb router no request names it, and each server then falls back to its own
    --disaggregation-bootstrap-port (scheduler.py@5227b07669)."""
    head = registry.engine(engine).server_program(python, deployment.disaggregated)
    argv = [*head, "--model-path", deployment.model_path]
    if deployment.disaggregated:
        argv += ["--disaggregation-mode", server.role]
        if bootstrap_port is not None:
            argv += ["--disaggregation-bootstrap-port", str(bootstrap_port)]
    argv += to_argv(server.args)
    if deployment.disaggregated and ib_device:
        argv += ["--disaggregation-ib-device", ib_device]
    if not deployment.disaggregated:
        argv += ["--device", "cuda"]
    argv += ["--host", HOST, "--port", str(port)]
    return argv


def ib_device(env: Mapping[str, str], sysfs_root: Path = SYSFS_INFINIBAND) -> str | None:
    """The PD roles' RDMA devices as SGLang's PD fixture picks them (plan.rdma): in CI
    always (SGLANG_CI_RDMA_ALL_DEVICES, sysfs, mlx5_roce0-7); outside CI from
    SGLANG_TEST_PD_DISAGG_DEVICES, else None (the flag left out, SGLang's default).
    $SGLANG_CI_IB_DEVICE, where set, names them instead."""
    return pd_ib_device(env, IB_DEVICE_ENV, sysfs_root)


def env_added(deployment: Deployment, server: Server | None = None) -> dict[str, str]:
    """What a process's environment gets on top of the runner's: a server its config env;
    every process of a PD launch, router included (``server`` None), SGLang's PD env."""
    added = dict(PD_ENV) if deployment.disaggregated else {}
    return {**added, **dict(server.env)} if server is not None else added


def router_command(
    python: str,
    router: str,
    prefill_url: str,
    bootstrap_port: Port,
    decode_url: str,
    port: Port,
    metrics_port: Port | None = None,
) -> list[str]:
    """``mini-lb``: SGLang's PD fixture's argv (launch_lb, disaggregation_fixture.py@
    5227b07669), no bootstrap port after --prefill. ``rust``: the Rust router, told the
    bootstrap port and where to serve Prometheus (labelled option, pd-router = "rust")."""
    head = [python, "-m", ROUTER_MODULE, "--pd-disaggregation"]
    tail = ["--host", HOST, "--port", str(port)]
    if router == "mini-lb":
        return [*head, "--mini-lb", "--prefill", prefill_url, "--decode", decode_url, *tail]
    # The Rust router exposes Prometheus on 0.0.0.0:29000 unless told otherwise: two PD
    # jobs on one host would collide, and nothing of a job should listen beyond loopback.
    return [
        *head, "--prefill", prefill_url, str(bootstrap_port), "--decode", decode_url, *tail,
        "--prometheus-port", str(metrics_port), "--prometheus-host", HOST,
    ]  # fmt: skip


def readiness_endpoint(deployment: Deployment, role: str) -> str:
    """What the launcher polls until it answers 200, and what the dry run shows. A single
    server must generate (/health_generate, as SGLang's popen_launch_server waits for);
    PD servers and the router answer /health, as SGLang's own PD tests wait for: a lone
    prefill or decode server cannot generate before the pair is connected."""
    if role == "router" or deployment.disaggregated:
        return "/health"
    return "/health_generate"


def readiness_poll_s(deployment: Deployment) -> float:
    """How often the launcher polls ``readiness_endpoint``; the dry run prints it."""
    return PD_READY_POLL_S if deployment.disaggregated else READY_POLL_S


def url(port: Port) -> str:
    return f"http://{HOST}:{port}"
