"""Flip analysis: which questions changed correctness between runs of an eval.

This is the tool for a seed-003 root-cause hunt: with greedy decoding every question
should be answered the same way every time; the questions that flip point at the
nondeterministic path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sglang_ci.config.errors import UsageError


@dataclass(frozen=True)
class Flip:
    index: int
    question: str
    answers: tuple[Any, ...]  # the extracted answer of each run, in run order
    correct: tuple[bool, ...]


def load_records(path: Path) -> dict[int, dict[str, Any]]:
    records: dict[int, dict[str, Any]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise UsageError(f"{path}: {error.strerror}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            records[int(record["index"])] = record
            bool(record["correct"])
        except (ValueError, KeyError, TypeError):
            raise UsageError(
                f"{path}:{number}: not a per-sample record (JSONL with index, correct, ...)"
            ) from None
    return records


def flips(runs: Sequence[dict[int, dict[str, Any]]]) -> list[Flip]:
    """Questions present in every run whose correctness is not the same in all of them."""
    if len(runs) < 2:
        raise UsageError("flip analysis needs at least two runs")
    common = sorted(set.intersection(*(set(run) for run in runs)))
    found = []
    for index in common:
        correct = tuple(bool(run[index]["correct"]) for run in runs)
        if len(set(correct)) > 1:
            answers = tuple(run[index].get("extracted") for run in runs)
            question = str(runs[0][index].get("question", ""))
            found.append(Flip(index, question, answers, correct))
    return found


def identical(runs: Sequence[dict[int, dict[str, Any]]]) -> bool:
    """Every run gave the same answer to every question (the determinism verdict)."""
    first = runs[0]
    return all(
        set(run) == set(first)
        and all(run[i].get("output") == first[i].get("output") for i in first)
        for run in runs[1:]
    )


def record_files(paths: Sequence[Path]) -> list[Path]:
    """Two or more record files, or one calibration folder holding run-*/<eval>.jsonl."""
    if len(paths) == 1 and paths[0].is_dir():
        found = sorted(paths[0].glob("run-*/*.jsonl"))
        if len(found) < 2:
            raise UsageError(f"{paths[0]}: no run-*/<eval>.jsonl records of two runs or more")
        return found
    return list(paths)


def render(paths: Sequence[Path], found: list[Flip], total: int, limit: int = 50) -> str:
    lines = [f"{len(found)} of {total} questions changed correctness across {len(paths)} runs"]
    for flip in found[:limit]:
        pairs = zip(flip.answers, flip.correct, strict=True)
        marks = " ".join(f"{_shown(answer)}{'+' if right else '-'}" for answer, right in pairs)
        question = flip.question if len(flip.question) <= 70 else flip.question[:67] + "..."
        lines.append(f"  #{flip.index}: {marks}   {question}")
    if len(found) > limit:
        lines.append(f"  ... and {len(found) - limit} more")
    lines.append("  (answers per run in order; + correct, - wrong)")
    return "\n".join(lines)


def _shown(answer: Any) -> str:
    """72.0 (from "72.") reads as 72; a missing answer as '-'."""
    if isinstance(answer, float) and answer.is_integer():
        return str(int(answer))
    return "-" if answer is None else str(answer)


def eval_of(path: Path) -> str:
    """The eval a record file belongs to: its summary's "eval" (<eval>.json beside it, as
    every writer leaves one), else the file's name (gsm8k.jsonl)."""
    summary = path.with_suffix(".json")
    try:
        name = json.loads(summary.read_text(encoding="utf-8")).get("eval")
    except (OSError, ValueError, AttributeError):
        name = None
    return str(name) if name else path.stem


def require_comparable(files: Sequence[Path], runs: Sequence[dict[int, dict[str, Any]]]) -> None:
    """Flips mean something only between runs of one eval over one question set: another
    eval, another data file or another shot count would show every question as flipped."""
    first, evals = files[0], [eval_of(path) for path in files]
    for path, name in zip(files[1:], evals[1:], strict=True):
        if name != evals[0]:
            raise UsageError(f"diff: {first} is {evals[0]} but {path} is {name}; compare runs"
                             " of one eval")  # fmt: skip
    questions = {index: record.get("question") for index, record in runs[0].items()}
    for path, run in zip(files[1:], runs[1:], strict=True):
        other = {index: record.get("question") for index, record in run.items()}
        if other != questions:
            differ = len(set(other.items()) ^ set(questions.items()))
            raise UsageError(f"diff: {first} and {path} hold different question sets ({differ}"
                             " records differ); compare runs over the same data")  # fmt: skip


def cmd_diff(paths: Sequence[str]) -> int:
    """diff(1)'s convention: 0 when no question flipped, 1 when some did."""
    files = record_files([Path(p) for p in paths])
    runs = [load_records(path) for path in files]
    require_comparable(files, runs)
    found = flips(runs)
    total = len(set.intersection(*(set(run) for run in runs)))
    print(render(files, found, total))
    return 1 if found else 0
