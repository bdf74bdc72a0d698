"""Seed 004 (#24973): how a PD job launches, on the fixture config's PD job: the RDMA
device flag, the router's options, readiness, the dry run and the pd-router key. That the
shipped disagg(model='dsv4-flash') is SGLang's DSV4 PD test (its argv, env and launch_lb)
is tests/test_shipped_stages.py's.

SGLang at 5227b07669: python/sglang/test/server_fixtures/disaggregation_fixture.py (the
bootstrap port on both roles, RDMA devices appended to both); python/sglang/utils.py
wait_for_http_ready: GET until 200, ``time.sleep(1)`` between.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import tomlkit

from sglang_ci.config.errors import ConfigError
from sglang_ci.config.model import load_config
from sglang_ci.config.schema import Job
from sglang_ci.plan.commands import (
    ib_device,
    readiness_endpoint,
    readiness_poll_s,
    router_command,
    server_command,
    url,
)
from sglang_ci.plan.dry_run import render_plan
from tests.conftest import FIXTURES, ConfigEdit

JOB = "disagg(model='dsv4-flash')"


@pytest.fixture(scope="module")
def job() -> Job:
    return load_config(None, {}, FIXTURES).find_job(JOB)


def flags(argv: list[str]) -> dict[str, str | None]:
    """``--flag value`` / ``--flag`` pairs; a flag given twice is a bug in itself."""
    parsed: dict[str, str | None] = {}
    for index, token in enumerate(argv):
        if token.startswith("--"):
            assert token not in parsed, f"{token} given twice"
            following = argv[index + 1] if index + 1 < len(argv) else "--"
            parsed[token] = None if following.startswith("--") else following
    return parsed


def test_without_rdma_devices_the_flag_is_left_out(job: Job) -> None:
    """The fixture outside CI with SGLANG_TEST_PD_DISAGG_DEVICES unset: rdma_devices = []."""
    for env in ({}, {"SGLANG_CI_IB_DEVICE": "  "}):
        assert ib_device(env) is None
        for server in job.deployment.servers:
            argv = server_command("python3", "sglang", job.deployment, server, 1, 2, ib_device(env))
            assert "--disaggregation-ib-device" not in argv
            assert argv[argv.index("--disaggregation-bootstrap-port") + 1] == "2"


def test_rust_router_is_the_labelled_option() -> None:
    argv = router_command("python3", "rust", url(30100), 30500, url(30200), 30000, 29001)
    assert "--mini-lb" not in argv
    assert argv[argv.index("--prefill") + 1 : argv.index("--prefill") + 3] == [url(30100), "30500"]
    assert flags(argv)["--prometheus-host"] == "127.0.0.1"


def test_each_role_is_ready_on_health_polled_every_second(job: Job) -> None:
    for role in ("prefill", "decode", "router"):
        assert readiness_endpoint(job.deployment, role) == "/health"
    assert readiness_poll_s(job.deployment) == 1.0


def test_dry_run_says_what_runs(job: Job) -> None:
    config = load_config(None, {}, FIXTURES)
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
def test_pd_router_key_is_checked(
    write_config: Callable[[ConfigEdit], Path], where: str, value: str, message: str
) -> None:
    def edit(document: tomlkit.TOMLDocument) -> None:
        document["models"][where]["pd-router"] = value

    path = write_config(edit)
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), {}, path.parent)
    assert message in str(caught.value) and caught.value.return_code == 2
