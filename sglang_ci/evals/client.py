"""The requests evals send, retried exactly as SGLang's own clients retry them.

GSM8K goes through SGLang's ``CompletionSampler`` (python/sglang/test/simple_eval_common.py
at 9040feebd8, unchanged at 6ed5780c4f): an ``openai==2.6.1`` client (the pin of
python/pyproject.toml) over ``httpx.Timeout(3600)``. Two loops, one inside the other:

- the openai client: 3 attempts (``max_retries=2``) of one HTTP request, again on a
  timeout, a connection error, 408, 409, 429 or any 5xx, after
  ``min(0.5 * 2**n, 8) * (1 - 0.25 * random())`` seconds (openai/_base_client.py
  ``_calculate_retry_timeout``);
- the sampler: a 400 (``openai.BadRequestError``: a prompt over the context length...)
  is the empty output at once, no retry; any other failure (a 5xx after the client's
  retries, a timeout, 401/403/404/422, a malformed answer) is tried again after
  ``2**trial`` s, 6 tries in all, then the output is empty.

HellaSwag goes through ``sgl.select`` (python/sglang/lang/backend/runtime_endpoint.py at
1bd4f94598): one ``urllib`` request each, no retry, any non-200 raises.

A request that ends without an answer raises RequestFailed (its FailureKind and HTTP
status): the evals record it on the sample (the runner's own typed failure) and score the
output SGLang would have scored, the empty string.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from sglang_ci.evals.defaults import SGLANG_REQUEST_TIMEOUT_S
from sglang_ci.outcome.errors import FatalError
from sglang_ci.outcome.kinds import FailureKind

__all__ = ["SGLANG_REQUEST_TIMEOUT_S"]  # re-exported: gsm8k, hellaswag take it from here


@dataclass(frozen=True)
class RetryPolicy:
    """How often one request is sent, and the waits between the sends."""

    tries: int  # the sampler's loop (SGLang: while trial < 6)
    try_backoff_s: float  # waits try_backoff_s * 2**trial between tries
    attempts: int  # HTTP sends per try (openai: 1 + max_retries)
    attempt_initial_s: float  # openai INITIAL_RETRY_DELAY
    attempt_max_s: float  # openai MAX_RETRY_DELAY
    jitter: float  # openai: each wait times (1 - jitter * random())
    bad_request_is_final: bool  # a 400 ends the request at once (openai.BadRequestError)

    def attempt_wait(self, retries_taken: int, draw: Callable[[], float]) -> float:
        nominal = min(self.attempt_initial_s * 2.0**retries_taken, self.attempt_max_s)
        return nominal * (1 - self.jitter * draw())

    def try_wait(self, trial: int) -> float:
        return self.try_backoff_s * 2.0**trial


# CompletionSampler.__call__ around openai 2.6.1's SyncAPIClient.request.
SGLANG_SAMPLER = RetryPolicy(
    tries=6, try_backoff_s=1.0, attempts=3, attempt_initial_s=0.5, attempt_max_s=8.0,
    jitter=0.25, bad_request_is_final=True,
)  # fmt: skip
# RuntimeEndpoint._generate_http_request: sglang.utils.http_request, one send.
SGLANG_SELECT = RetryPolicy(
    tries=1, try_backoff_s=0.0, attempts=1, attempt_initial_s=0.0, attempt_max_s=0.0,
    jitter=0.0, bad_request_is_final=True,
)  # fmt: skip

# openai _should_retry: these statuses and every 5xx are sent again by the client.
_CLIENT_RETRIED = {408, 409, 429}


class RequestFailed(Exception):
    """A request that ended without an answer; ``kind`` says how, ``status`` is the last
    HTTP status (None when no answer came at all)."""

    def __init__(self, problem: str, kind: FailureKind, status: int | None = None) -> None:
        super().__init__(problem)
        self.kind = kind
        self.status = status


Wait = Callable[[float], object]


def _send(session: requests.Session, url: str, body: dict[str, Any], timeout: float) -> Any:
    """One HTTP request; RequestFailed says whether the openai client would send it again."""
    try:
        response = session.post(url, json=body, timeout=timeout)
    except requests.Timeout:
        problem = f"no answer within {timeout:g} s"
        raise RequestFailed(problem, FailureKind.REQUEST_TIMEOUT) from None
    except requests.ConnectionError as error:
        problem = f"connection failed ({type(error).__name__})"
        raise RequestFailed(problem, FailureKind.TRANSIENT_HTTP) from None
    if response.status_code != 200:
        status = response.status_code
        kind = FailureKind.TRANSIENT_HTTP if status >= 500 else FailureKind.CHECK_FAILED
        raise RequestFailed(f"HTTP {status}: {response.text[:120]}", kind, status)
    try:
        return response.json()
    except ValueError:
        raise RequestFailed("answer is not JSON", FailureKind.CHECK_FAILED, 200) from None


def _client_retries(failure: RequestFailed) -> bool:
    status = failure.status
    return status is None or status in _CLIENT_RETRIED or status >= 500


def post_json(
    session: requests.Session, url: str, body: dict[str, Any], timeout: float,
    stop: threading.Event, policy: RetryPolicy = SGLANG_SELECT, wait: Wait | None = None,
    draw: Callable[[], float] = random.random,
) -> Any:  # fmt: skip
    """One POST as the openai client sends it: ``policy.attempts`` sends at most, again
    only where the client sends again. ``stop`` (the run's cancel token) ends the waits."""
    pause = stop.wait if wait is None else wait  # stop.wait returns at once on cancellation
    for retries_taken in range(policy.attempts):
        if stop.is_set():
            raise RequestFailed("cancelled", FailureKind.CANCELLED)
        try:
            return _send(session, url, body, timeout)
        except RequestFailed as failure:
            if retries_taken + 1 >= policy.attempts or not _client_retries(failure):
                raise
        pause(policy.attempt_wait(retries_taken, draw))
    raise AssertionError("unreachable: policy.attempts >= 1")


def served_model(session: requests.Session, base_url: str) -> str:
    """The first model id of /v1/models, as SGLang's CompletionSampler picks it when the
    test passes no model (the seed tests pass the model path the server was launched
    with, which is what /v1/models lists unless --served-model-name renames it)."""
    try:
        response = session.get(base_url + "/v1/models", timeout=30)
        response.raise_for_status()
        return str(response.json()["data"][0]["id"])
    except requests.RequestException as error:
        problem = type(error).__name__
        raise FatalError(f"{base_url}/v1/models: {problem}; is the server up?") from None
    except (ValueError, KeyError, IndexError, TypeError):
        raise FatalError(f"{base_url}/v1/models did not list a model") from None


def completion_body(model: str, prompt: str, max_tokens: int, stop: list[str]) -> dict[str, Any]:
    """What ``client.completions.create`` of CompletionSampler puts on the wire: run_eval's
    defaults temperature 0.0 and top_p 1.0, no stream key (openai omits unset ones)."""
    return {
        "model": model, "prompt": prompt, "max_tokens": max_tokens, "stop": stop,
        "temperature": 0.0, "top_p": 1.0,
    }  # fmt: skip


def complete(
    session: requests.Session,
    base_url: str,
    body: dict[str, Any],
    *,
    timeout: float,
    cancel: threading.Event,
    policy: RetryPolicy = SGLANG_SAMPLER,
    wait: Wait | None = None,
    draw: Callable[[], float] = random.random,
) -> str:
    """The completion's text, with CompletionSampler's tries around the client's sends."""
    pause = cancel.wait if wait is None else wait
    url = base_url + "/v1/completions"
    last = RequestFailed("no try allowed", FailureKind.INTERNAL)
    for trial in range(policy.tries):
        try:
            answer = post_json(session, url, body, timeout, cancel, policy, pause, draw)
            # `response.choices[0].text or ""`; a malformed answer raises, as in the sampler.
            return str(answer["choices"][0].get("text") or "")
        except RequestFailed as failure:
            if failure.kind is FailureKind.CANCELLED:
                raise
            if failure.status == 400 and policy.bad_request_is_final:
                raise  # SGLang: print("Bad Request Error") and return "" at once
            last = failure
        except (KeyError, IndexError, TypeError, AttributeError):
            last = RequestFailed("answer has no choices[0].text", FailureKind.CHECK_FAILED, 200)
        # SGLang also sleeps 2**5 = 32 s after the sixth failure before returning "";
        # no request follows that wait, so it is left out (no score or verdict changes).
        if trial + 1 < policy.tries:
            pause(policy.try_wait(trial))
        if cancel.is_set():
            raise RequestFailed("cancelled", FailureKind.CANCELLED)
    raise last
