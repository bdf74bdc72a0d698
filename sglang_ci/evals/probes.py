"""The fwd_occupancy probe, as SGLang's fwd_occupancy kit runs it (python/sglang/test/kits/
fwd_occupancy_kit.py at 1bd4f94598), with one labelled difference: how ranks combine.

Single-batch decode is where CPU overhead dominates, so overlap-scheduler and CUDA-graph
regressions show here first. As in the kit: /metrics must answer 200 and expose the
gauge; a 64-token warm-up ("warmup " + the kit's story prompt, temperature 0, no
ignore_eos) fills the CUDA graphs and moves the device timer past its first NaN window,
then 1 s to settle; one 2048-token request on the story prompt runs while /metrics is
scraped every 0.5 s until it ends. A scrape that fails, or reads only NaN (window
boundaries), gives no sample; a failed request is no failure by itself (the kit ignores
it: too few samples or a low median is the signal). At least 5 samples, and their median
is the result.

The ranks of one scrape (DP ranks, one label set each) are combined by the suite's
``occupancy-ranks``: ``min`` by default, so a single degraded rank cannot hide behind a
healthy one (a review suggestion SGLang did not take), or ``max`` as the kit does.
"""

from __future__ import annotations

import math
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from sglang_ci.config.text import render_table
from sglang_ci.outcome.errors import FatalError, JobFailedError

METRIC = "sglang:fwd_occupancy"
# The kit's numbers (fwd_occupancy_kit.py at 1bd4f94598, FwdOccupancyMixin defaults).
PROMPT = "Write a long, detailed, multi-paragraph story about "
WARMUP_PROMPT = "warmup " + PROMPT
CONTEXT_MARGIN_TOKENS = 8  # the kit's prompt differs from the warm-up's by a token or two
WARMUP_TOKENS = 64
SETTLE_S = 1.0
MEASURE_TOKENS = 2048
INTERVAL_S = 0.5
MIN_SAMPLES = 5
GENERATE_TIMEOUT_S = 600.0
SCRAPE_TIMEOUT_S = 10.0
# How long stopping the scraper may take: its one scrape in flight, then it sees the stop.
SCRAPER_JOIN_S = SCRAPE_TIMEOUT_S + 2.0

AGGREGATES: dict[str, Callable[[list[float]], float]] = {"min": min, "max": max}


