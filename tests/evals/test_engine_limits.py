"""What real SGLang 0.5.12 did on the lent H100 that the stub now does too: a context
length that refuses long requests with SGLang's 400, and a main process that answers
SIGTERM by SIGKILLing its own tree (exit -9), which teardown must not call a kill of ours."""

from __future__ import annotations

import pytest

from sglang_ci.evals.probes import context_length, fitting_tokens, measure_fwd_occupancy
from sglang_ci.launch.http_client import make_session
from tests.conftest import StartStub

pytestmark = pytest.mark.real_process


def test_stub_refuses_requests_past_its_context_length(start_stub: StartStub) -> None:
    stub = start_stub("--context-length", "2048")
    with make_session() as session:
        assert context_length(session, stub.url) == 2048
        body = {"text": "one two three", "sampling_params": {"max_new_tokens": 2048}}
        answer = session.post(stub.url + "/generate", json=body, timeout=10)
        # TokenizerManager._validate_one_request (sglang 6ed5780c4f): 3 + 2048 > 2048.
        assert answer.status_code == 400
        assert answer.json()["message"].startswith(
            "Requested token count exceeds the model's maximum context length of 2048 tokens."
            " You requested a total of 2051 tokens: 3 tokens from the input messages and 2048"
            " tokens for the completion."
        )
        body["sampling_params"] = {"max_new_tokens": 8}
        assert session.post(stub.url + "/generate", json=body, timeout=10).status_code == 200


def test_the_probe_fits_its_request_into_the_context(
    start_stub: StartStub, capfd: pytest.CaptureFixture[str]
) -> None:
    stub = start_stub("--context-length", "1700", "--enable-metrics",
                      env={"SGLANG_ENABLE_METRICS_DEVICE_TIMER": "1"})  # fmt: skip
    with make_session() as session:
        result = measure_fwd_occupancy(session, stub.url, settle=0.1)
    assert len(result.samples) >= 5
    line = capfd.readouterr().out  # the process's stdout: pytest's capture cannot hide it
    assert "fwd_occupancy: the server's context is 1700 tokens and the prompt" in line
    assert "instead of 2048" in line


def test_fitting_tokens_leaves_room_for_the_prompt() -> None:
    assert fitting_tokens(2048, None, 30) == 2048
    assert fitting_tokens(2048, 8192, 30) == 2048
    assert fitting_tokens(2048, 2048, 30) == 2048 - 30 - 8


@pytest.mark.parametrize(
    ("faults", "how", "code"),
    [("", "ended by its own handler after SIGTERM (exit -9)", -9),
     ("ignore_sigterm", "killed by us (SIGKILL after the grace period)", -9)],
)  # fmt: skip
def test_teardown_tells_sglangs_own_exit_from_our_kill(
    start_stub: StartStub, faults: str, how: str, code: int
) -> None:
    stub = start_stub(env={"SGLANG_CI_STUB_FAULTS": faults})
    report = stub.tree.teardown(grace=0.5)
    assert report.how == how and report.exit_code == code
    assert report.survivors == ()
