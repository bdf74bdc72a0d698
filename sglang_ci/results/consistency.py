"""Whether a result.json can be believed: its fields have the types the runner writes
(a hand-edited file is one line, not a traceback), and a ``passed`` status agrees with
what the file itself records (exit code, failure kind, every check, the score against
its threshold). A result edited from failed to passed must not show green."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sglang_ci.config.checks import COMPARATORS

_NUMBER = (int, float)
# The JSON types of each field as JobResult.write writes them; None allowed where noted.
FIELD_TYPES: dict[str, tuple[tuple[type, ...], bool]] = {
    "job": ((str,), False), "stage": ((str,), False), "engine": ((str,), False),
    "gpus": ((int,), False), "status": ((str,), False), "reason": ((str,), False),
    "failure_kind": ((str,), True), "exit_code": ((int,), True),
    "started_at": ((str,), False), "finished_at": ((str,), True),
    "phases": ((dict,), False), "ports": ((dict,), False), "servers": ((list,), False),
    "score": (_NUMBER, True), "threshold": (_NUMBER, True), "comparator": ((str,), True),
    "threshold_evidence": ((dict,), False), "accept_length": (_NUMBER, True),
    "occupancy": (_NUMBER, True), "engine_version": ((str,), True),
    "server_args": ((dict,), False), "checks": ((list,), False),
    "launched_by": ((str,), True), "attempts": ((list,), False),
    "server_info": ((dict,), False), "provenance": ((dict,), False),
    "diagnostics": ((str,), False), "command": ((list,), False), "tests": ((dict,), False),
    "sweep": ((dict,), False),
}  # fmt: skip


def type_problem(data: Mapping[str, Any]) -> str | None:
    """The first field whose JSON type is not the one the runner writes, or None."""
    for name, value in data.items():
        if name not in FIELD_TYPES:
            continue  # a newer writer's key: ignored by the reader
        types, optional = FIELD_TYPES[name]
        if value is None and optional:
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            wanted = " or ".join(t.__name__ for t in types) + (" or null" if optional else "")
            return f"field '{name}' is {type(value).__name__}, not {wanted}"
    phases = data.get("phases") or {}
    bad = [key for key, seconds in phases.items()
           if isinstance(seconds, bool) or not isinstance(seconds, _NUMBER)]  # fmt: skip
    if bad:
        return f"field 'phases' holds a non-number for '{bad[0]}'"
    if any(not isinstance(row, dict) for row in data.get("checks") or []):
        return "field 'checks' holds a row that is not an object"
    return None


def _holds(value: Any, comparator: Any, threshold: Any) -> bool | None:
    """value <comparator> threshold, or None when the row carries no such comparison."""
    numbers = [value, threshold]
    if comparator not in COMPARATORS or not all(
        isinstance(n, _NUMBER) and not isinstance(n, bool) for n in numbers
    ):
        return None
    if any(math.isnan(float(n)) for n in numbers):
        return False
    return COMPARATORS[comparator](float(value), float(threshold))


def contradictions(result: Any) -> list[str]:
    """Why a result that says ``passed`` cannot have passed (empty when it agrees, or when
    it does not claim to have passed): ``result`` is a JobResult."""
    if str(result.status) != "passed":
        return []
    found = []
    if result.exit_code not in (0, None):
        found.append(f"exit code {result.exit_code}")
    if result.failure_kind is not None:
        found.append(f"failure kind '{result.failure_kind.value}'")
    for row in result.checks:
        name = row.get("check", "?")
        holds = _holds(row.get("value"), row.get("comparator"), row.get("threshold"))
        if row.get("passed") is not True or holds is False:
            found.append(f"check {name} did not pass (value {row.get('value')})")
    if _holds(result.score, result.comparator or ">=", result.threshold) is False:
        found.append(f"score {result.score} misses {result.pass_when}")
    return found
