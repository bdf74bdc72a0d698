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


SCRAPE_TIMEOUT_S = 10.0
# How long stopping the scraper may take: its one scrape in flight, then it sees the stop.
SCRAPER_JOIN_S = SCRAPE_TIMEOUT_S + 2.0


def scrape(session: requests.Session, url: str) -> list[float] | None:
    response = session.get(url + "/metrics", timeout=SCRAPE_TIMEOUT_S)
    if response.status_code == 404:
        raise JobFailedError(
            "fwd_occupancy: /metrics answered 404; the server must be launched with"
            " --enable-metrics"
        )
    response.raise_for_status()
    return occupancy_values(response.text)


class _Scraper:
    """Scrapes /metrics every ``interval`` seconds on a thread of its own until stopped.

    The long request runs on the caller's thread and the scraper on this one (not the
    other way round) because a scrape is short and bounded by its timeout, so stopping
    and joining it always finishes; a blocked /generate could not be interrupted.
    """

    def __init__(
        self,
        session: requests.Session,
        url: str,
        combine: Callable[[list[float]], float],
        interval: float,
    ) -> None:
        self.session, self.url, self.combine, self.interval = session, url, combine, interval
        self.samples: list[float] = []  # read by the caller only after the thread is joined
        self.scrapes = 0
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fwd-occupancy-scraper",
                                        daemon=True)  # fmt: skip

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Wake the scraper from its wait, and wait for it to end (bounded)."""
        self._stop.set()
        self._thread.join(timeout=SCRAPER_JOIN_S)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                values = scrape(self.session, self.url) or []
                self.scrapes += 1
                if values:
                    self.samples.append(self.combine(values))
                self._stop.wait(self.interval)  # set by stop(): no sleep past the request
        except Exception as error:  # any: the caller raises it, not threading.excepthook
            self.error = error


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
    settle: float = 1.0,
) -> OccupancyResult:
    if scrape(session, url) is None:
        raise JobFailedError(
            f"fwd_occupancy: {METRIC} is missing from /metrics; the server must run with"
            " SGLANG_ENABLE_METRICS_DEVICE_TIMER=1 (and --enable-metrics)"
        )
    generate: dict[str, Any] = {"text": PROMPT, "sampling_params": {
        "max_new_tokens": warmup_tokens, "temperature": 0.0, "ignore_eos": True}}  # fmt: skip
    session.post(url + "/generate", json=generate, timeout=request_timeout).raise_for_status()
    time.sleep(settle)  # let the warm-up's window close

    generate["sampling_params"]["max_new_tokens"] = measure_tokens
    scraper = _Scraper(session, url, AGGREGATES[aggregate], interval)
    scraper.start()
    try:
        session.post(url + "/generate", json=generate, timeout=request_timeout).raise_for_status()
    except requests.RequestException as error:
        raise FatalError(
            f"fwd_occupancy: the {measure_tokens}-token request failed: {error}"
        ) from None
    finally:
        scraper.stop()
    if scraper.running:
        raise FatalError(f"fwd_occupancy: the /metrics scraper did not stop in {SCRAPER_JOIN_S} s")
    if scraper.error is not None:
        raise scraper.error
    samples = scraper.samples
    if len(samples) < min_samples:
        raise JobFailedError(
            f"fwd_occupancy: only {len(samples)} usable samples in {scraper.scrapes} scrapes"
            f" (need {min_samples}); the request ended too soon to measure"
        )
    return OccupancyResult(statistics.median(samples), samples, scraper.scrapes, aggregate)
