"""NGRAM on the tiny model: the server really runs what was asked (topk 10), and reports
an accept length after a few generations."""

from __future__ import annotations

from sglang_ci.launch.server_api import avg_spec_accept_length, server_info
from sglang_ci.run.suite_plugin import SuiteContext


def test_settings(ctx: SuiteContext) -> None:
    ctx.verify_settings()


def test_accept_length(ctx: SuiteContext) -> None:
    with ctx.session() as session:
        for _ in range(4):
            body = {"text": "one two three four one two three four one two",
                    "sampling_params": {"max_new_tokens": 64, "temperature": 0}}  # fmt: skip
            session.post(ctx.url + "/generate", json=body, timeout=ctx.request_timeout)
        value = avg_spec_accept_length(server_info(session, ctx.generating_server.url))
    assert value is not None, "/server_info has no avg_spec_accept_length"
    ctx.result.accept_length = value
    ctx.check("accept-length", value)
