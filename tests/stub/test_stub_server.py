"""The stub engine as a real server: SGLang's endpoints, answered the way our suites need."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from sglang_ci.launch.launcher import RunningProcess, await_ready
from tests.conftest import StartStub

pytestmark = pytest.mark.real_process


def gsm8k_prompt(question: str) -> str:
    return f"Question: 1+1?\nAnswer: 2\n\nQuestion: {question}\nAnswer:"


def test_starting_then_healthy(start_stub: StartStub) -> None:
    stub = start_stub(env={"SGLANG_CI_STUB_FAULTS": "slow_start=1"}, ready=False)
    await_ready(stub, 30, "/health")  # listening and answering 503 while starting
    assert stub.readiness is not None and stub.readiness.ready
    assert requests.get(stub.url + "/health_generate", timeout=5).status_code == 200


def test_server_info_says_stub_and_flattens_args(start_stub: StartStub) -> None:
    stub = start_stub("--tp-size", "2", "--speculative-algorithm", "NEXTN",
                      "--speculative-eagle-topk", "3", "--speculative-num-steps", "5",
                      "--speculative-num-draft-tokens", "12")  # fmt: skip
    info = requests.get(stub.url + "/server_info", timeout=5).json()
    assert info["stub"] is True and "not a model" in info["version"]
    assert (info["tp_size"], info["speculative_eagle_topk"]) == (2, 3)
    assert info["speculative_algorithm"] == "EAGLE"
    assert info["internal_states"][0]["avg_spec_accept_length"] > 1.5
    assert requests.get(stub.url + "/get_server_info", timeout=5).json()["tp_size"] == 2
    models = requests.get(stub.url + "/v1/models", timeout=5).json()
    assert models["data"][0]["owned_by"] == "sglang-ci-stub"


def test_answers_from_the_key_with_stop_strings(start_stub: StartStub, gsm8k_key: Path) -> None:
    stub = start_stub(env={"SGLANG_CI_STUB_DATA": str(gsm8k_key), "SGLANG_CI_STUB_ACCURACY": "1"})
    question = json.loads(gsm8k_key.read_text().splitlines()[4])["question"]
    answer = requests.post(stub.url + "/v1/completions", json={
        "prompt": gsm8k_prompt(question), "max_tokens": 512, "temperature": 0,
        "stop": ["Question", "Assistant:", "<|separator|>"],
    }, timeout=10).json()  # fmt: skip
    text = answer["choices"][0]["text"]
    assert "The answer is 13." in text and "Question" not in text
    assert answer["choices"][0]["finish_reason"] == "stop"


def test_generate_batch_and_logprobs(start_stub: StartStub) -> None:
    stub = start_stub()
    answer = requests.post(stub.url + "/generate", json={
        "text": ["one two three", "four five"], "sampling_params": {"max_new_tokens": 4},
        "return_logprob": True,
    }, timeout=10).json()  # fmt: skip
    assert len(answer) == 2
    meta = answer[0]["meta_info"]
    assert meta["completion_tokens"] == 4 and len(meta["output_token_logprobs"]) == 4
    assert meta["input_token_logprobs"][0][0] is None  # the first prompt token has none
    assert all(entry[0] < 0 for entry in meta["input_token_logprobs"][1:])


def test_identical_greedy_requests_agree(start_stub: StartStub) -> None:
    stub = start_stub()
    body = {"text": "Say something", "sampling_params": {"max_new_tokens": 16, "temperature": 0}}
    first, second = (requests.post(stub.url + "/generate", json=body, timeout=10).json()
                     for _ in range(2))  # fmt: skip
    assert first["text"] == second["text"]


def test_flush_cache_refused_while_a_request_runs(start_stub: StartStub) -> None:
    stub = start_stub()
    long = {"text": "x", "sampling_params": {"max_new_tokens": 1000, "ignore_eos": True}}
    runner = threading.Thread(target=requests.post, args=(stub.url + "/generate",),
                              kwargs={"json": long, "timeout": 30})  # fmt: skip
    runner.start()
    try:
        statuses = set()
        for _ in range(50):
            statuses.add(requests.post(stub.url + "/flush_cache", timeout=5).status_code)
            if 400 in statuses:
                break
        assert 400 in statuses
    finally:
        runner.join()
    assert requests.post(stub.url + "/flush_cache", timeout=5).status_code == 200


def occupancy(stub: RunningProcess) -> list[float]:
    text = requests.get(stub.url + "/metrics", timeout=5).text
    return [
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "sglang:fwd_occupancy"
        for sample in family.samples
    ]


def test_metrics_need_enable_metrics(start_stub: StartStub) -> None:
    stub = start_stub()
    assert requests.get(stub.url + "/metrics", timeout=5).status_code == 404


def test_fwd_occupancy_needs_the_device_timer(start_stub: StartStub) -> None:
    stub = start_stub("--enable-metrics")
    text = requests.get(stub.url + "/metrics", timeout=5).text
    assert "sglang:prompt_tokens_total" in text
    assert occupancy(stub) == []


def test_fwd_occupancy_while_decoding(start_stub: StartStub) -> None:
    stub = start_stub("--enable-metrics", "--tp-size", "2",
                      env={"SGLANG_ENABLE_METRICS_DEVICE_TIMER": "1"})  # fmt: skip
    assert all(math.isnan(value) for value in occupancy(stub))  # idle: NaN
    long = {"text": "x", "sampling_params": {"max_new_tokens": 1500, "ignore_eos": True}}
    runner = threading.Thread(target=requests.post, args=(stub.url + "/generate",),
                              kwargs={"json": long, "timeout": 30})  # fmt: skip
    runner.start()
    samples: list[float] = []
    try:
        for _ in range(12):
            samples += occupancy(stub)
            threading.Event().wait(0.1)
    finally:
        runner.join()
    real = [value for value in samples if not math.isnan(value)]
    assert real and all(95.0 <= value <= 100.0 for value in real)
    assert any(math.isnan(value) for value in samples)  # window boundaries


def test_api_key_is_enforced(start_stub: StartStub) -> None:
    stub = start_stub("--api-key", "sekret", ready=False)
    stub.api_key = "sekret"
    await_ready(stub, 30, "/health_generate")
    assert requests.get(stub.url + "/server_info", timeout=5).status_code == 401
    headers = {"Authorization": "Bearer sekret"}
    assert requests.get(stub.url + "/server_info", headers=headers, timeout=5).status_code == 200


@pytest.mark.parametrize("deterministic", [True, False])
def test_determinism_follows_the_flag(
    start_stub: StartStub, gsm8k_key: Path, deterministic: bool
) -> None:
    env = {"SGLANG_CI_STUB_DATA": str(gsm8k_key), "SGLANG_CI_STUB_ACCURACY": "0.5"}
    flags = ["--enable-deterministic-inference"] if deterministic else []
    questions = [json.loads(line)["question"] for line in gsm8k_key.read_text().splitlines()]

    def answers(stub: RunningProcess) -> list[Any]:
        return [
            requests.post(stub.url + "/v1/completions", json={
                "prompt": gsm8k_prompt(q), "max_tokens": 64, "stop": ["Question"]},
                timeout=10).json()["choices"][0]["text"]
            for q in questions
        ]  # fmt: skip

    first, second = answers(start_stub(*flags, env=env)), answers(start_stub(*flags, env=env))
    # 40 questions at accuracy 0.5: two independent seeds agree everywhere with p = 2^-40.
    assert (first == second) is deterministic


def test_slow_after_answers_the_first_requests_on_time(start_stub: StartStub) -> None:
    """slow_after=2: two requests (as the launcher's smoke request) answered at once, the
    third held for slow_answer's 30 s (the client gives up after 1 s)."""
    stub = start_stub(env={"SGLANG_CI_STUB_FAULTS": "slow_answer=30,slow_after=2"})
    body = {"text": "Say something", "sampling_params": {"max_new_tokens": 4}}
    for _ in range(2):  # 30 s late would be past this timeout
        assert requests.post(stub.url + "/generate", json=body, timeout=20).status_code == 200
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(stub.url + "/generate", json=body, timeout=1)
