"""Run one function over many samples on a thread pool, with a progress bar, keeping
the results in sample order."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from tqdm import tqdm

POLL_S = 0.1

T = TypeVar("T")


class EvalStopped(Exception):
    """The run's token was set while samples were pending (the caller knows why)."""


R = TypeVar("R")


def map_in_threads(
    function: Callable[[T], R],
    items: Sequence[T],
    threads: int,
    label: str,
    stop: threading.Event,
    on_result: Callable[[R], None] | None = None,
) -> list[R]:
    """``on_result`` sees each result as it completes (e.g. to put it on disk at once).
    ``stop`` (the run's cancel token) ends the wait at once with EvalStopped, even while
    requests hang on a server whose helpers still hold its socket open."""
    results: dict[int, R] = {}
    executor = ThreadPoolExecutor(max_workers=max(1, min(threads, len(items) or 1)))
    try:
        futures = {executor.submit(function, item): index for index, item in enumerate(items)}
        # On a terminal the bar redraws in place; in a CI log it prints a line every 10 s.
        interval = 0.1 if sys.stderr.isatty() else 10.0
        with tqdm(total=len(items), desc=label, mininterval=interval, file=sys.stderr) as bar:
            pending: set[Future[R]] = set(futures)
            while pending:
                done, pending = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
                for future in done:
                    results[futures[future]] = future.result()
                    if on_result is not None:
                        on_result(results[futures[future]])
                    bar.update()
                if pending and stop.is_set():
                    raise EvalStopped(f"{label}: stopped after {len(results)} of {len(items)}")
    finally:
        # On cancellation, queued samples are dropped; running ones end with the servers.
        executor.shutdown(wait=False, cancel_futures=True)
    return [results[index] for index in range(len(items))]
