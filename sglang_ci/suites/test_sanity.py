"""sanity: SGLang's basic sanity (seed #25886), kit by kit, test by test.

test/registered/core/test_basic_sanity.py and test_basic_sanity_eagle3.py at 1bd4f94598
mix five kits (python/sglang/test/kits/*.py at that commit) into one class against one
server: BasicAPIContractMixin, BasicDecodeCorrectnessMixin, BasicSchedulerStressMixin,
FwdOccupancyMixin and HellaswagMixin. Each test here is one of the kits' tests with its
requests, timeouts, numbers and comparators. Thresholds that stages.toml sets go through
``ctx.check`` (with the comparator SGLang uses, noted at each); the kits' fixed numbers
(ASCII ratio > 0.85, top 5-gram ratio < 0.25, |HellaSwag delta| < 0.1, ...) are plain
asserts. Beyond the kits: ``test_server_runs_the_requested_settings`` (the runner's own
check that /server_info shows the requested flags).

The tests run in SGLang's order: unittest runs a class's test methods sorted by name, so
HellaSwag (test_accuracy_floor) comes first and fills the radix cache, and the
speculative accept length is read after everything before test_fwd_occupancy. pytest
runs this file top to bottom, so the tests stand here in that sorted order, each under
the name of its kit; the accept-length floor, the tail of the kit's test_fwd_occupancy,
is a test of its own right after it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import pytest
import requests

from sglang_ci.evals.probes import SCRAPE_TIMEOUT_S, measure_fwd_occupancy
from sglang_ci.outcome.errors import FatalError
from sglang_ci.run.suite_plugin import SuiteContext

# The kits' request timeouts (seconds): basic_api_contract_kit (60), decode correctness
# and scheduler stress (120); their short and long max_new_tokens.
API_TIMEOUT_S, DECODE_TIMEOUT_S = 60, 120
SHORT_TOKENS, LONG_TOKENS = 64, 128

# basic_scheduler_stress_kit: a shared prefix (one radix path), a distinct question each.
CONCURRENT_PREFIX = "You are a helpful assistant. Answer with a single word.\n"
CONCURRENT_QA = [
    ("Q: What is the capital of France?\nA:", "paris"),
    ("Q: What is the capital of Germany?\nA:", "berlin"),
    ("Q: What is the capital of Italy?\nA:", "rome"),
    ("Q: What is the capital of Japan?\nA:", "tokyo"),
    ("Q: What is the capital of Spain?\nA:", "madrid"),
    ("Q: What is the capital of Egypt?\nA:", "cairo"),
    ("Q: What is the capital of Russia?\nA:", "moscow"),
    ("Q: What is the capital of Australia?\nA:", "canberra"),
]
LONG_FILLER = "the quick brown fox jumps over the lazy dog. " * 800  # ~8k tokens, chunked


def _served_model_name(ctx: SuiteContext) -> str:
    """The tests set served_model_name to the model path they launch (SGLang's default
    --served-model-name)."""
    return ctx.job.deployment.model_path


def _openai(ctx: SuiteContext, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with ctx.session() as session:
        response = session.post(ctx.url + path, json=body, timeout=API_TIMEOUT_S)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert "choices" in answer and len(answer["choices"]) > 0
    assert "usage" in answer
    return answer


def _generate(
    ctx: SuiteContext, prompt: str, max_new_tokens: int, stop: list[str] | None = None
) -> str:
    params: dict[str, Any] = {"temperature": 0.0, "max_new_tokens": max_new_tokens}
    if stop is not None:
        params["stop"] = stop
    with ctx.session() as session:
        response = session.post(ctx.url + "/generate", timeout=DECODE_TIMEOUT_S,
                                json={"text": prompt, "sampling_params": params})  # fmt: skip
    assert response.status_code == 200
    text: str = response.json()["text"]
    return text


def printable_ratio(text: str) -> float:
    """Share of printable ASCII (32..126, newline, tab): healthy English is > 0.9."""
    printable = sum(1 for c in text if 32 <= ord(c) < 127 or c in "\n\t")
    return printable / max(len(text), 1)


def top_5gram_ratio(text: str) -> float | None:
    """How often the most common 5-character window occurs, over all windows; None for
    text under 50 characters (the kit does not judge those). As the kit counts: the
    windows start at 0 .. len-6, the last one is left out."""
    if len(text) < 50:
        return None
    windows = [text[i : i + 5] for i in range(len(text) - 5)]
    return max(Counter(windows).values()) / len(windows)


def test_server_runs_the_requested_settings(ctx: SuiteContext) -> None:
    ctx.verify_settings()


# hellaswag_kit
def test_accuracy_floor(ctx: SuiteContext) -> None:
    """HellaswagMixin.test_accuracy_floor: test_programs.test_hellaswag_select runs the
    200 questions twice and asserts |delta| < 0.1 (the eval makes both passes and fails
    the check when they disagree); the first pass's accuracy is the score."""
    outcome = ctx.run_eval("hellaswag")
    # SGLang: assertGreater(accuracy, hellaswag_accuracy_threshold), strict.
    ctx.check("hellaswag", outcome.score)


