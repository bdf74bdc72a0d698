"""The configuration errors: stages.toml (or a file it names) is invalid, or the command
line asks for something that does not exist. Both exit 2 (FailureKind.CONFIG); every other
failure is sglang_ci.outcome's."""

from __future__ import annotations

from sglang_ci.outcome.errors import FatalError
from sglang_ci.outcome.kinds import FailureKind


class ConfigError(FatalError):
    """stages.toml (or a file it names) is unreadable or invalid."""

    kind = FailureKind.CONFIG


class UsageError(FatalError):
    """The command line asked for something that does not exist (unknown job, bad option)."""

    kind = FailureKind.CONFIG
