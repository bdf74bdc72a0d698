"""The one number format and the two table layouts, and the reports that use them."""

from __future__ import annotations

from pathlib import Path

import pytest

from sglang_ci.config.text import markdown_table, number, render_table
from sglang_ci.outcome.verdict import Status
from sglang_ci.results.result_file import JobResult
from sglang_ci.results.summary import append_step_summary, stage_table


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, ""),
        (0.775, "0.775"),
        (0.41000000000000003, "0.41"),  # 0.44 - 0.03 in floating point
        (97.0, "97"),
        (1.8, "1.8"),
        (0.123456, "0.1235"),
        (160.25, "160.2"),  # 4 significant digits, round half to even
        (3600, "3600"),
        (12345.6, "12346"),  # no exponent for long runs: 1.235e+04 reads badly
        (float("nan"), "nan"),
        ("n/a", "n/a"),
    ],
)
def test_number(value: object, shown: str) -> None:
    assert number(value) == shown


def test_render_table_aligns_columns_without_trailing_blanks() -> None:
    text = render_table(("JOB", "SCORE", "NOTE"), [("a(model='x')", 0.5, None), ("b", 97.0, "ok")])
    assert text.splitlines() == [
        "JOB           SCORE  NOTE",
        "a(model='x')  0.5",
        "b             97     ok",
    ]


def test_markdown_table_escapes_pipes_and_keeps_empty_cells() -> None:
    text = markdown_table(("check", "value", "result"), [("gsm8k", None, "a | b")])
    assert text.splitlines() == [
        "| check | value | result |",
        "|---|---|---|",
        "| gsm8k |  | a \\| b |",
    ]


def test_a_row_must_match_the_header() -> None:
    with pytest.raises(ValueError, match="a row of 2 cells under a header of 3"):
        render_table(("a", "b", "c"), [("1", "2")])


def test_stage_table_formats_every_number_the_same_way() -> None:
    result = JobResult(
        "spec(model='m', topk=1)",
        "base-b",
        "stub",
        1,
        status=Status.FAILED,
        score=0.6000001,
        threshold=0.65,
        comparator=">=",
        phases={"launch": 10.0, "eval": 50.5},
    )
    header, row = stage_table([result]).splitlines()
    assert header.split() == ["JOB", "STATUS", "SCORE", "THRESHOLD", "ACCEPT", "OCCUPANCY",
                              "SECONDS"]  # fmt: skip
    assert row.split() == ["spec(model='m',", "topk=1)", "failed", "0.6", ">=", "0.65", "60.5"]


def test_step_summary_is_a_markdown_table(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    result = JobResult("spec(model='m', topk=1)", "base-b", "stub", 1, status=Status.FAILED)
    result.checks = [
        {"check": "gsm8k", "value": 0.6000001, "comparator": ">=", "threshold": 0.65,
         "passed": False},
        {"check": "accept-length", "value": 2.0, "comparator": ">", "threshold": 1.5,
         "passed": True},
        # A row from a result.json written before comparators were recorded.
        {"check": "hellaswag", "value": 0.7, "threshold": 0.6, "passed": True},
    ]  # fmt: skip
    append_step_summary(result, {"GITHUB_STEP_SUMMARY": str(path)})
    lines = path.read_text().splitlines()
    start = lines.index("| check | value | threshold | result |")
    assert lines[start + 1 : start + 5] == [
        "|---|---|---|---|",
        "| gsm8k | 0.6 | >= 0.65 | **FAIL** |",
        "| accept-length | 2 | > 1.5 | pass |",
        "| hellaswag | 0.7 | 0.6 | pass |",
    ]