# basic_decode_correctness_kit
def test_ascii_ratio(ctx: SuiteContext) -> None:
    out = _generate(ctx, "Write a single sentence about a sunny day in the park.", LONG_TOKENS)
    ratio = printable_ratio(out)
    assert ratio > 0.85, f"output looks like gibberish (printable ASCII ratio={ratio:.2f}): {out!r}"


# basic_decode_correctness_kit
def test_basic_math(ctx: SuiteContext) -> None:
    prompt = "Q: What is 17 multiplied by 23? Reply with just the number.\nA:"
    out = _generate(ctx, prompt, SHORT_TOKENS)
    assert "391" in out, out


# basic_decode_correctness_kit
def test_capital_france(ctx: SuiteContext) -> None:
    out = _generate(ctx, "Q: What is the capital of France?\nA:", SHORT_TOKENS)
    assert "paris" in out.lower(), out


# basic_decode_correctness_kit
def test_color_completion(ctx: SuiteContext) -> None:
    prompt = "Q: The three primary colors are red, blue, and ___. Fill in the blank.\nA:"
    out = _generate(ctx, prompt, SHORT_TOKENS)
    assert "yellow" in out.lower(), out


# basic_scheduler_stress_kit
def test_concurrent_requests(ctx: SuiteContext) -> None:
    results: list[bool | None] = [None] * len(CONCURRENT_QA)

    def worker(index: int, suffix: str, expected: str) -> None:
        try:
            out = _generate(ctx, CONCURRENT_PREFIX + suffix, SHORT_TOKENS)
            results[index] = expected in out.lower()
        except (AssertionError, requests.RequestException, ValueError, KeyError):
            results[index] = False  # the kit counts any failure as a wrong answer

    threads = [threading.Thread(target=worker, args=(i, suffix, expected), daemon=True)
               for i, (suffix, expected) in enumerate(CONCURRENT_QA)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DECODE_TIMEOUT_S)
    passed = sum(1 for result in results if result)
    # One stochastic miss is tolerated (assertGreaterEqual, n - 1); gibberish fails all.
    assert passed >= len(CONCURRENT_QA) - 1, (
        f"concurrent answers correct: {passed}/{len(CONCURRENT_QA)}; results={results}"
    )


# basic_decode_correctness_kit
def test_determinism_temp_zero(ctx: SuiteContext) -> None:
    # Stop at "\n": only the answer word is compared, as in the kit.
    prompt = "Q: What is the capital of France? Reply in one word.\nA:"
    first, second = (_generate(ctx, prompt, SHORT_TOKENS, stop=["\n"]) for _ in range(2))
    assert first.strip() == second.strip(), f"temp=0 outputs diverged: {first!r} vs {second!r}"


# fwd_occupancy_kit
def test_fwd_occupancy(ctx: SuiteContext) -> None:
    ranks = ctx.job.suite.occupancy_ranks
    with ctx.session() as session:
        try:
            result = measure_fwd_occupancy(session, ctx.url, aggregate=ranks)
        except FatalError as error:
            ctx.record_failure("fwd-occupancy", str(error))
            raise
    ctx.result.occupancy = result.median
    print(result.table(ctx.job.threshold("fwd-occupancy")))
    # SGLang: assertGreater(median, fwd_occupancy_threshold), strict (the check's default).
    ctx.check("fwd-occupancy", result.median, "%")


