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


class NotAvailableYetError(FatalError):
    """A path of the runner that this version does not have yet; said plainly, never faked."""

    return_code = 4
