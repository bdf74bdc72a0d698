"""The dry run shows exactly what a job would run (jobs of the fixture config)."""

from __future__ import annotations

import itertools
import shlex
from pathlib import Path

import pytest

from sglang_ci.config.model import load_config
from sglang_ci.config.schema import Config
from sglang_ci.plan.dry_run import render_plan
from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(None, {}, FIXTURES)


def launch_lines(plan: str) -> list[list[str]]:
    return [shlex.split(line) for line in plan.splitlines()
            if " -m " in line or line.strip().startswith("sglang serve ")]  # fmt: skip


def test_spec_plan_has_the_requested_settings(config: Config) -> None:
    job = config.find_job("spec(model='gemma4-31b', topk=3)")
    plan = render_plan(job, config.stages[job.stage], "sglang")
    (argv,) = launch_lines(plan)
    assert argv[:2] == ["sglang", "serve"]  # as SGLang's popen_launch_server runs it
    pairs = {flag: value for flag, value in itertools.pairwise(argv) if flag.startswith("--")}
    assert pairs["--model-path"] == "google/gemma-4-31B-it"
    assert pairs["--speculative-eagle-topk"] == "3"
    assert pairs["--speculative-draft-model-path"] == "google/gemma-4-31B-it-assistant"
    assert pairs["--tp-size"] == "2"
    assert pairs["--speculative-num-draft-tokens"] == "12"
    assert argv[-6:] == ["--device", "cuda", "--host", "127.0.0.1", "--port", "SERVER_PORT"]
    assert "speculative_eagle_topk == 3" in plan
    assert "gsm8k (200 examples, 5-shot, 128 threads)" in plan and ">= 0.775" in plan
    assert "avg_spec_accept_length >= 1.5" in plan
    checks = plan.split("checks", 1)[1].split("pass when:", 1)[0]
    assert "POST /generate: one smoke generation" in checks and "/flush_cache" in checks


def test_stub_engine_swaps_only_the_module(config: Config) -> None:
    job = config.find_job("spec(model='gemma4-31b', topk=3)")
    (real,) = launch_lines(render_plan(job, config.stages[job.stage], "sglang"))
    (stub,) = launch_lines(render_plan(job, config.stages[job.stage], "stub"))
    assert stub[:3] == ["python", "-m", "sglang_ci.stub"] and real[:2] == ["sglang", "serve"]
    assert stub[3:] == real[2:]


def test_pd_plan_has_both_roles_and_the_router(config: Config) -> None:
    job = config.find_job("disagg(model='dsv4-flash')")
    plan = render_plan(job, config.stages[job.stage], "sglang")
    prefill, decode, router = launch_lines(plan)
    assert prefill[prefill.index("--disaggregation-mode") + 1] == "prefill"
    assert prefill[prefill.index("--disaggregation-bootstrap-port") + 1] == "BOOTSTRAP_PORT"
    assert decode[decode.index("--disaggregation-mode") + 1] == "decode"
    assert decode[decode.index("--base-gpu-id") + 1] == "4"
    assert "--base-gpu-id" not in prefill
    assert router[:4] == ["python", "-m", "sglang_router.launch_router", "--pd-disaggregation"]
    # SGLang's PD fixture (the default pd-router): no bootstrap port after --prefill; the
    # decode has it instead (tests/test_shipped_stages.py holds the whole argv).
    assert decode[decode.index("--disaggregation-bootstrap-port") + 1] == "BOOTSTRAP_PORT"
    assert router[router.index("--prefill") + 1 : router.index("--prefill") + 3] == [
        "http://127.0.0.1:PREFILL_PORT",
        "--decode",
    ]
    assert "env added: MC_TCP_ENABLE_CONNECTION_POOL=true SGLANG_DSV4_FP4_EXPERTS=0" in plan
    assert "[prefill, GPUs 0-3]" in plan and "[decode, GPUs 4-7]" in plan


def test_sglang_serve_without_a_console_script_runs_its_entry_point(tmp_path: Path) -> None:
    """`sglang serve` is the script beside the interpreter; where SGLang was installed with
    pip --target or --user there is none, and the same main() runs through the interpreter."""
    from sglang_ci.engines.sglang import SGLANG_ENTRY_POINT, sglang_program

    python = tmp_path / "bin" / "python3"
    python.parent.mkdir()
    assert sglang_program(str(python)) == [str(python), "-c", SGLANG_ENTRY_POINT]
    (python.parent / "sglang").write_text("#!/bin/sh\n")
    assert sglang_program(str(python)) == [str(python.parent / "sglang")]
    assert sglang_program("python3") == ["sglang"]
