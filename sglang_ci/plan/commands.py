"""The exact command lines of a job's servers and router.

One builder serves both the dry run and the launcher, so the plan a person reads is the
command that runs. The stub engine swaps only the module that serves; every argument
SGLang would get, the stub gets too.
"""

from __future__ import annotations

from sglang_ci.config.deployment import Deployment, Server
from sglang_ci.config.server_args import to_argv

HOST = "127.0.0.1"
# How often a starting server's readiness is polled. SGLang's own launcher polls every
# 10 s; a GPU minute per launch is worth a few more requests.
READY_POLL_S = 0.1

# Every endpoint the launcher, the evals and the suites call on a server; the contract
# check (nox -s contract) confirms each is a route of the pinned SGLang release.
ENDPOINTS = (
    "/health", "/health_generate", "/flush_cache", "/server_info", "/get_server_info",
    "/get_model_info", "/v1/models", "/generate", "/v1/completions", "/v1/chat/completions",
    "/metrics",
)  # fmt: skip

ENGINE_MODULES = {
    "sglang": "sglang.launch_server",
    "stub": "sglang_ci.stub",
}
ROUTER_MODULE = "sglang_router.launch_router"

Port = int | str  # a number when launching, a placeholder such as "PORT" in a dry run


def server_command(
    python: str,
    engine: str,
    deployment: Deployment,
    server: Server,
    port: Port,
    bootstrap_port: Port | None = None,
) -> list[str]:
    argv = [python, "-m", ENGINE_MODULES[engine], "--model-path", deployment.model_path]
    if deployment.disaggregated:
        argv += ["--disaggregation-mode", server.role]
        if server.role == "prefill" and bootstrap_port is not None:
            argv += ["--disaggregation-bootstrap-port", str(bootstrap_port)]
    argv += to_argv(server.args)
    argv += ["--host", HOST, "--port", str(port)]
    return argv


def router_command(
    python: str,
    prefill_url: str,
    bootstrap_port: Port,
    decode_url: str,
    port: Port,
    metrics_port: Port,
) -> list[str]:
    # The router exposes Prometheus on 0.0.0.0:29000 unless told otherwise: two PD jobs
    # on one host would collide, and nothing of a job should listen beyond loopback.
    return [
        python, "-m", ROUTER_MODULE, "--pd-disaggregation",
        "--prefill", prefill_url, str(bootstrap_port),
        "--decode", decode_url,
        "--host", HOST, "--port", str(port),
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


def url(port: Port) -> str:
    return f"http://{HOST}:{port}"
