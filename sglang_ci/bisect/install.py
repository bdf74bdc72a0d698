"""Install one candidate commit as the SGLang under test.

Default: a detached worktree of the commit and ``python -m pip install --no-deps
--no-build-isolation -e <worktree>/python`` into the bisect venv, which already holds
SGLang's dependencies (and its build backend: ``--no-build-isolation`` is our addition,
so no commit fetches setuptools anew; ``--install`` replaces the whole command). Or the
user's template, e.g. ``--install "pip install sglang-{commit}.whl"``, with ``{commit}``,
``{worktree}`` and ``{python}`` filled in. An install that fails makes the commit a
``skip``, as ``git bisect skip``: never good, never bad."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sglang_ci.bisect.child import run_child
from sglang_ci.bisect.commits import add_worktree
from sglang_ci.config.errors import UsageError

FIELDS = ("commit", "worktree", "python")
DEFAULT_INSTALL = "{python} -m pip install --no-deps --no-build-isolation -e {worktree}/python"
INSTALL_TIMEOUT_S = 1800.0
_VERSION = (
    "import importlib.metadata as m\n"
    "try: print(m.version('sglang'))\n"
    "except m.PackageNotFoundError: print('')\n"
)


@dataclass(frozen=True)
class Installed:
    commit: str
    ok: bool
    version: str  # what the venv reports after the install ('' when none)
    log: str  # the install's log file
    reason: str = ""  # why it failed: the log's last line


def check_template(template: str) -> None:
    """Every {field} must be one we fill: a typo would install the wrong thing."""
    try:
        template.format(**{name: "x" for name in FIELDS})
    except (KeyError, IndexError, ValueError) as error:
        raise UsageError(f"--install {template!r}: {error} is not a field; use"
                         f" {', '.join('{' + f + '}' for f in FIELDS)}") from None  # fmt: skip
    if "{commit}" not in template and "{worktree}" not in template:
        raise UsageError(f"--install {template!r}: names no {{commit}} or {{worktree}}, so"
                         " every step would install the same SGLang")  # fmt: skip


def install(commit: str, template: str, python: Path, checkout: Path, folder: Path,
            env: Mapping[str, str], worktree: Path, need_worktree: bool = False
            ) -> Installed:  # fmt: skip
    """Install ``commit``; ``folder`` holds its worktree and the install log. A
    registered file is read from the worktree whatever the template installs."""
    if "{worktree}" in template or need_worktree:
        add_worktree(checkout, worktree, commit)
    argv = shlex.split(template.format(commit=commit, worktree=worktree, python=python))
    log = folder / "install.log"
    try:
        done = run_child(argv, env, log, timeout=INSTALL_TIMEOUT_S)
    except OSError as error:  # the template's program is missing: this commit is not it
        log.write_text(f"{error}\n", encoding="utf-8")
        return Installed(commit, False, "", str(log), str(error))
    if done.code != 0:
        reason = (done.output.strip().splitlines() or ["no output"])[-1]
        return Installed(commit, False, "", str(log), f"exit {done.code}: {reason[:200]}")
    return Installed(commit, True, installed_version(python, env, folder), str(log))


def installed_version(python: Path, env: Mapping[str, str], folder: Path) -> str:
    done = run_child([str(python), "-c", _VERSION], env, folder / "version.log")
    return done.output.strip().splitlines()[-1] if done.code == 0 and done.output.strip() else ""
