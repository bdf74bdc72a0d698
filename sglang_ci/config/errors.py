"""Every failure the runner reports to a person, each with its own exit code.

Only ``__main__`` (and the noxfile) turn these into an exit; library code raises them.
The message is one line: what went wrong, where, and what to do about it.
"""

from __future__ import annotations


class FatalError(Exception):
    """A failure that ends the command with ``return_code`` and a one-line message."""

    return_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(FatalError):
    """stages.toml (or a file it names) is unreadable or invalid."""

    return_code = 2


class UsageError(FatalError):
    """The command line asked for something that does not exist (unknown job, bad option)."""

    return_code = 2


class GpuShortageError(FatalError):
    """A GPU job was asked to run where fewer GPUs are visible than it needs."""

    return_code = 3


class JobFailedError(FatalError):
    """A check of the job failed (a threshold missed, a setting not applied)."""

    return_code = 1


class ServerLaunchError(FatalError):
    """A server (or the router) died or never became ready; the message has its log tail."""

    return_code = 5


class TeardownError(FatalError):
    """Teardown could not confirm that processes, ports or GPU memory were released."""

    return_code = 6


class JobCancelled(KeyboardInterrupt):
    """A cancellation signal arrived; raised in the main thread so teardown runs.

    A KeyboardInterrupt, so that no ``except Exception`` on the way swallows it, and so
    that pytest (running a suite) stops the whole session instead of recording one
    failed test and going on against servers that are being torn down.
    """

    return_code = 130

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


class JobTimedOut(JobCancelled):
    """The job ran past its time limit (SIGALRM); torn down like a cancellation."""

    return_code = 124
