"""The exceptions that end a job or a command, each with its failure kind.

Only ``__main__`` (and the noxfile) turn these into an exit; library code raises them.
The message is one line: what went wrong, where, and what to do about it. Longer text
(a server's log tail) travels in ``diagnostics``, never in the message, so that retry
decisions and one-line reports never parse log output. The configuration errors
(``ConfigError``, ``UsageError``) are config/errors.py's, built on ``FatalError``.
"""

from __future__ import annotations

from sglang_ci.outcome.kinds import EXIT_CODES, FailureKind


class FatalError(Exception):
    """A failure that ends the command with its kind's exit code and a one-line message."""

    kind = FailureKind.INTERNAL

    def __init__(
        self, message: str, *, kind: FailureKind | None = None, diagnostics: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.diagnostics = diagnostics
        if kind is not None:
            self.kind = kind

    @property
    def return_code(self) -> int:
        return EXIT_CODES[self.kind]

    def __str__(self) -> str:
        return self.message


class GpuShortageError(FatalError):
    """A GPU job was asked to run where fewer GPUs are visible than it needs."""

    kind = FailureKind.GPU_SHORTAGE


class JobFailedError(FatalError):
    """A check of the job failed: a threshold missed (BELOW_THRESHOLD) or anything else
    the suite asserts (CHECK_FAILED, the default)."""

    kind = FailureKind.CHECK_FAILED


class ServerLaunchError(FatalError):
    """A server (or the router) exited or never became ready; its log tail is in
    ``diagnostics``. Kind LAUNCH_EXIT or LAUNCH_TIMEOUT."""

    kind = FailureKind.LAUNCH_EXIT


class TeardownError(FatalError):
    """Teardown could not confirm that processes, ports or GPU memory were released."""

    kind = FailureKind.TEARDOWN_INCOMPLETE


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped from outside the code that was running: a signal, its time
    limit, or the liveness watch seeing a server die. Raised in the main thread.

    A KeyboardInterrupt, so that no ``except Exception`` on the way swallows it, and so
    that pytest (running a suite) stops the whole session instead of recording one
    failed test and going on against servers that are being torn down.
    """

    kind = FailureKind.CANCELLED

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause

    @property
    def return_code(self) -> int:
        return EXIT_CODES[self.kind]


class JobCancelled(RunInterrupted):
    """A cancellation signal arrived (``cause`` is its name)."""

    @property
    def signal_name(self) -> str:
        return self.cause


class JobTimedOut(RunInterrupted):
    """The job ran past its time limit; torn down like a cancellation."""

    kind = FailureKind.TIME_LIMIT


class ServerDied(RunInterrupted):
    """A server's main process (or the router) ended while the suite ran."""

    kind = FailureKind.SERVER_DIED
