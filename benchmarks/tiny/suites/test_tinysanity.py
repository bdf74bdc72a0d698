"""The tiny model through the runner's real path: its settings, the fwd_occupancy probe
(sized to the server's context), and a GSM8K eval whose score is recorded, not judged."""

from __future__ import annotations

from sglang_ci.config.checks import EvalOptions
from sglang_ci.evals.probes import measure_fwd_occupancy
from sglang_ci.evals.run import run_eval
from sglang_ci.run.suite_plugin import SuiteContext


def test_settings(ctx: SuiteContext) -> None:
    ctx.verify_settings()


def test_fwd_occupancy(ctx: SuiteContext) -> None:
    with ctx.session() as session:
        result = measure_fwd_occupancy(session, ctx.url)
    ctx.result.occupancy = result.median
    ctx.check("fwd-occupancy", result.median, "%")


def test_gsm8k_requests(ctx: SuiteContext) -> None:
    outcome = run_eval(
        "gsm8k", ctx.url, EvalOptions(num_examples=20, num_shots=5, threads=8), data=None,
        env=ctx.env, api_key=ctx.run.api_key, request_timeout=ctx.request_timeout,
        stop=ctx.stop,
    )  # fmt: skip
    outcome.write(ctx.out_dir)
    ctx.result.score = outcome.score  # random weights: a number, not a verdict
    assert len(outcome.records) == 20
