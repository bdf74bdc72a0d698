"""What a `nox -s` call asks for, checked against the sessions this noxfile registers:
a misspelt session gets the closest one, as the CLI names the closest job (nox itself
would only say "Sessions not found"). Imported only by the noxfile."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from sglang_ci.config.axes import normalize_signature, signature_suggestion
from sglang_ci.config.model import Config
from sglang_ci.nox_sessions import calibration_ids

SESSION_FLAGS = ("-s", "-e", "--session", "--sessions")


def requested_sessions(argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """The names after nox's ``-s``/``-e``/``--session(s)`` (or in $NOXSESSION)."""
    names: list[str] = []
    taking = False
    for arg in argv:
        if arg == "--":
            break
        flag, equals, value = arg.partition("=")
        if flag in SESSION_FLAGS and equals:
            names.append(value)
            taking = False
        elif arg in SESSION_FLAGS:
            taking = True
        elif arg.startswith("-"):
            taking = False
        elif taking:
            names.append(arg)
    if not names and env.get("NOXSESSION"):
        names = env["NOXSESSION"].split(",")
    return names


# nox also names a session that has a Python ``name-<version>`` (``contract-3.12(...)``).
_PYTHON_SUFFIX = re.compile(r"^([\w.-]+?)-\d+(?:\.\d+)*(?=\(|$)")


def _normalized(name: str) -> str:
    """A requested name as nox matches it: its signature's syntax tree (spacing and quote
    style do not count), with a ``-<python version>`` after the session's name dropped."""
    return normalize_signature(_PYTHON_SUFFIX.sub(r"\1", name.strip()))


def session_names(config: Config, extra: Sequence[str]) -> list[str]:
    """Every session name and signature this noxfile registers (``extra``: the noxfile's
    own sessions, parametrized ones with their signatures)."""
    calibrate = [f"calibrate({call})" for call in calibration_ids(config)]
    stages = [f"stage(name={name!r})" for name in config.stages]
    files = [f.session for f in config.files.values()]
    families = ["calibrate", "stage", "file", "demo", "matrix", *config.suites]
    return [*extra, *families, *config.jobs, *calibrate, *stages, *files]


# The runner's own sessions that never read stages.toml.
CONFIG_FREE = ("tests", "lint")


def config_free(requested: Sequence[str]) -> bool:
    """Whether every requested session is one of CONFIG_FREE (by any name nox matches)."""
    free = {_normalized(name) for name in CONFIG_FREE}
    return bool(requested) and all(_normalized(name) in free for name in requested)


def unknown_session(requested: Sequence[str], known: Sequence[str]) -> str | None:
    """One line for the first requested session nox would not find, with the closest
    known one, as the CLI says it for a job; None when all exist."""
    normalized = {_normalized(name) for name in known}
    for name in requested:
        if _normalized(name) not in normalized:
            return f"nox: no session {name!r}.{signature_suggestion(name, known)}"
    return None
