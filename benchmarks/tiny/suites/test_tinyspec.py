"""NGRAM on the tiny model: the server really runs what was asked (topk 10), and reports
an accept length after a few generations."""

from __future__ import annotations

from sglang_ci.config.checks import EvalOptions
from sglang_ci.evals.run import run_eval
from sglang_ci.launch.server_api import avg_spec_accept_length, server_info
from sglang_ci.run.suite_plugin import SuiteContext


def test_settings(ctx: SuiteContext) -> None:
    ctx.verify_settings()


def test_accept_length(ctx: SuiteContext) -> None:
    """After a GSM8K eval (enough verify steps for the server to average over)."""
    outcome = run_eval(
        "gsm8k", ctx.url, EvalOptions(num_examples=20, num_shots=5, threads=8), data=None,
        env=ctx.env, api_key=ctx.run.api_key, request_timeout=ctx.request_timeout,
        stop=ctx.stop,
    )  # fmt: skip
    outcome.write(ctx.out_dir)
    with ctx.session() as session:
        info = server_info(session, ctx.generating_server.url)
    value = avg_spec_accept_length(info)
    states = info.get("internal_states") or [{}]
    assert value is not None, f"/server_info has no avg_spec_accept_length: {sorted(states[0])}"
    ctx.result.accept_length = value
    ctx.check("accept-length", value)
