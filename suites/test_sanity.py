"""sanity: basic sanity (seed 002). API contract, greedy decode agreement, a scheduler
stress burst, the fwd_occupancy probe, accept length when speculative, HellaSwag floor."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from sglang_ci.config.errors import FatalError
from sglang_ci.launch.server_api import avg_spec_accept_length, server_info
from sglang_ci.run.probes import measure_fwd_occupancy
from sglang_ci.run.suite_plugin import SuiteContext

STRESS_REQUESTS = 64


def test_server_runs_the_requested_settings(ctx: SuiteContext) -> None:
    ctx.verify_settings()


def test_api_contract(ctx: SuiteContext) -> None:
    with ctx.session() as session:
        assert session.get(ctx.url + "/health", timeout=30).status_code == 200
        models = session.get(ctx.url + "/v1/models", timeout=30).json()
        assert models["data"] and models["data"][0]["id"]
        body = {
            "text": "The capital of France is",
            "sampling_params": {"max_new_tokens": 16, "temperature": 0},
        }
        generated = session.post(ctx.url + "/generate", json=body, timeout=60).json()
        assert isinstance(generated["text"], str)
        assert generated["meta_info"]["completion_tokens"] > 0
        completion = session.post(ctx.url + "/v1/completions", json={
            "model": models["data"][0]["id"], "prompt": "Once upon a time",
            "max_tokens": 16, "temperature": 0}, timeout=60).json()  # fmt: skip
        assert completion["choices"][0]["text"] is not None
        assert completion["usage"]["completion_tokens"] > 0


def test_identical_greedy_requests_agree(ctx: SuiteContext) -> None:
    body = {"text": "List three primary colors:",
            "sampling_params": {"max_new_tokens": 32, "temperature": 0}}  # fmt: skip
    with ctx.session() as session:
        first, second = (session.post(ctx.url + "/generate", json=body, timeout=60).json()["text"]
                         for _ in range(2))  # fmt: skip
    assert first == second, f"greedy decoding disagreed: {first!r} vs {second!r}"


def test_scheduler_stress_burst(ctx: SuiteContext) -> None:
    def one(index: int) -> int:
        with ctx.session() as session:
            return session.post(ctx.url + "/generate", json={
                "text": f"Request {index}: count to five.",
                "sampling_params": {"max_new_tokens": 24, "temperature": 0}},
                timeout=ctx.request_timeout).status_code  # fmt: skip

    with ThreadPoolExecutor(max_workers=STRESS_REQUESTS) as pool:
        statuses = list(pool.map(one, range(STRESS_REQUESTS)))
    assert statuses == [200] * STRESS_REQUESTS, f"answers: {sorted(set(statuses))}"


def test_fwd_occupancy(ctx: SuiteContext) -> None:
    with ctx.session() as session:
        try:
            result = measure_fwd_occupancy(session, ctx.url, request_timeout=ctx.request_timeout)
        except FatalError as error:
            ctx.record_failure("fwd-occupancy", str(error))
            raise
    ctx.result.occupancy = result.median
    ctx.check("fwd-occupancy", result.median, "%")


def test_accept_length(ctx: SuiteContext) -> None:
    if not ctx.speculative():
        pytest.skip("the model runs no speculative decoding")
    with ctx.session() as session:
        value = avg_spec_accept_length(server_info(session, ctx.generating_server.url))
    assert value is not None, "/server_info has no internal_states[0].avg_spec_accept_length"
    ctx.result.accept_length = value
    ctx.check("accept-length", value)


def test_hellaswag(ctx: SuiteContext) -> None:
    outcome = ctx.run_eval("hellaswag")
    ctx.check("hellaswag", outcome.score)