# fwd_occupancy_kit (the end of its test_fwd_occupancy)
def test_accept_length(ctx: SuiteContext) -> None:
    """The kit's tail of test_fwd_occupancy, after the 2048-token decode (this test runs
    right after it): enforced only when /server_info reports avg_spec_accept_length."""
    try:
        with ctx.session() as session:
            info = session.get(ctx.generating_server.url + "/server_info",
                               timeout=SCRAPE_TIMEOUT_S).json()  # fmt: skip
        value = info["internal_states"][0].get("avg_spec_accept_length")
    except (requests.RequestException, KeyError, IndexError):
        value = None
    if value is None:
        pytest.skip("/server_info reports no avg_spec_accept_length (no speculative decoding)")
    ctx.result.accept_length = float(value)
    # SGLang: assertGreater(avg_accept, spec_accept_length_threshold), strict.
    ctx.check("accept-length", float(value))


# basic_api_contract_kit
def test_get_model_info(ctx: SuiteContext) -> None:
    with ctx.session() as session:
        response = session.get(ctx.url + "/get_model_info", timeout=10)
    assert response.status_code == 200
    info = response.json()
    assert info.get("model_path"), info  # present and non-empty


# basic_api_contract_kit
def test_get_server_info(ctx: SuiteContext) -> None:
    with ctx.session() as session:
        response = session.get(ctx.url + "/get_server_info", timeout=10)
    assert response.status_code == 200
    info = response.json()
    assert isinstance(info, dict) and len(info) > 0


# basic_api_contract_kit
def test_health(ctx: SuiteContext) -> None:
    with ctx.session() as session:
        assert session.get(ctx.url + "/health", timeout=10).status_code == 200


# basic_api_contract_kit
def test_health_generate(ctx: SuiteContext) -> None:
    with ctx.session() as session:
        assert session.get(ctx.url + "/health_generate", timeout=60).status_code == 200


# basic_scheduler_stress_kit
def test_long_prompt(ctx: SuiteContext) -> None:
    prompt = (f"Read the following text and then answer.\n{LONG_FILLER}\n\n"
              "Q: What is the capital of France?\nA:")  # fmt: skip
    assert len(_generate(ctx, prompt, SHORT_TOKENS)) > 0


# basic_decode_correctness_kit
def test_max_token_one(ctx: SuiteContext) -> None:
    out = _generate(ctx, "Q: What is the capital of France? Just one word.\nA:", 1)
    assert len(out) > 0


# basic_decode_correctness_kit
def test_no_repetition_blowup(ctx: SuiteContext) -> None:
    out = _generate(ctx, "Briefly explain what gravity is.", LONG_TOKENS)
    ratio = top_5gram_ratio(out)
    assert ratio is None or ratio < 0.25, (
        f"output appears to repeat heavily (top 5-gram ratio={ratio:.2f}): {out!r}"
    )


# basic_api_contract_kit
def test_openai_chat_completion(ctx: SuiteContext) -> None:
    body = _openai(ctx, "/v1/chat/completions", {
        "model": _served_model_name(ctx),
        "messages": [{"role": "user", "content": "Say hi in one word."}],
        "temperature": 0.0, "max_tokens": 16,
    })  # fmt: skip
    content = body["choices"][0]["message"]["content"]
    assert isinstance(content, str) and len(content) > 0


# basic_api_contract_kit
def test_openai_completion(ctx: SuiteContext) -> None:
    body = _openai(ctx, "/v1/completions", {
        "model": _served_model_name(ctx), "prompt": "The capital of France is",
        "temperature": 0.0, "max_tokens": 16,
    })  # fmt: skip
    text = body["choices"][0]["text"]
    assert isinstance(text, str) and len(text) > 0


# basic_scheduler_stress_kit
def test_streaming_response(ctx: SuiteContext) -> None:
    body = {
        "text": "Q: What is the capital of France?\nA:",
        "sampling_params": {"temperature": 0.0, "max_new_tokens": SHORT_TOKENS},
        "stream": True,
    }
    chunks, last_text = 0, ""
    with ctx.session() as session, session.post(
        ctx.url + "/generate", json=body, stream=True, timeout=DECODE_TIMEOUT_S
    ) as response:  # fmt: skip
        assert response.status_code == 200
        for raw in response.iter_lines(decode_unicode=True):
            if not raw or not raw.startswith("data:"):
                continue
            payload = raw[len("data:") :].strip()
            if payload == "[DONE]":
                break
            last_text = json.loads(payload).get("text", last_text)
            chunks += 1
    assert chunks > 0
    assert "paris" in last_text.lower(), last_text
