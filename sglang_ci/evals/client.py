"""The two requests evals send, with the bounded retries SGLang's samplers use for
transient failures (connection errors, 5xx); a request that keeps failing is recorded
on its sample and scored wrong, as SGLang scores it, instead of ending the eval."""

from __future__ import annotations

import threading
from typing import Any

import requests

from sglang_ci.config.errors import FailureKind, FatalError

ATTEMPTS = 3
BACKOFF_S = 0.5


class RequestFailed(Exception):
    """A request that kept failing; ``kind`` says how (transient, timeout, or an answer
    that will not change on retry)."""

    def __init__(self, problem: str, kind: FailureKind) -> None:
        super().__init__(problem)
        self.kind = kind


def post_json(
    session: requests.Session, url: str, body: dict[str, Any], timeout: float,
    stop: threading.Event,
) -> Any:  # fmt: skip
    """POST with bounded retries; ``stop`` (the run's cancel token) ends them at once."""
    problem, kind = "", FailureKind.TRANSIENT_HTTP
    for attempt in range(ATTEMPTS):
        if stop.is_set():
            raise RequestFailed("cancelled", FailureKind.CANCELLED)
        try:
            response = session.post(url, json=body, timeout=timeout)
        except requests.Timeout:
            problem, kind = f"no answer within {timeout:g} s", FailureKind.REQUEST_TIMEOUT
        except requests.ConnectionError as error:
            problem = f"connection failed ({type(error).__name__})"
            kind = FailureKind.TRANSIENT_HTTP
        else:
            if response.status_code == 200:
                return response.json()
            problem = f"HTTP {response.status_code}: {response.text[:120]}"
            kind = FailureKind.TRANSIENT_HTTP
            if response.status_code < 500:
                kind = FailureKind.CHECK_FAILED
                break  # a 4xx will not change on retry
        if attempt + 1 < ATTEMPTS:
            stop.wait(BACKOFF_S * 2**attempt)  # returns at once on cancellation
    raise RequestFailed(problem, kind)


def served_model(session: requests.Session, base_url: str) -> str:
    """The first model id of /v1/models, as SGLang's CompletionSampler picks it."""
    try:
        response = session.get(base_url + "/v1/models", timeout=30)
        response.raise_for_status()
        return str(response.json()["data"][0]["id"])
    except requests.RequestException as error:
        problem = type(error).__name__
        raise FatalError(f"{base_url}/v1/models: {problem}; is the server up?") from None
    except (ValueError, KeyError, IndexError, TypeError):
        raise FatalError(f"{base_url}/v1/models did not list a model") from None


def complete(
    session: requests.Session,
    base_url: str,
    *,
    model: str,
    prompt: str,
    max_tokens: int,
    stop: list[str],
    timeout: float,
    cancel: threading.Event,
) -> str:
    body = {
        "model": model, "prompt": prompt, "temperature": 0.0, "top_p": 1.0,
        "max_tokens": max_tokens, "stop": stop,
    }  # fmt: skip
    answer = post_json(session, base_url + "/v1/completions", body, timeout, cancel)
    return str(answer["choices"][0].get("text") or "")
