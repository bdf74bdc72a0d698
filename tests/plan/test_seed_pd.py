"""Seed 004 (#24973): disagg(model='dsv4-flash') launches as SGLang's DSV4 PD test does.

Expected values are written here from reading SGLang at 5227b07669, not from our code:
- test/registered/distributed/test_disaggregation_dsv4.py: start_prefill/start_decode
  argv, DSV4_FLASH_ENV, the /health waits of setUpClass;
- python/sglang/test/server_fixtures/disaggregation_fixture.py: the bootstrap port on both
  roles, transfer backend + RDMA devices appended to both, MC_TCP_ENABLE_CONNECTION_POOL
  set in os.environ (inherited by prefill, decode and router), launch_lb's argv;
- python/sglang/test/test_utils.py popen_launch_pd_server: ``python3 -m
  sglang.launch_server --model-path M <other_args> --host H --port P``;
- python/sglang/utils.py wait_for_http_ready: GET until 200, ``time.sleep(1)`` between.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import tomlkit

from sglang_ci.config.errors import ConfigError
from sglang_ci.config.model import load_config
from sglang_ci.config.schema import Job
from sglang_ci.plan.commands import (
    env_added,
    ib_device,
    readiness_endpoint,
    readiness_poll_s,
    router_command,
    server_command,
    url,
)
from sglang_ci.plan.dry_run import render_plan
from tests.conftest import ROOT

JOB = "disagg(model='dsv4-flash')"
MODEL = "sgl-project/DeepSeek-V4-Flash-FP8"
DEEPEP_CONFIG = '{"normal_dispatch":{"num_sms":96},"normal_combine":{"num_sms":96}}'
# start_prefill's other_args, in the test's order; "--tp"/"--dp" are argparse prefixes
# of --tp-size/--dp-size, so they are written here under the full names we pass.
PREFILL_ARGS = {
    "--trust-remote-code": None,
    "--disaggregation-mode": "prefill",
    "--disaggregation-bootstrap-port": "BOOTSTRAP",
    "--tp-size": "4",
    "--dp-size": "4",
    "--enable-dp-attention": None,
    "--moe-a2a-backend": "deepep",
    "--deepep-config": DEEPEP_CONFIG,
    "--cuda-graph-max-bs": "128",
    "--max-running-requests": "256",
    "--mem-fraction-static": "0.7",
    "--speculative-algorithm": "EAGLE",
    "--speculative-num-steps": "1",
    "--speculative-eagle-topk": "1",
    "--speculative-num-draft-tokens": "2",
    # cls.transfer_backend + cls.rdma_devices (in CI: mooncake and the runner's devices)
    "--disaggregation-transfer-backend": "mooncake",
    "--disaggregation-ib-device": "mlx5_0,mlx5_4",
    "--host": "127.0.0.1",
    "--port": "PORT",
}
DECODE_ARGS = {**PREFILL_ARGS, "--disaggregation-mode": "decode", "--base-gpu-id": "4"}
SERVER_ENV = {
    "SGLANG_DSV4_FP4_EXPERTS": "0",
    "SGLANG_DEEPEP_NUM_MAX_DISPATCH_TOKENS_PER_RANK": "256",
    "MC_TCP_ENABLE_CONNECTION_POOL": "true",
}
ROUTER_ENV = {"MC_TCP_ENABLE_CONNECTION_POOL": "true"}
LB_ARGV = [  # launch_lb, after "python3"
    "-m", "sglang_router.launch_router", "--pd-disaggregation", "--mini-lb",
    "--prefill", "http://127.0.0.1:30100", "--decode", "http://127.0.0.1:30200",
    "--host", "127.0.0.1", "--port", "30000",
]  # fmt: skip


@pytest.fixture(scope="module")
def job() -> Job:
    return load_config(None, {}, ROOT).find_job(JOB)


def flags(argv: list[str]) -> dict[str, str | None]:
    """``--flag value`` / ``--flag`` pairs; a flag given twice is a bug in itself."""
    parsed: dict[str, str | None] = {}
    for index, token in enumerate(argv):
        if token.startswith("--"):
            assert token not in parsed, f"{token} given twice"
            following = argv[index + 1] if index + 1 < len(argv) else "--"
            parsed[token] = None if following.startswith("--") else following
    return parsed


@pytest.mark.parametrize(("role", "expected"), [("prefill", PREFILL_ARGS), ("decode", DECODE_ARGS)])
def test_server_command_is_the_fixtures(job: Job, role: str, expected: dict[str, str]) -> None:
    (server,) = [s for s in job.deployment.servers if s.role == role]
    devices = ib_device({"SGLANG_CI_IB_DEVICE": "mlx5_0,mlx5_4"})
    argv = server_command("python3", "sglang", job.deployment, server, "PORT", "BOOTSTRAP", devices)
    assert argv[:5] == ["python3", "-m", "sglang.launch_server", "--model-path", MODEL]
    assert flags(argv[5:]) == expected
    assert argv[-4:] == ["--host", "127.0.0.1", "--port", "PORT"]


def test_without_rdma_devices_the_flag_is_left_out(job: Job) -> None:
    """The fixture outside CI with SGLANG_TEST_PD_DISAGG_DEVICES unset: rdma_devices = []."""
    for env in ({}, {"SGLANG_CI_IB_DEVICE": "  "}):
        assert ib_device(env) is None
        for server in job.deployment.servers:
            argv = server_command("python3", "sglang", job.deployment, server, 1, 2, ib_device(env))
            assert "--disaggregation-ib-device" not in argv
            assert argv[argv.index("--disaggregation-bootstrap-port") + 1] == "2"


def test_env_of_each_process(job: Job) -> None:
    for server in job.deployment.servers:
        assert env_added(job.deployment, server) == SERVER_ENV
    assert env_added(job.deployment) == ROUTER_ENV


def test_router_is_launch_lb(job: Job) -> None:
    assert job.model.pd_router == "mini-lb"
    argv = router_command(
        "python3", job.model.pd_router, url(30100), 30500, url(30200), 30000, None
    )
    assert argv == ["python3", *LB_ARGV]


def test_rust_router_is_the_labelled_option(job: Job) -> None:
    argv = router_command("python3", "rust", url(30100), 30500, url(30200), 30000, 29001)
    assert "--mini-lb" not in argv
    assert argv[argv.index("--prefill") + 1 : argv.index("--prefill") + 3] == [url(30100), "30500"]
    assert flags(argv)["--prometheus-host"] == "127.0.0.1"


def test_each_role_is_ready_on_health_polled_every_second(job: Job) -> None:
    for role in ("prefill", "decode", "router"):
        assert readiness_endpoint(job.deployment, role) == "/health"
    assert readiness_poll_s(job.deployment) == 1.0


def test_dry_run_says_what_runs(job: Job) -> None:
    config = load_config(None, {}, ROOT)
    plan = render_plan(job, config.stages[job.stage], "sglang")
    lines = plan.splitlines()
    router = lines[lines.index("  [router: pd-router = 'mini-lb', SGLang's PD fixture]") + 1]
    assert router.split() == [
        "python", "-m", "sglang_router.launch_router", "--pd-disaggregation", "--mini-lb",
        "--prefill", "http://127.0.0.1:PREFILL_PORT", "--decode", "http://127.0.0.1:DECODE_PORT",
        "--host", "127.0.0.1", "--port", "ROUTER_PORT",
    ]  # fmt: skip
    assert "    env added: MC_TCP_ENABLE_CONNECTION_POOL=true" in lines
    for role in ("prefill", "decode", "router"):
        assert f"  {role}: GET /health answers 200 (polled every 1 s)" in lines
    assert "--disaggregation-ib-device IB_DEVICE" in plan
    assert "$SGLANG_CI_IB_DEVICE" in plan and "left out" in plan
    rust = replace(job, model=replace(job.model, pd_router="rust"))
    assert "[router: pd-router = 'rust', labelled option" in render_plan(
        rust, config.stages[job.stage], "sglang"
    )


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ("dsv4-flash", "nginx", "models.dsv4-flash.pd-router: expected one of mini-lb, rust"),
        ("llama3-8b", "rust", "models.llama3-8b.pd-router: only a PD model"),
    ],
)
def test_pd_router_key_is_checked(tmp_path: Path, where: str, value: str, message: str) -> None:
    document = tomlkit.parse((ROOT / "stages.toml").read_text())
    document["models"][where]["pd-router"] = value
    path = tmp_path / "stages.toml"
    path.write_text(tomlkit.dumps(document))
    (tmp_path / "baselines.toml").write_text((ROOT / "baselines.toml").read_text())
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), {}, tmp_path)
    assert message in str(caught.value) and caught.value.return_code == 2
