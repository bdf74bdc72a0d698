"""Text for people: one number format and one table layout for every report.

Scores, thresholds and seconds are printed by the stage table, the step summary, the
report and the plan; formatting them here once means a threshold reads the same in all
of them (0.775, not 0.7750 in one place and 0.775 in another). This module is at the
floor so that every layer may use it; it imports nothing of sglang_ci.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

# A table cell: text as is, numbers (and None) through ``number``.
Cell = str | int | float | None

# Below this a float keeps 4 significant digits; from here up it is shown whole, because
# .4g would switch to an exponent (1.235e+04 s) where people expect 12346 s.
_WHOLE_FROM = 1e4


def number(value: object) -> str:
    """One rule for scores, thresholds and seconds: None is empty, ints stay whole,
    floats get 4 significant digits (0.775, 97, 1.5, 160.3) and no exponent from
    10000 up. Anything else (a JSON value of an unexpected type) is shown as text."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.0f}" if abs(value) >= _WHOLE_FROM else f"{value:.4g}"
    return str(value)


def _text(cell: Cell) -> str:
    return cell if isinstance(cell, str) else number(cell)


def _cells(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> list[list[str]]:
    table = [list(header)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a row of {len(row)} cells under a header of {len(header)}")
        table.append([_text(cell) for cell in row])
    return table


def render_table(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    """A plain-text table for a terminal: columns left-aligned, two spaces apart, no
    trailing blanks (so that CI logs and tests compare lines exactly)."""
    table = _cells(header, rows)
    widths = [max(len(line[col]) for line in table) for col in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    )


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    """A GitHub-flavoured markdown table (step summaries, reports). A '|' inside a cell is
    escaped, since an error message quoted in a cell must not split it."""
    table = _cells(header, rows)
    lines = [_markdown_row(table[0]), "|" + "---|" * len(header)]
    lines += [_markdown_row(line) for line in table[1:]]
    return "\n".join(lines)


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


# The runner's own folders beside a job's: an earlier run moved aside, a retried attempt.
EARLIER = "-earlier-"
ATTEMPT = "-attempt-"


def job_dir_name(job_id: str) -> str:
    """A job's or file's results folder: ``spec(model='gemma4-31b', topk=3)`` ->
    ``spec-model-gemma4-31b-topk-3``, ``test/registered/a/t.py`` -> ``test-registered-a-t.py``."""
    return re.sub(r"[^A-Za-z0-9._]+", "-", job_id).strip("-")
