"""The checks themselves, over an argparse parser and a set of routes.

They take the parser as a value, so tests can hand them a small parser of their own,
and the contract session the real one built by the pinned release.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from sglang_ci.config.releases import FlagRename

_FLAG_IN_HELP = re.compile(r"--[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True)
class Finding:
    where: str  # "spec(model='x', topk=3) [server]" or "router of disagg(model='y')"
    message: str
    error: bool  # False: a warning

    def line(self) -> str:
        return f"{'error' if self.error else 'warning'}: {self.where}: {self.message}"


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return dict(parser._option_string_actions)  # argparse keeps no public map of them


def _replacement(flag: str, action: argparse.Action) -> str:
    named = [f for f in _FLAG_IN_HELP.findall(action.help or "") if f != flag]
    return f"; use {named[0]} instead" if named else ""


def is_deprecated(action: argparse.Action) -> bool:
    return "Deprecated" in type(action).__name__ or "deprecated" in (action.help or "").lower()


def flags_of(argv: Sequence[str]) -> list[str]:
    return [token for token in argv if token.startswith("--")]


def check_argv(
    parser: argparse.ArgumentParser, argv: Sequence[str], where: str, release: str
) -> list[Finding]:
    """Every flag must be one of the parser's own option strings (argparse would accept a
    prefix, which hides a misspelling); deprecated ones warn; values must parse."""
    options = _options(parser)
    findings = []
    for flag in flags_of(argv):
        action = options.get(flag)
        if action is None:
            close = difflib.get_close_matches(flag, list(options), n=1, cutoff=0.6)
            hint = f"; closest: {close[0]}" if close else ""
            findings.append(Finding(where, f"{flag} is not a flag of {release}{hint}", True))
        elif is_deprecated(action):
            findings.append(Finding(
                where, f"{flag} is deprecated in {release}{_replacement(flag, action)}", False
            ))  # fmt: skip
    if any(f.error for f in findings):
        return findings  # values of unknown flags would only add noise
    strict = _Strict(add_help=False, exit_on_error=False, allow_abbrev=False)
    for action in parser._actions:  # the same definitions, without exiting on an error
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            strict._add_action(action)
    try:
        # parse_args, as SGLang's prepare_server_args does: a value left over (given to a
        # flag that takes none) is refused, not ignored.
        # SGLang's deprecated-alias actions print their own notice; the finding above
        # already says it, once, in this check's format.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            strict.parse_args(list(argv))
    except (argparse.ArgumentError, _Refused) as error:
        findings.append(Finding(where, f"{error} ({release})", True))
    return findings


class _Refused(Exception):
    pass


class _Strict(argparse.ArgumentParser):
    """Reports what argparse would print and exit on (a missing required flag, say)."""

    def error(self, message: str) -> NoReturn:
        raise _Refused(message)


def check_routes(used: Iterable[str], served: set[str], where: str, release: str) -> list[Finding]:
    return [
        Finding(where, f"{path} is not a route of {release}'s HTTP server", True)
        for path in used
        if path not in served
    ]


def check_renames(
    parser: argparse.ArgumentParser, renames: Iterable[FlagRename], version: str, release: str
) -> list[Finding]:
    """Each [renamed-flags] entry must name the spelling this release really has, whether
    or not a job passes it today."""
    options = _options(parser)
    findings = []
    for rename in renames:
        flag = f"--{rename.spelling(version)}"
        side = "from" if flag == f"--{rename.new}" else "before"
        if flag not in options:
            findings.append(Finding(
                f"renamed-flags.{rename.old}",
                f"{flag} (the spelling {side} {rename.since}) is not a flag of {release}",
                True,
            ))  # fmt: skip
    return findings
