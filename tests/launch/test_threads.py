"""Every thread the runner starts is stopped and joined by its owner: the fwd_occupancy
probe's /metrics scraper and a ProcessTree's walker. A thread left running would keep
polling a server that is gone, or leak one walker per launch in a long run."""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

import pytest
import requests

from sglang_ci.evals.probes import measure_fwd_occupancy
from sglang_ci.launch.process_tree import ProcessTree
from sglang_ci.outcome.errors import JobFailedError

EXPOSITION = '# TYPE sglang:fwd_occupancy gauge\nsglang:fwd_occupancy{tp_rank="0"} 98.5\n'


def threads_started_since(before: set[threading.Thread]) -> list[str]:
    return [t.name for t in threading.enumerate() if t not in before and t.is_alive()]


def response(status: int, text: str = "") -> requests.Response:
    answer = requests.Response()
    answer.status_code, answer._content, answer.encoding = status, text.encode(), "utf-8"
    return answer


class FakeServer(requests.Session):
    """The one seam: the HTTP session the probe talks to (no server, no sockets)."""

    def __init__(self, request_s: float, metrics: list[int] | None = None) -> None:
        super().__init__()
        self.request_s = request_s
        self.metrics = metrics or []  # status of scrape N (200 once the list runs out)
        self.scrapes = 0
        self.long_request_error: Exception | None = None

    def get(self, url: str | bytes, **kwargs: Any) -> requests.Response:
        if not str(url).endswith("/metrics"):  # the context-length look-up: not a scrape
            return response(404, "{}")
        status = self.metrics[self.scrapes] if self.scrapes < len(self.metrics) else 200
        self.scrapes += 1
        return response(status, EXPOSITION)

    def post(  # type: ignore[override]
        self, url: str | bytes, json: Any = None, **kwargs: Any
    ) -> requests.Response:
        if json["sampling_params"]["max_new_tokens"] > 64:  # the measured request
            time.sleep(self.request_s)
            if self.long_request_error is not None:
                raise self.long_request_error
        return response(200, "{}")


def measure(server: FakeServer, interval: float = 0.02) -> Any:
    return measure_fwd_occupancy(server, "http://x", interval=interval, min_samples=1, settle=0)


def test_probe_joins_its_scraper() -> None:
    before = set(threading.enumerate())
    result = measure(FakeServer(request_s=0.3))
    assert result.median == 98.5 and result.scrapes >= 2
    assert threads_started_since(before) == []


def test_probe_wakes_its_scraper_when_the_request_ends() -> None:
    """A long scrape interval must not hold the probe: stopping sets the scraper's event."""
    before = set(threading.enumerate())
    started = time.monotonic()
    result = measure(FakeServer(request_s=0.1), interval=60)
    assert time.monotonic() - started < 5
    assert result.scrapes == 1
    assert threads_started_since(before) == []


def test_probe_joins_its_scraper_when_the_request_fails() -> None:
    """As in SGLang's kit a failed request is no failure by itself (the samples are the
    signal); too few samples name it."""
    before = set(threading.enumerate())
    server = FakeServer(request_s=0.1)
    server.long_request_error = requests.ConnectionError("connection reset")
    assert measure(server).samples
    server.scrapes = 0
    with pytest.raises(JobFailedError, match="2048-token request ConnectionError: connection"):
        measure_fwd_occupancy(server, "http://x", interval=0.02, min_samples=1000, settle=0)
    assert threads_started_since(before) == []


def test_a_failed_scrape_is_no_sample_and_the_scraper_goes_on() -> None:
    before = set(threading.enumerate())
    # Scrape 1 is the presence check before the request; scrapes 2-4 (in the thread) fail.
    result = measure(FakeServer(request_s=0.3, metrics=[200, 404, 500, 503]))
    assert result.scrapes > 3 and len(result.samples) == result.scrapes - 3
    assert threads_started_since(before) == []


def test_probe_joins_its_scraper_when_it_breaks() -> None:
    before = set(threading.enumerate())
    server = FakeServer(request_s=0.3)
    calls = iter([response(200, EXPOSITION)])
    server.get = lambda url, **kwargs: next(calls)  # type: ignore[method-assign]
    with pytest.raises(StopIteration):  # the scraper's own bug reaches the caller
        measure(server)
    assert threads_started_since(before) == []


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "30"], start_new_session=True)


@pytest.fixture
def walking(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Slow the walker's own walks down and say when one is under way, so that a tree
    closed then finds its walker busy: only a join makes it gone when close returns."""
    inside = threading.Event()
    walk = ProcessTree.walk

    def slow_walk(tree: ProcessTree) -> None:
        if threading.current_thread().name.startswith("process-tree-"):
            inside.set()
            time.sleep(0.5)
        walk(tree)

    monkeypatch.setattr(ProcessTree, "walk", slow_walk)
    return inside


@pytest.mark.real_process
def test_teardown_joins_the_walker(walking: threading.Event) -> None:
    before = set(threading.enumerate())
    tree = ProcessTree(sleeper())
    assert threads_started_since(before) == [f"process-tree-{tree.pid}"]
    assert walking.wait(5)
    assert tree.teardown(grace=2).survivors == ()
    assert not tree.walking and threads_started_since(before) == []


@pytest.mark.real_process
def test_close_joins_the_walker_of_a_tree_never_torn_down(walking: threading.Event) -> None:
    before = set(threading.enumerate())
    popen = sleeper()
    tree = ProcessTree(popen)
    try:
        assert walking.wait(5)
        tree.close()
        assert not tree.walking and threads_started_since(before) == []
        tree.close()  # idempotent
    finally:
        popen.kill()
        popen.wait(timeout=5)


@pytest.mark.real_process
def test_walker_ends_when_the_server_exits() -> None:
    before = set(threading.enumerate())
    popen = subprocess.Popen(["true"], start_new_session=True)
    tree = ProcessTree(popen)
    deadline = time.monotonic() + 5
    while tree.walking and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threads_started_since(before) == []
    tree.close()
