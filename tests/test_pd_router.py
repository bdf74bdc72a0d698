"""PD disaggregation through the real sglang-router over a stub prefill and a stub decode."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import requests

from sglang_ci.config.model import load_config
from sglang_ci.launch.launcher import DeploymentRun, LaunchSettings
from sglang_ci.launch.ports import PortLease, port_is_free

from .conftest import FIXTURES, TAG_ENV, tagged_processes

pytestmark = pytest.mark.real_process


def test_router_routes_through_stub_prefill_and_decode(
    tmp_path: Path, tag: str, gsm8k_key: Path
) -> None:
    job = load_config(None, {}, FIXTURES).jobs["disagg(model='dsv4-flash')"]
    env = {**os.environ, TAG_ENV: tag, "SGLANG_CI_STUB_DATA": str(gsm8k_key),
           "SGLANG_CI_STUB_ACCURACY": "1.0"}  # fmt: skip
    settings = LaunchSettings("stub", sys.executable, tmp_path, 60.0, env)
    with PortLease() as lease:
        run = DeploymentRun(job, settings, lease)
        try:
            run.start()
            assert [p.role for p in run.processes] == ["prefill", "decode", "router"]
            _, decode, router = run.processes
            # The router is a real sglang-router process with our PD arguments.
            assert router.command[1:4] == [
                "-m",
                "sglang_router.launch_router",
                "--pd-disaggregation",
            ]
            bootstrap = router.command[router.command.index("--prefill") + 2]
            assert not port_is_free(int(bootstrap)), "prefill holds its bootstrap port"
            assert decode.command[decode.command.index("--base-gpu-id") + 1] == "4"

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
        ports = lease.ports
    assert ports and all(port_is_free(port) for port in ports)
    assert tagged_processes(tag) == []
