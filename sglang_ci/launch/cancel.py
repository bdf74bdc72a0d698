"""Cancellation: SIGINT, SIGTERM and SIGHUP become one JobCancelled in the main thread.

GitHub cancels a job with SIGINT, SIGTERM 7.5 s later and SIGKILL 2.5 s after that. The
first signal starts a graceful teardown; a later one (a second or more after the first)
means the window is closing, so teardown stops waiting and SIGKILLs. Copies of one
Ctrl-C that arrive together (the terminal's and nox's forwarded one) count once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType, TracebackType
from typing import Any

from sglang_ci.config.errors import JobCancelled, JobTimedOut

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
ESCALATION_AFTER_S = 1.0
# Set on the first cancellation signal: worker threads (an eval's request pool) check it
# so that they stop sending and retrying at once; only the main thread gets the signal.
STOP = threading.Event()


class CancelWatch:
    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = timeout
        self.timed_out = False
        self.signal_name: str | None = None
        self.hurry = threading.Event()
        self._first_at = 0.0
        self._shielded = False
        self._deferring = False
        self._previous: dict[int, Any] = {}

    @property
    def cancelled(self) -> bool:
        return self.signal_name is not None

    def shield(self) -> None:
        """From here on (teardown) signals are recorded, never raised."""
        self._shielded = True

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A signal inside is raised only at the end: e.g. between starting a server and
        registering it for teardown, where an interruption would leak it."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        if self.signal_name is not None and not self._shielded:
            raise JobTimedOut("timeout") if self.timed_out else JobCancelled(self.signal_name)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        now = time.monotonic()
        if self.signal_name is None:
            self.signal_name = signal.Signals(signum).name
            self._first_at = now
            STOP.set()
            if not (self._shielded or self._deferring):
                raise JobCancelled(self.signal_name)
        elif now - self._first_at >= ESCALATION_AFTER_S:
            self.hurry.set()

    def _handle_alarm(self, _signum: int, _frame: FrameType | None) -> None:
        if self.signal_name is None:
            self.signal_name, self.timed_out = "timeout", True
            self._first_at = time.monotonic()
            STOP.set()
            if not (self._shielded or self._deferring):
                raise JobTimedOut("timeout")

    def __enter__(self) -> CancelWatch:
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        if self.timeout:
            self._previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, self._handle_alarm)
            signal.setitimer(signal.ITIMER_REAL, self.timeout)
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if self.timeout:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
