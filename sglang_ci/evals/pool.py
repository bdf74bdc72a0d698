"""Run one function over many samples on a thread pool, with a progress bar, keeping
the results in sample order."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Protocol, TextIO, TypeVar

from tqdm import tqdm

POLL_S = 0.1

T = TypeVar("T")


class EvalStopped(Exception):
    """The run's token was set while samples were pending (the caller knows why)."""


R = TypeVar("R")


class Bar(Protocol):
    def update(self) -> object: ...


LOG_STEP_PERCENT = 25  # off a terminal: a line at each quarter


class LogProgress:
    """Progress for a log (CI): one plain line each time another LOG_STEP_PERCENT of the
    samples is done, never a redrawn bar's control characters."""

    def __init__(self, total: int, label: str, out: TextIO) -> None:
        self.total, self.label, self.out = total, label, out
        self.done, self.reported = 0, 0

    def update(self) -> None:
        self.done += 1
        step = self.done * 100 // max(1, self.total) // LOG_STEP_PERCENT
        if step > self.reported:
            self.reported = step
            print(f"{self.label}: {self.done}/{self.total} ({self.done * 100 // self.total}%)",
                  file=self.out, flush=True)  # fmt: skip


@contextlib.contextmanager
def progress(total: int, label: str, out: TextIO) -> Iterator[Bar]:
    """A bar on a terminal, log lines elsewhere."""
    if out.isatty():
        with tqdm(total=total, desc=label, mininterval=0.1, file=out) as bar:
            yield bar
    else:
        yield LogProgress(total, label, out)


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
        with progress(len(items), label, sys.stderr) as bar:
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
