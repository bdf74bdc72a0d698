"""Test counts read from a registered file's output: unittest's closing lines or pytest's
summary line. A file may print neither (it crashed on import, or was killed); then the
counts are empty and the exit code alone tells how it ended."""

from __future__ import annotations

import re
from collections.abc import Iterable

# unittest (Lib/unittest/runner.py): "Ran 3 tests in 0.002s", then "OK", "OK (skipped=1)"
# or "FAILED (failures=1, errors=2, skipped=1, expected failures=1)".
_RAN = re.compile(r"^Ran (\d+) tests? in ")
_OUTCOME = re.compile(r"^(OK|FAILED)(?: \((.*)\))?\s*$")
# pytest: "==== 2 failed, 5 passed, 1 skipped in 3.21s ====" (also "no tests ran").
_PYTEST = re.compile(r"^=+ (.*\d+ \w+.*) in [\d.]+s(?: \([^)]*\))? =+$")
_PYTEST_PART = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)")


def _unittest(lines: list[str]) -> dict[str, int] | None:
    """The last ``Ran N tests`` block: a file running unittest.main once prints one."""
    for at in range(len(lines) - 1, -1, -1):
        ran = _RAN.match(lines[at])
        if ran is None:
            continue
        counts = {"tests": int(ran.group(1))}
        for line in lines[at + 1 : at + 4]:
            outcome = _OUTCOME.match(line.strip())
            if outcome is None:
                continue
            for part in (outcome.group(2) or "").split(","):
                name, _, value = part.strip().partition("=")
                if value.isdigit():
                    counts[name.replace(" ", "_")] = int(value)
            failed = counts.get("failures", 0) + counts.get("errors", 0)
            counts["passed"] = (
                counts["tests"]
                - failed
                - counts.get("skipped", 0)
                - counts.get("expected_failures", 0)
            )
            return counts
        return counts  # interrupted before its outcome line
    return None


def _pytest(lines: list[str]) -> dict[str, int] | None:
    for line in reversed(lines):
        summary = _PYTEST.match(line.strip())
        if summary is None:
            continue
        counts: dict[str, int] = {}
        for value, name in _PYTEST_PART.findall(summary.group(1)):
            key = {"failed": "failures", "error": "errors"}.get(name, name)
            counts[key] = counts.get(key, 0) + int(value)
        counts["tests"] = sum(
            counts.get(k, 0) for k in ("passed", "failures", "errors", "skipped", "xfailed",
                                       "xpassed")
        )  # fmt: skip
        return counts
    return None


def count_tests(output: Iterable[str]) -> dict[str, int]:
    """``{"tests": 3, "passed": 2, "failures": 1, ...}`` from the file's output; ``{}`` when
    it printed no summary. unittest's wins when both appear (run_suite's files are
    unittest files run with ``-f``; a pytest summary inside is a subprocess's)."""
    lines = [line.rstrip("\n") for line in output]
    return _unittest(lines) or _pytest(lines) or {}
