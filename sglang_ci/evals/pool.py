"""Run one function over many samples on a thread pool, with a progress bar, keeping
the results in sample order."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


def map_in_threads(
    function: Callable[[T], R],
    items: Sequence[T],
    threads: int,
    label: str,
    on_result: Callable[[R], None] | None = None,
) -> list[R]:
    """``on_result`` sees each result as it completes (e.g. to put it on disk at once)."""
    results: dict[int, R] = {}
    executor = ThreadPoolExecutor(max_workers=max(1, min(threads, len(items) or 1)))
    try:
        futures = {executor.submit(function, item): index for index, item in enumerate(items)}
        # On a terminal the bar redraws in place; in a CI log it prints a line every 10 s.
        interval = 0.1 if sys.stderr.isatty() else 10.0
        with tqdm(total=len(items), desc=label, mininterval=interval, file=sys.stderr) as bar:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                if on_result is not None:
                    on_result(results[futures[future]])
                bar.update()
    finally:
        # On cancellation, queued samples are dropped; running ones end with the servers.
        executor.shutdown(wait=False, cancel_futures=True)
    return [results[index] for index in range(len(items))]
