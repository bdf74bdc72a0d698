"""README.md tells the truth. Its examples work as written: every TOML block parses with
the standard library's TOML 1.0 reader, and every `python -m sglang_ci ...` command names
a real subcommand and only options that subcommand accepts. Its tables say what the code
defines: the exit code, status and retry of each failure kind, and the stub's faults."""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import fields
from pathlib import Path

import pytest

from sglang_ci.cli import build_parser
from sglang_ci.outcome.kinds import EXIT_CODES, FailureKind
from sglang_ci.outcome.retry import classify
from sglang_ci.outcome.verdict import Verdict
from sglang_ci.stub.faults import Faults

README = Path(__file__).resolve().parents[1] / "README.md"
COMMAND = re.compile(r"python3? -m sglang_ci(?P<rest>(?:\s.*)?)$")
# Usage notation of the README's synopses: optional parts, alternatives, repetition,
# placeholders (JOB, DIR, K/N, <job>, RUN_A/...). A line with any of them is checked by
# name only; a line without is parsed by the real parser.
NOTATION = re.compile(r"[\[\]{}|<>]|\.\.\.|(?<![\w-])[A-Z][A-Z0-9_]*(?![\w-])")


def readme_lines() -> list[str]:
    return README.read_text(encoding="utf-8").splitlines()


def fenced_blocks(language: str) -> list[tuple[int, str]]:
    """(first line number, text) of each ```<language> block."""
    blocks: list[tuple[int, str]] = []
    lines = readme_lines()
    start: int | None = None
    for number, line in enumerate(lines, 1):
        if start is None and line.strip() == f"```{language}":
            start = number
        elif start is not None and line.strip() == "```":
            blocks.append((start, "\n".join(lines[start : number - 1])))
            start = None
    return blocks


def shell_commands() -> list[tuple[int, str]]:
    """(line number, command) of each sglang_ci command in a shell block (an indented code
    block or an unlabelled/shell fence; a more deeply indented next line continues it) or
    in a code span of the prose."""
    lines = readme_lines()
    found: list[tuple[int, str]] = []
    fence: str | None = None
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:]
            continue
        in_shell = fence in ("", "sh", "bash", "shell", "console")
        indented = fence is None and line.startswith("    ")
        if fence is None and not indented:
            spans = (COMMAND.search(span) for span in re.findall(r"`([^`]+)`", line))
            found += [(index + 1, match.group("rest")) for match in spans if match]
            continue
        match = COMMAND.search(line)
        if not (match and (in_shell or indented)):
            continue
        text = match.group("rest")
        depth = len(line) - len(line.lstrip())
        for following in lines[index + 1 :]:
            if not following.strip() or len(following) - len(following.lstrip()) <= depth:
                break
            text += " " + following.strip()
        found.append((index + 1, text))
    return found


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def option_names(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def test_there_are_blocks_to_check() -> None:
    # The checks below would pass on a README that lost its examples.
    assert len(fenced_blocks("toml")) >= 2
    assert len(shell_commands()) >= 15


@pytest.mark.parametrize(("line", "text"), fenced_blocks("toml"))
def test_toml_block_parses_with_tomllib(line: int, text: str) -> None:
    # tomllib (3.11+) is TOML 1.0: no newline inside an inline table, which tomli on 3.10
    # may accept.
    tomllib = pytest.importorskip("tomllib")
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        pytest.fail(f"README.md:{line}: the TOML block does not parse: {error}")


@pytest.mark.parametrize(("line", "text"), shell_commands())
def test_shell_command_names_real_subcommand_and_options(line: int, text: str) -> None:
    parser = build_parser()
    words = shlex.split(text, comments=True)
    if not NOTATION.search(" ".join(words)):
        try:
            parser.parse_args(words)
        except SystemExit:
            pytest.fail(f"README.md:{line}: `{text.strip()}` is refused by the CLI's parser")
        return
    # A synopsis: ` | ` before a subcommand's name starts another command of the line.
    commands = subcommands(parser)
    segments: list[list[str]] = [[]]
    for word in re.sub(r"#.*", "", text).split():
        if segments[-1] and segments[-1][-1] == "|" and word in commands:
            segments[-1].pop()
            segments.append([])
        segments[-1].append(word)
    for segment in segments:
        assert segment and segment[0] in commands, f"README.md:{line}: no subcommand {segment}"
        sub = commands[segment[0]]
        rest = segment[1:]
        nested = subcommands(sub)
        if nested:  # `eval {gsm8k,hellaswag}`: each named sub-subcommand must accept them
            names = rest[0].strip("{}").split(",")
            assert all(name in nested for name in names), f"README.md:{line}: {rest[0]}"
            accepted = set.intersection(*(option_names(nested[name]) for name in names))
        else:
            accepted = option_names(sub)
        options = {o.split("=")[0] for o in re.findall(r"--[\w-]+(?:=\S*)?", " ".join(rest))}
        unknown = sorted(options - accepted)
        assert not unknown, f"README.md:{line}: `{segment[0]}` has no option {unknown}"


def section(start: str, end: str) -> str:
    """README's text from the first occurrence of ``start`` to the next ``end`` after it."""
    text = " ".join(readme_lines())
    begin = text.index(start)
    return text[begin : text.index(end, begin + len(start))]


def exit_code_table() -> list[list[str]]:
    """The rows of "How a job ends": status | failure kind | exit code | retried."""
    lines = readme_lines()
    header = lines.index("| status | failure kind | exit code | retried |")
    rows = []
    for line in lines[header + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_exit_code_table_matches_failure_kinds_exit_codes_and_retries() -> None:
    rows = exit_code_table()
    named: set[FailureKind] = set()
    for status, kind_cell, code, retried in rows:
        spans = re.findall(r"`([^`]+)`", kind_cell)
        if status == "`skipped`" or not spans:  # passed; skipped rows are checked below
            continue
        kind = FailureKind(spans[0])  # ValueError: a kind the code does not have
        named.add(kind)
        where = f"README's row for `{kind}`"
        assert status == f"`{Verdict.failure(kind, '').status}`", f"{where}: status"
        assert code == str(EXIT_CODES[kind]), f"{where}: exit code {code}"
        assert retried == ("yes" if classify(Verdict.failure(kind, ""))[0] else "no"), where
    assert named == set(FailureKind), f"kinds missing: {sorted(set(FailureKind) - named)}"
    assert ["`passed`", "", "0", ""] in rows
    skipped = {row[2] for row in rows if row[0] == "`skipped`"}
    assert skipped == {"that kind's", str(Verdict.skipped("fail-fast").exit_code)}


def test_cli_exit_code_sentence_lists_every_exit_code() -> None:
    sentence = section("Exit codes are those of the failure kinds above:", ".")
    listed = {int(code) for code in re.findall(r"(?:^|,)\s*(\d+) ", sentence.split(":", 1)[1])}
    assert listed == {0, *EXIT_CODES.values()}, f"README's CLI exit codes: {sorted(listed)}"


def test_stub_fault_paragraph_names_every_fault_and_no_other() -> None:
    # The list runs from the environment variable to the end of its sentence.
    text = section('`SGLANG_CI_STUB_FAULTS="name[=value],..."`:', ". ")
    named = set(re.findall(r"`([a-z_]+)(?:=[A-Z]+)?`", text))
    assert named == {field.name for field in fields(Faults)}, f"README's faults: {sorted(named)}"
