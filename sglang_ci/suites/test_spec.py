"""spec: speculative decoding (seed 000). The server really runs the requested
speculative settings, GSM8K accuracy meets the job's threshold, and the average accept
length meets its floor."""

from __future__ import annotations

from sglang_ci.launch.server_api import avg_spec_accept_length, server_info
from sglang_ci.run.suite_plugin import SuiteContext


def test_server_runs_the_requested_settings(ctx: SuiteContext) -> None:
    ctx.verify_settings()


def test_gsm8k(ctx: SuiteContext) -> None:
    outcome = ctx.run_eval("gsm8k")
    ctx.check("gsm8k", outcome.score)


def test_accept_length(ctx: SuiteContext) -> None:
    """Read after the eval, so it averages over real verify steps."""
    with ctx.session() as session:
        info = server_info(session, ctx.generating_server.url)
    value = avg_spec_accept_length(info)
    assert value is not None, "/server_info has no internal_states[0].avg_spec_accept_length"
    ctx.result.accept_length = value
    ctx.check("accept-length", value)
