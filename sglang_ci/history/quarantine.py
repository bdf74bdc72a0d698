"""quarantine.toml: jobs (or registered files) that still run and are reported, but do
not fail their stage, each with a reason, a link and an expiry date.

PyTorch quarantines tests by name (DISABLED issues), TensorRT-LLM keeps a waives list;
here every entry expires, so a quarantine is a decision with a date, never a grave:
``validate`` fails on an expired entry."""

from __future__ import annotations

import datetime
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from sglang_ci.config.errors import ConfigError
from sglang_ci.config.toml_reader import load_toml, suggestion

QUARANTINE_FILE = "quarantine.toml"
_KEYS = ("job", "reason", "link", "expires")


@dataclass(frozen=True)
class Entry:
    job: str  # a job's session id or a registered file's path
    reason: str
    link: str
    expires: datetime.date


def quarantine_path(config_source: Path) -> Path:
    return config_source.parent / QUARANTINE_FILE


def load_quarantine(path: Path) -> dict[str, Entry]:
    """The entries by job; none when the file does not exist. Bad entries: one line."""
    if not path.is_file():
        return {}
    data = load_toml(path)
    unknown = set(data) - {"quarantine"}
    if unknown:
        raise ConfigError(
            f"{path.name}: unknown table {sorted(unknown)[0]!r}; write entries as"
            " [[quarantine]] tables"
        )
    entries: dict[str, Entry] = {}
    for number, table in enumerate(data.get("quarantine", []), 1):
        where = f"{path.name}: [[quarantine]] #{number}"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: not a table")
        extra = set(table) - set(_KEYS)
        missing = [key for key in _KEYS if key not in table]
        if extra or missing:
            what = f"unknown key {sorted(extra)[0]!r}" if extra else f"missing {missing[0]!r}"
            raise ConfigError(f"{where}: {what} (keys: {', '.join(_KEYS)})")
        expires = table["expires"]
        if not isinstance(expires, datetime.date) or isinstance(expires, datetime.datetime):
            raise ConfigError(f"{where}: expires must be a date (expires = 2026-12-31)")
        if not all(isinstance(table[key], str) and table[key] for key in _KEYS[:3]):
            raise ConfigError(f"{where}: job, reason and link must be non-empty strings")
        if table["job"] in entries:
            raise ConfigError(f"{where}: {table['job']} is quarantined twice")
        entries[table["job"]] = Entry(table["job"], table["reason"], table["link"], expires)
    return entries


def check_quarantine(
    entries: Mapping[str, Entry], units: Collection[str], today: datetime.date
) -> None:
    """An entry for no job, or one past its expiry, is a one-line error."""
    for entry in entries.values():
        if entry.job not in units:
            raise ConfigError(
                f"{QUARANTINE_FILE}: {entry.job!r} is no job or registered file"
                f" of stages.toml.{suggestion(entry.job, units)}"
            )
        if entry.expires < today:
            raise ConfigError(
                f"{QUARANTINE_FILE}: the quarantine of {entry.job} expired on {entry.expires}"
                f" ({entry.link}); fix the job and remove the entry, or set a new expiry"
            )


def active(entries: Mapping[str, Entry], today: datetime.date) -> dict[str, Entry]:
    return {job: e for job, e in entries.items() if e.expires >= today}


def in_force(config_source: Path, today: datetime.date | None = None) -> dict[str, Entry]:
    """The unexpired entries of the quarantine.toml beside stages.toml."""
    today = today or datetime.date.today()
    return active(load_quarantine(quarantine_path(config_source)), today)


def note(entry: Entry) -> str:
    return f"{entry.reason}, {entry.link}, until {entry.expires}"


def check_beside(config_source: Path, units: Collection[str]) -> None:
    """`validate`: the quarantine.toml beside stages.toml names only these jobs and files,
    and no entry has expired."""
    check_quarantine(load_quarantine(quarantine_path(config_source)), units,
                     datetime.date.today())  # fmt: skip