@dataclass(frozen=True)
class OccupancyResult:
    samples: list[float]  # one combined value per scrape that had a number
    scrapes: int
    aggregate: str

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def table(self, threshold: float | None) -> str:
        """The kit's triage table: n, median, peak, p10 (its index rule), threshold."""
        ordered = sorted(self.samples)
        p10 = ordered[max(0, len(ordered) // 10 - 1)]
        rows = [["samples (n)", str(len(ordered))], ["median", f"{self.median:.2f}"],
                ["peak", f"{ordered[-1]:.2f}"], ["p10", f"{p10:.2f}"],
                ["ranks", self.aggregate],
                ["threshold", "-" if threshold is None else f"{threshold:.2f}"]]  # fmt: skip
        return render_table(["fwd_occupancy", "value"], rows)


def occupancy_values(exposition: str) -> list[float] | None:
    """The metric's values across ranks in Prometheus text (NaN dropped); None when the
    metric is absent."""
    for family in text_string_to_metric_families(exposition):
        if family.name == METRIC:
            return [s.value for s in family.samples if not math.isnan(s.value)]
    return None


def require_device_timer(session: requests.Session, url: str) -> None:
    """The kit's first step: without the flag or the env the gauge is absent (or NaN
    only), which would read as an occupancy regression."""
    response = session.get(url + "/metrics", timeout=SCRAPE_TIMEOUT_S)
    if response.status_code != 200:
        raise JobFailedError(
            f"fwd_occupancy: /metrics answered {response.status_code}; the server must be"
            " launched with --enable-metrics"
        )
    if METRIC not in response.text:
        raise JobFailedError(
            f"fwd_occupancy: {METRIC} is missing from /metrics; the server must run with"
            " SGLANG_ENABLE_METRICS_DEVICE_TIMER=1 (and --enable-metrics)"
        )


def scrape(session: requests.Session, url: str) -> list[float] | None:
    """One scrape's values; None when the scrape failed (transient, as in the kit)."""
    try:
        response = session.get(url + "/metrics", timeout=SCRAPE_TIMEOUT_S)
        if response.status_code != 200:
            return None
        return occupancy_values(response.text)
    except (requests.RequestException, ValueError):
        return None


def fire(session: requests.Session, url: str, prompt: str, tokens: int) -> str | None:
    """One greedy /generate; what went wrong, if anything (the kit goes on regardless)."""
    body = {"text": prompt, "sampling_params": {"temperature": 0.0, "max_new_tokens": tokens}}
    try:
        response = session.post(url + "/generate", json=body, timeout=GENERATE_TIMEOUT_S)
    except requests.RequestException as error:
        return f"{type(error).__name__}: {error}"
    return None if response.ok else f"answered {response.status_code}"


def warm_up(session: requests.Session, url: str) -> int | None:
    """The kit's warm-up request; the prompt's token count as the server counted it."""
    body = {"text": WARMUP_PROMPT,
            "sampling_params": {"temperature": 0.0, "max_new_tokens": WARMUP_TOKENS}}  # fmt: skip
    try:
        response = session.post(url + "/generate", json=body, timeout=GENERATE_TIMEOUT_S)
        return int(response.json()["meta_info"]["prompt_tokens"]) if response.ok else None
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None


def context_length(session: requests.Session, url: str) -> int | None:
    """The served model's context length: /v1/models' max_model_len (the model config's
    context_len), else the --context-length in /server_info; None when neither says."""
    for path, keys in (("/v1/models", ("data", 0, "max_model_len")),
                       ("/server_info", ("context_length",))):  # fmt: skip
        try:
            value: Any = session.get(url + path, timeout=SCRAPE_TIMEOUT_S).json()
            for key in keys:
                value = value[key]
        except (requests.RequestException, ValueError, KeyError, IndexError, TypeError):
            continue
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def fitting_tokens(wanted: int, limit: int | None, prompt_tokens: int | None) -> int:
    """``wanted`` new tokens, or as many as fit in the context beside the prompt (a model
    with a 2048-token context answers a 2048-token request with HTTP 400)."""
    if limit is None:
        return wanted
    return max(1, min(wanted, limit - (prompt_tokens or 0) - CONTEXT_MARGIN_TOKENS))


class _Scraper:
    """Scrapes /metrics every ``interval`` seconds on a thread of its own until stopped.

    The long request runs on the caller's thread and the scraper on this one (the kit
    does the reverse) because a scrape is short and bounded by its timeout, so stopping
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
    interval: float = INTERVAL_S,
    measure_tokens: int = MEASURE_TOKENS,
    min_samples: int = MIN_SAMPLES,
    settle: float = SETTLE_S,
) -> OccupancyResult:
    require_device_timer(session, url)
    prompt_tokens = warm_up(session, url)
    time.sleep(settle)  # let the warm-up's window close
    limit = context_length(session, url)
    fitted = fitting_tokens(measure_tokens, limit, prompt_tokens)
    if fitted < measure_tokens:
        # To the runner's own stdout: pytest captures what a passing test prints.
        print(f"fwd_occupancy: the server's context is {limit} tokens and the prompt"
              f" {prompt_tokens}: decoding {fitted} tokens instead of {measure_tokens}",
              file=sys.__stdout__, flush=True)  # fmt: skip
        measure_tokens = fitted

    scraper = _Scraper(session, url, AGGREGATES[aggregate], interval)
    scraper.start()
    try:
        problem = fire(session, url, PROMPT, measure_tokens)
    finally:
        scraper.stop()
    if scraper.running:
        raise FatalError(f"fwd_occupancy: the /metrics scraper did not stop in {SCRAPER_JOIN_S} s")
    if scraper.error is not None:
        raise scraper.error
    if len(scraper.samples) < min_samples:
        request = f"; the {measure_tokens}-token request {problem}" if problem else ""
        raise JobFailedError(
            f"fwd_occupancy: only {len(scraper.samples)} non-NaN occupancy samples in"
            f" {scraper.scrapes} scrapes (need >= {min_samples}); the measurement window may"
            f" be too short or the gauge stuck at NaN{request}"
        )
    return OccupancyResult(scraper.samples, scraper.scrapes, aggregate)
