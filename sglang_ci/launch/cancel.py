"""One run's cancellation state (a token) and the watch that feeds it.

A run (one job attempt, one shared launch, one calibration) creates a ``CancelToken``;
the signal handlers, its time limit, the liveness watch and the eval workers all share
that token and nothing else, so a run that timed out cannot poison the next one: the
next run has a token of its own, and leaving ``CancelWatch`` restores every handler and
clears the timer.

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

from sglang_ci.outcome.errors import JobCancelled, JobTimedOut, RunInterrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
ESCALATION_AFTER_S = 1.0
# Sent by a watcher thread to the main thread to make it raise the token's interruption:
# a signal also breaks a blocking socket read, which nothing else can from outside.
WAKE_SIGNAL = signal.SIGUSR2


class CancelToken:
    """Why this run must stop (first cause wins), and the events its threads wait on."""

    def __init__(self) -> None:
        self.stop = threading.Event()  # set on any interruption: workers stop at once
        self.hurry = threading.Event()  # set when the cancel window is closing
        self.interruption: RunInterrupted | None = None
        self._lock = threading.Lock()
        self._main = threading.main_thread().ident
        self.watching = False  # a CancelWatch is installed: a wake-up signal will be heard

    def trip(self, interruption: RunInterrupted) -> bool:
        """Record the cause unless one is recorded already; True when this was the first."""
        with self._lock:
            if self.interruption is not None:
                return False
            self.interruption = interruption
        self.stop.set()
        return True

    def interrupt_main(self, interruption: RunInterrupted) -> None:
        """From another thread: record the cause and make the main thread raise it."""
        if not self.trip(interruption):
            return
        with self._lock:  # never after the watch left: SIGUSR2's default action kills us
            if self.watching and self._main is not None:
                signal.pthread_kill(self._main, WAKE_SIGNAL)

    def set_watching(self, watching: bool) -> None:
        with self._lock:
            self.watching = watching

    @property
    def kind(self) -> str | None:
        return self.interruption.kind.value if self.interruption else None

    @property
    def cancelled(self) -> bool:
        return isinstance(self.interruption, JobCancelled)

    @property
    def timed_out(self) -> bool:
        return isinstance(self.interruption, JobTimedOut)

    def fresh(self) -> RunInterrupted:
        """A new exception carrying the recorded cause (raised once per place it is seen)."""
        assert self.interruption is not None
        return type(self.interruption)(self.interruption.cause)


class CancelWatch:
    """Signal handlers and the time limit of one run, feeding its token; ``shield()`` for
    teardown (signals recorded, never raised), ``deferred()`` around process spawns."""

    def __init__(self, token: CancelToken, timeout: float | None = None) -> None:
        self.token = token
        self.timeout = timeout
        self._first_at = 0.0
        self._shielded = False
        self._deferring = False
        self._previous: dict[int, Any] = {}

    @contextlib.contextmanager
    def shielded(self) -> Iterator[None]:
        """Inside (teardown), interruptions are recorded on the token, never raised; the
        caller reads the token afterwards."""
        before, self._shielded = self._shielded, True
        try:
            yield
        finally:
            self._shielded = before

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """An interruption inside is raised only at the end: e.g. between starting a
        server and registering it for teardown, where an interruption would leak it."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        if self.token.interruption is not None and not self._shielded:
            raise self.token.fresh()

    def _raise_now(self) -> bool:
        return not (self._shielded or self._deferring)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        now = time.monotonic()
        if self.token.trip(JobCancelled(signal.Signals(signum).name)):
            self._first_at = now
            if self._raise_now():
                raise self.token.fresh()
        elif now - self._first_at >= ESCALATION_AFTER_S:
            self.token.hurry.set()

    def _handle_alarm(self, _signum: int, _frame: FrameType | None) -> None:
        if self.token.trip(JobTimedOut("timeout")):
            self._first_at = time.monotonic()
            if self._raise_now():
                raise self.token.fresh()

    def _handle_wake(self, _signum: int, _frame: FrameType | None) -> None:
        if self.token.interruption is not None and self._raise_now():
            raise self.token.fresh()

    def __enter__(self) -> CancelWatch:
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        self._previous[WAKE_SIGNAL] = signal.signal(WAKE_SIGNAL, self._handle_wake)
        if self.timeout:
            self._previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, self._handle_alarm)
            signal.setitimer(signal.ITIMER_REAL, self.timeout)
        self.token.set_watching(True)
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.token.set_watching(False)
        if self.timeout:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
