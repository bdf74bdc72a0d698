"""The fwd_occupancy probe, as SGLang's fwd_occupancy kit runs it, with the review's fixes.

Single-batch decode is where CPU overhead dominates, so overlap-scheduler and CUDA-graph
regressions show here first. A 64-token warm-up fills the CUDA graphs and moves the
device timer past its first NaN window; then a 2048-token request runs in the
background while ``/metrics`` is scraped every 0.5 s. NaN samples (window boundaries)
are dropped; the ranks of one scrape are aggregated by ``min`` by default (a single
degraded DP rank must not hide behind a healthy one, as ``max`` would let it); the
median over scrapes is the result.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from sglang_ci.config.errors import FatalError, JobFailedError

METRIC = "sglang:fwd_occupancy"
PROMPT = "Human: Give me a fully functional FastAPI server. Show the python code.\n\nAssistant:"
AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "min": min,
    "max": max,
    "mean": statistics.fmean,
}


@dataclass(frozen=True)
class OccupancyResult:
    median: float
    samples: list[float]  # one aggregated value per scrape that had a number
    scrapes: int
    aggregate: str


def occupancy_values(exposition: str) -> list[float] | None:
    """The metric's values across ranks in Prometheus text (NaN dropped); None when the
    metric is absent."""
    for family in text_string_to_metric_families(exposition):
        if family.name == METRIC:
            return [s.value for s in family.samples if not math.isnan(s.value)]
    return None


def scrape(session: requests.Session, url: str) -> list[float] | None:
    response = session.get(url + "/metrics", timeout=10)
    if response.status_code == 404:
        raise JobFailedError(
            "fwd_occupancy: /metrics answered 404; the server must be launched with"
            " --enable-metrics"
        )
    response.raise_for_status()
    return occupancy_values(response.text)


def measure_fwd_occupancy(
    session: requests.Session,
    url: str,
    *,
    aggregate: str = "min",
    interval: float = 0.5,
    warmup_tokens: int = 64,
    measure_tokens: int = 2048,
    min_samples: int = 5,
    request_timeout: float = 600.0,
) -> OccupancyResult:
    if scrape(session, url) is None:
        raise JobFailedError(
            f"fwd_occupancy: {METRIC} is missing from /metrics; the server must run with"
            " SGLANG_ENABLE_METRICS_DEVICE_TIMER=1 (and --enable-metrics)"
        )
    generate: dict[str, Any] = {"text": PROMPT, "sampling_params": {
        "max_new_tokens": warmup_tokens, "temperature": 0.0, "ignore_eos": True}}  # fmt: skip
    session.post(url + "/generate", json=generate, timeout=request_timeout).raise_for_status()
    time.sleep(1.0)  # let the warm-up's window close

    generate["sampling_params"]["max_new_tokens"] = measure_tokens
    errors: list[BaseException] = []

    def long_request() -> None:
        try:
            session.post(
                url + "/generate", json=generate, timeout=request_timeout
            ).raise_for_status()
        except requests.RequestException as error:
            errors.append(error)

    worker = threading.Thread(target=long_request, daemon=True)
    worker.start()
    samples: list[float] = []
    scrapes = 0
    combine = AGGREGATES[aggregate]
    stop = threading.Event()
    while worker.is_alive():
        values = scrape(session, url) or []
        scrapes += 1
        if values:
            samples.append(combine(values))
        stop.wait(interval)  # wakes promptly; no sleep past the request's end
        worker.join(timeout=0)
    if errors:
        raise FatalError(f"fwd_occupancy: the {measure_tokens}-token request failed: {errors[0]}")
    if len(samples) < min_samples:
        raise JobFailedError(
            f"fwd_occupancy: only {len(samples)} usable samples in {scrapes} scrapes"
            f" (need {min_samples}); the request ended too soon to measure"
        )
    return OccupancyResult(statistics.median(samples), samples, scrapes, aggregate)
