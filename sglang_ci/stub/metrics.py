"""The stub's /metrics: Prometheus exposition with SGLang's ``sglang:*`` names and labels.

``sglang:fwd_occupancy`` (percent of wall time the GPU spent in forward passes, per
rank) exists only with --enable-metrics and SGLANG_ENABLE_METRICS_DEVICE_TIMER=1, as in
SGLang; it reads NaN while idle and at the boundary of each measurement window.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from sglang_ci.stub.model import unit_hash

DEVICE_TIMER_ENV = "SGLANG_ENABLE_METRICS_DEVICE_TIMER"
# One scrape in this many falls on a window boundary and reads NaN.
WINDOW_SCRAPES = 6

disable_created_metrics()  # SGLang's exposition has no *_created samples


class _FwdOccupancy(Collector):
    def __init__(self, model_name: str, ranks: int, seed: str, running: threading.Event) -> None:
        self.model_name = model_name
        self.ranks = ranks
        self.seed = seed
        self.running = running
        self.scrapes = 0
        self.lock = threading.Lock()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.lock:
            self.scrapes += 1
            scrape = self.scrapes
        family = GaugeMetricFamily(
            "sglang:fwd_occupancy",
            "Percent of wall time spent in forward passes over the last window",
            labels=["model_name", "tp_rank"],
        )
        for rank in range(self.ranks):
            if not self.running.is_set() or scrape % WINDOW_SCRAPES == 0:
                value = math.nan
            else:
                value = 98.0 + 1.5 * unit_hash(self.seed, "occ", rank, scrape)
            family.add_metric([self.model_name, str(rank)], value)
        yield family


class StubMetrics:
    def __init__(self, model_name: str, tp_size: int, seed: str, enabled: bool) -> None:
        self.enabled = enabled
        self.registry = CollectorRegistry()
        self.decoding = threading.Event()
        labels = ["model_name"]
        self.model_name = model_name
        self.prompt_tokens = Counter(
            "sglang:prompt_tokens",
            "Number of prefill tokens processed.",
            labels,
            registry=self.registry,
        )
        self.generation_tokens = Counter(
            "sglang:generation_tokens",
            "Number of generation tokens processed.",
            labels,
            registry=self.registry,
        )
        self.running = Gauge(
            "sglang:num_running_reqs",
            "The number of running requests.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "sglang:e2e_request_latency_seconds",
            "Histogram of End-to-end request latency in seconds",
            labels,
            buckets=(0.1, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
            registry=self.registry,
        )
        if enabled and os.environ.get(DEVICE_TIMER_ENV) == "1":
            self.registry.register(_FwdOccupancy(model_name, tp_size, seed, self.decoding))

    def record(self, prompt_tokens: int, output_tokens: int, seconds: float) -> None:
        self.prompt_tokens.labels(self.model_name).inc(prompt_tokens)
        self.generation_tokens.labels(self.model_name).inc(output_tokens)
        self.latency.labels(self.model_name).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
