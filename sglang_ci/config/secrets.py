"""Secrets never leave the process: environments are never shown whole, and values of
variables whose names look secret are shown as ``***`` wherever an environment or a
server's settings are written (dry run, result.json, reports).

GitHub masks secrets in logs only; junit.xml, result files and records are uploaded as
artifacts unmasked, and pytest prints the repr of a failing test's arguments there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

# Words of a name (split at "_", "-", "."): HF_TOKEN, HUGGING_FACE_HUB_TOKEN,
# AWS_SECRET_ACCESS_KEY, --api-key, ... but not --speculative-num-draft-tokens.
SECRET_WORDS = frozenset(
    {"token", "key", "apikey", "secret", "password", "passwd", "credential", "credentials",
     "auth"}
)  # fmt: skip
HIDDEN = "***"


def looks_secret(name: str) -> bool:
    return any(word in SECRET_WORDS for word in re.split(r"[^a-z0-9]+", name.lower()))


def redacted(value: Any) -> Any:
    """``value`` with the values of secret-looking keys hidden, at any depth."""
    if isinstance(value, Mapping):
        return {key: HIDDEN if isinstance(key, str) and looks_secret(key) and item
                else redacted(item) for key, item in value.items()}  # fmt: skip
    if isinstance(value, list | tuple):
        return [redacted(item) for item in value]
    return value


class Environment(Mapping[str, str]):
    """An environment for child processes whose repr never shows a value: it is passed
    through dataclasses and pytest fixtures, whose reprs end up in tracebacks."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def __getitem__(self, key: str) -> str:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"<environment of {len(self._values)} variables>"

    __str__ = __repr__


def redacted_argv(argv: list[str]) -> list[str]:
    """A command line as shown to people: the value after a secret-looking flag hidden
    (``--api-key X`` -> ``--api-key ***``), also in ``--flag=value`` form."""
    shown: list[str] = []
    hide_next = False
    for token in argv:
        if hide_next:
            shown.append(HIDDEN)
            hide_next = False
        elif token.startswith("--") and looks_secret(token.split("=", 1)[0]):
            flag, equals, _ = token.partition("=")
            shown.append(f"{flag}={HIDDEN}" if equals else token)
            hide_next = not equals
        else:
            shown.append(token)
    return shown


MIN_SECRET_LENGTH = 6  # shorter values ("1", "true") would blank out ordinary text


class Scrubber:
    """Hides known secret values wherever they turn up: in text (a log tail) and in the
    files of a job folder (the server's own log prints its arguments, api key included;
    junit.xml holds test output). The last line of defence behind ``redacted``."""

    def __init__(self, env: Mapping[str, str], argv_lists: list[list[str]]) -> None:
        values = {value for name, value in env.items() if looks_secret(name)}
        for argv in argv_lists:
            values |= {argv[i + 1] for i, token in enumerate(argv[:-1])
                       if token.startswith("--") and looks_secret(token)}  # fmt: skip
        self.values = sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len,
                             reverse=True)  # fmt: skip

    def text(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, HIDDEN)
        return text
