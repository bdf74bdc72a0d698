"""Typed, path-aware reading of parsed TOML tables.

Every error names the key path (``stages.extra-a.jobs[2].est-time``) so a person can find
the line; unknown keys are reported before anything else, with a suggestion, because a
misspelt key otherwise surfaces as a confusing "missing key" error for its correct name.
"""

from __future__ import annotations

import difflib
import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from sglang_ci.config.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

T = TypeVar("T")

# TOML value kinds as a person reads them in an error message.
_KIND_NAMES: dict[type, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "an array",
    dict: "a table",
}


def load_toml(path: Path) -> dict[str, Any]:
    """Parse ``path``; unreadable or malformed files become a one-line ConfigError."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: file not found; pass --config PATH or set SGLANG_CI_CONFIG"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 (byte {exc.start}); save the file as UTF-8") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid TOML: nested too deeply") from None


def suggestion(word: str, choices: Iterable[str]) -> str:
    """`` Perhaps you meant 'x'?`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" Perhaps you meant '{close[0]}'?" if close else ""


def type_name(kind: type) -> str:
    return _KIND_NAMES.get(kind, kind.__name__)


def kind_name(value: object) -> str:
    """What a parsed TOML value is, in the words of an error message."""
    return type_name(type(value))


def join_path(parent: str, key: str | int) -> str:
    """``parent.key`` or ``parent[index]``; ``key`` may itself be a dotted sub-path."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


class Table:
    """One TOML table being read: checks its keys up front, then hands out typed values."""

    def __init__(
        self,
        data: object,
        path: str,
        source: str,
        *,
        allowed: Iterable[str],
        required: Iterable[str] = (),
    ) -> None:
        self.path = path
        self.source = source
        if not isinstance(data, dict):
            self.fail(f"expected a table, got {kind_name(data)}")
        self.data: dict[str, Any] = data
        allowed_keys = list(allowed)
        for key in data:
            if key not in allowed_keys:
                hint = suggestion(key, allowed_keys) or (
                    f" Allowed keys: {', '.join(allowed_keys)}."
                    if allowed_keys
                    else " No keys are allowed here."
                )
                self.fail(f"unknown key '{key}'.{hint}")
        for key in required:
            if key not in data:
                self.fail(f"missing required key '{key}'")

    def fail(self, message: str, key: str | int | None = None) -> NoReturn:
        where = self.path if key is None else join_path(self.path, key)
        raise ConfigError(f"{self.source}: {where}: {message}")

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, kind: type[T], default: T) -> T:
        if key not in self.data:
            return default
        return self.need(key, kind)

    def need(self, key: str, kind: type[T]) -> T:
        value = self.data[key]
        if not is_kind(value, kind):
            self.fail(f"expected {type_name(kind)}, got {kind_name(value)}", key)
        if kind is float:
            if not math.isfinite(value):
                self.fail(f"expected a finite number, got {value}", key)
            return float(value)  # type: ignore[return-value]
        return value  # type: ignore[no-any-return]

    def positive(self, key: str, kind: type[int] | type[float]) -> Any:
        value = self.need(key, kind)
        if value <= 0:
            self.fail(f"must be greater than 0, got {value}", key)
        return value

    def string_list(self, key: str) -> tuple[str, ...]:
        values = self.get(key, list, [])
        for index, item in enumerate(values):
            if not isinstance(item, str):
                self.fail(f"expected a string, got {kind_name(item)}", f"{key}[{index}]")
        return tuple(values)

    def string_map(self, key: str) -> tuple[tuple[str, str], ...]:
        """A table of string values, such as an environment; order kept."""
        values = self.get(key, dict, {})
        for name, item in values.items():
            if not isinstance(item, str):
                self.fail(
                    f'expected a string, got {kind_name(item)} (quote numbers: "1")',
                    f"{key}.{name}",
                )
        return tuple(values.items())

    def child(self, key: str, *, allowed: Iterable[str], required: Iterable[str] = ()) -> Table:
        """The sub-table at ``key``."""
        return Table(
            self.data[key],
            join_path(self.path, key),
            self.source,
            allowed=allowed,
            required=required,
        )

    def tables(
        self, key: str, *, allowed: Iterable[str], required: Iterable[str] = ()
    ) -> list[Table]:
        """The array of tables at ``key`` (absent = empty), each item with its own path."""
        items = self.get(key, list, [])
        base = join_path(self.path, key)
        return [
            Table(item, join_path(base, index), self.source, allowed=allowed, required=required)
            for index, item in enumerate(items)
        ]


def is_kind(value: object, kind: type) -> bool:
    """isinstance with TOML's distinctions: a bool is not a number, an int is a float."""
    if kind is float:
        return type(value) in (int, float)
    if kind is int:
        return type(value) is int
    return isinstance(value, kind)
