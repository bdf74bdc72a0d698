"""disagg: PD disaggregation (seed 004). Prefill and decode really run the requested
parallelism, and GSM8K through the router meets the job's threshold."""

from __future__ import annotations

from sglang_ci.run.suite_plugin import SuiteContext


def test_servers_run_the_requested_settings(ctx: SuiteContext) -> None:
    ctx.verify_settings()


def test_gsm8k_through_the_router(ctx: SuiteContext) -> None:
    outcome = ctx.run_eval("gsm8k")
    ctx.check("gsm8k", outcome.score)
