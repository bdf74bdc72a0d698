"""SGLang releases: how their numbers order, and the server flags SGLang renamed.

A job is written once and claims every release from its min-sglang on, but SGLang renames
flags between releases: ``--cuda-graph-max-bs`` became ``--cuda-graph-max-bs-decode`` in
0.5.14 (a deprecated alias there) and was removed by 0.5.20. SGLang's own test files
changed their spelling with the release; here stages.toml lists each rename once
(``[renamed-flags]``) and every command passes the spelling of the release it runs
against: the installed one, read from package metadata without importing sglang.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata

from sglang_ci.config.deployment import Deployment
from sglang_ci.config.errors import ConfigError
from sglang_ci.config.server_args import GPU_FLAGS, Args, flag_problem
from sglang_ci.config.toml_reader import Table

# A release number as the package index spells SGLang's: 0.5.12, 0.5.12.post1.
RELEASE = re.compile(r"^[0-9]+(\.[0-9]+){1,3}(\.post[0-9]+)?$")
# The release part of any installed version: 0.5.24.dev3+g1a2b (a build from a checkout)
# orders as 0.5.24, whose renames such a build already has.
_LEADING = re.compile(r"^([0-9]+(?:\.[0-9]+)*)(?:\.?post([0-9]+))?")


def release_order(version: str) -> tuple[int, ...]:
    """``0.5.12.post1`` -> (0, 5, 12, 1), so 0.5.12 < 0.5.12.post1 < 0.5.13. A version
    with a suffix (dev, rc, local) orders by its release part."""
    match = _LEADING.match(version)
    if not match:
        raise ValueError(f"not a release number: {version!r}")
    numbers = tuple(int(part) for part in match.group(1).split("."))
    return numbers + ((int(match.group(2)),) if match.group(2) else ())


def installed_release() -> str | None:
    """The SGLang version this interpreter has installed, from its package metadata; None
    where SGLang is not installed (a laptop planning a job, the stub's CI) or its version
    is no release number."""
    try:
        version = metadata.version("sglang")
    except metadata.PackageNotFoundError:
        return None
    # A version that is no release number (a hand-edited build) has no known spelling.
    return version if _LEADING.match(version) else None


@dataclass(frozen=True)
class FlagRename:
    """``old`` is spelt ``new`` from release ``since`` on (and ``new`` is spelt ``old``
    before it), so a job may write either and runs on both sides of the rename."""

    old: str
    new: str
    since: str

    def spelling(self, release: str) -> str:
        return self.new if release_order(release) >= release_order(self.since) else self.old


def spelled_for(args: Args, renames: Iterable[FlagRename], release: str | None) -> Args:
    """``args`` with each renamed flag spelt as ``release`` knows it; unchanged when the
    release is unknown (None): then the plan shows the flags as stages.toml writes them."""
    if release is None:
        return args
    respelt = {}
    for rename in renames:
        respelt[rename.old] = respelt[rename.new] = rename.spelling(release)
    return tuple((respelt.get(flag, flag), value) for flag, value in args)


def check_one_spelling(deployment: Deployment, renames: Iterable[FlagRename], where: str) -> None:
    """No server of a job may set both spellings of one renamed flag (they would contradict)."""
    for server in deployment.servers:
        flags = {flag for flag, _ in server.args}
        for rename in renames:
            if rename.old in flags and rename.new in flags:
                raise ConfigError(
                    f"{where}: sets both '{rename.old}' and '{rename.new}', one flag renamed"
                    f" in sglang {rename.since} ({RENAMED_FLAGS}): keep one"
                )


RENAMED_FLAGS = "renamed-flags"


def read_renamed_flags(root: Table) -> tuple[FlagRename, ...]:
    """``[renamed-flags]``: ``old = { to = "new", since = "0.5.14" }`` per rename."""
    if RENAMED_FLAGS not in root:
        return ()
    table = root.child(RENAMED_FLAGS, allowed=root.need(RENAMED_FLAGS, dict))
    renames: list[FlagRename] = []
    for old in table.data:
        entry = table.child(old, allowed=("to", "since"), required=("to", "since"))
        new, since = entry.need("to", str), entry.need("since", str)
        for flag, where in ((old, None), (new, "to")):
            problem = flag_problem(flag) or (
                "a GPU-count flag is never renamed here" if flag in GPU_FLAGS else None
            )
            if problem:
                entry.fail(problem, where)
        if new == old:
            entry.fail(f"'{new}' renames the flag to itself", "to")
        if not RELEASE.match(since):
            entry.fail(f'expected a release number such as "0.5.14", got {since!r}', "since")
        renames.append(FlagRename(old, new, since))
    spellings = [flag for rename in renames for flag in (rename.old, rename.new)]
    for flag in spellings:
        if spellings.count(flag) > 1:
            table.fail(f"'{flag}' appears in two renames: give each flag one rename")
    return tuple(renames)
