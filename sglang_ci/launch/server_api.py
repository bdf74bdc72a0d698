"""The endpoints the launcher calls on a running server: readiness, cache flush, info."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests

from sglang_ci.outcome.errors import FatalError
from sglang_ci.outcome.kinds import FailureKind

FLUSH_ATTEMPTS = 40
FLUSH_RETRY_S = 0.25


@dataclass(frozen=True)
class Readiness:
    ready: bool
    exit_code: int | None  # set when the process died first
    elapsed: float
    polls: int


def probe_ready(session: requests.Session, url: str) -> bool:
    """One readiness poll: 200 means ready; 503 (starting) or no listener yet mean not."""
    try:
        return session.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def flush_cache(session: requests.Session, url: str) -> int:
    """POST /flush_cache, retried while it answers 400 (requests still draining).

    Returns the number of attempts it took.
    """
    for attempt in range(1, FLUSH_ATTEMPTS + 1):
        try:
            response = session.post(url + "/flush_cache", timeout=30)
        except requests.RequestException as error:
            raise FatalError(f"{url}/flush_cache failed ({type(error).__name__})",
                             kind=FailureKind.TRANSIENT_HTTP) from None  # fmt: skip
        if response.status_code == 200:
            return attempt
        if response.status_code != 400:
            kind = FailureKind.TRANSIENT_HTTP if response.status_code >= 500 else None
            raise FatalError(
                f"{url}/flush_cache answered {response.status_code}: {response.text[:200]}",
                kind=kind,
            )
        time.sleep(FLUSH_RETRY_S)
    raise FatalError(
        f"{url}/flush_cache still answered 400 (requests running) after {FLUSH_ATTEMPTS}"
        f" attempts over {FLUSH_ATTEMPTS * FLUSH_RETRY_S:g} s"
    )


def server_info(session: requests.Session, url: str) -> dict[str, Any]:
    """GET /server_info, falling back to the old name /get_server_info on 404."""
    for path in ("/server_info", "/get_server_info"):
        response = session.get(url + path, timeout=30)
        if response.status_code == 404:
            continue
        if response.status_code != 200:
            raise FatalError(f"{url}{path} answered {response.status_code}: {response.text[:200]}")
        info = response.json()
        if not isinstance(info, dict):
            raise FatalError(f"{url}{path} did not answer a JSON object")
        return info
    raise FatalError(f"{url} has neither /server_info nor /get_server_info (both 404)")


def avg_spec_accept_length(info: dict[str, Any]) -> float | None:
    states = info.get("internal_states") or [{}]
    value = states[0].get("avg_spec_accept_length") if isinstance(states[0], dict) else None
    return float(value) if value is not None else None


SMOKE_PROMPT = "The capital of France is"


def smoke_generate(session: requests.Session, url: str, timeout: float) -> dict[str, Any]:
    """One short greedy /generate: a server can answer /health and still fail to generate
    (the harness's equivalent of SGLang's own warm-up request)."""
    payload = {"text": SMOKE_PROMPT, "sampling_params": {"max_new_tokens": 8, "temperature": 0}}
    try:
        response = session.post(url + "/generate", json=payload, timeout=timeout)
    except requests.Timeout:
        raise FatalError(
            f"{url}/generate gave no answer within {timeout:g} s", kind=FailureKind.REQUEST_TIMEOUT
        ) from None
    except requests.ConnectionError as error:
        raise FatalError(
            f"{url}/generate failed: connection lost ({type(error).__name__})",
            kind=FailureKind.TRANSIENT_HTTP,
        ) from None
    if response.status_code != 200:
        kind = FailureKind.TRANSIENT_HTTP if response.status_code >= 500 else None
        raise FatalError(
            f"{url}/generate answered {response.status_code}: {response.text[:200]}", kind=kind
        )
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or "text" not in answer:
        raise FatalError(
            f"{url}/generate answered without a 'text' field", kind=FailureKind.CHECK_FAILED
        )
    return answer
