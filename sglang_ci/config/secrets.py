"""Secrets never leave the process: environments are never shown whole, and values of
variables whose names look secret are shown as ``***`` wherever an environment or a
server's settings are written (dry run, result.json, reports).

GitHub masks secrets in logs only; junit.xml, result files and records are uploaded as
artifacts unmasked, and pytest prints the repr of a failing test's arguments there.
"""

from __future__ import annotations

import html
import json
import re
import shlex
import urllib.parse
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


# The password of a URL (scheme://user:password@host), whatever the variable's name:
# HTTPS_PROXY, DATABASE_URL, a --model-path on a private hub.
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@/\s]+)@")


def url_passwords(text: str) -> list[str]:
    return [match.group("pw") for match in _URL_PASSWORD.finditer(text)]


def without_url_passwords(text: str) -> str:
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{HIDDEN}@", text)


def redacted(value: Any) -> Any:
    """``value`` with the values of secret-looking keys and URL passwords hidden, at any
    depth."""
    if isinstance(value, Mapping):
        return {key: HIDDEN if isinstance(key, str) and looks_secret(key) and item
                else redacted(item) for key, item in value.items()}  # fmt: skip
    if isinstance(value, list | tuple):
        return [redacted(item) for item in value]
    if isinstance(value, str):
        return without_url_passwords(value)
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
            shown.append(without_url_passwords(token))
    return shown


MIN_SECRET_LENGTH = 6  # shorter values ("1", "true") would blank out ordinary text


class Scrubber:
    """Hides known secret values wherever they turn up: in text (a log tail) and in the
    files of a job folder (the server's own log prints its arguments, api key included;
    junit.xml holds test output). The last line of defence behind ``redacted``."""

    def __init__(self, env: Mapping[str, str], argv_lists: list[list[str]], *,
                 by_name: bool = False) -> None:  # fmt: skip
        # by_name: also hide any value written after a secret-looking name (cleanup's
        # case: a dead run's secret values are not all known to it).
        self.by_name = by_name
        values = {value for name, value in env.items() if looks_secret(name)}
        values |= {pw for value in env.values() for pw in url_passwords(value)}
        for argv in argv_lists:
            values |= set(secret_arg_values(argv))
            values |= {pw for token in argv for pw in url_passwords(token)}
        found = {form for value in values if len(value) >= MIN_SECRET_LENGTH
                 for form in escaped_forms(value)}  # fmt: skip
        self.values = sorted(found, key=len, reverse=True)

    def text(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, HIDDEN)
        return hide_secret_assignments(text) if self.by_name else text


# name=value, name: value, 'name': 'value', --name value, --name=value: how logs print
# settings (SGLang's ServerArgs repr, an environment dump, a command line, JSON).
_ASSIGNMENT = re.compile(
    r"""(?P<name>--[A-Za-z][\w.-]*|(?<![\w.-])['"]?[A-Za-z_][\w.-]*['"]?)"""
    r"""(?P<sep>\s*[=:]\s*|\s+)"""
    # a quoted value runs to its closing quote (escaped quotes inside), a bare one to a
    # space or a delimiter
    r"""(?:'(?P<single>(?:\\.|[^'\\])*)'|"(?P<double>(?:\\.|[^"\\])*)"|(?P<bare>[^\s'",(){}[\]=]+))"""
)


def hide_secret_assignments(text: str) -> str:
    """Values written after a secret-looking name hidden, whatever the value."""

    def hide(match: re.Match[str]) -> str:
        name = match.group("name").strip("'\"")
        spaced = not match.group("sep").strip()  # "--api-key X", never "the key X"
        part = next(group for group in ("single", "double", "bare")
                    if match.group(group) is not None)  # fmt: skip
        if (not looks_secret(name) or (spaced and not name.startswith("--"))
                or len(match.group(part)) < MIN_SECRET_LENGTH):  # fmt: skip
            return match.group(0)
        whole, start, end = match.group(0), match.start(part), match.end(part)
        return whole[: start - match.start()] + HIDDEN + whole[end - match.start() :]

    return without_url_passwords(_ASSIGNMENT.sub(hide, text))


def secret_arg_values(argv: list[str]) -> list[str]:
    """The values of secret-looking flags: ``--api-key X`` and ``--api-key=X``."""
    found = []
    for index, token in enumerate(argv):
        flag, equals, value = token.partition("=")
        if not token.startswith("--") or not looks_secret(flag):
            continue
        if equals:
            found.append(value)
        elif index + 1 < len(argv):
            found.append(argv[index + 1])
    return found


def escaped_forms(value: str) -> set[str]:
    """A value as logs and files may hold it: as is, JSON-escaped (result.json, records),
    as Python's repr shows it (SGLang logs its ServerArgs dataclass), shell-quoted,
    backslashes doubled, percent-encoded (a URL)."""
    forms = {
        value,
        json.dumps(value)[1:-1],
        repr(value)[1:-1],
        value.replace("\\", "\\\\"),
        shlex.quote(value),
        urllib.parse.quote(value, safe=""),
        html.escape(value),
    }
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}
