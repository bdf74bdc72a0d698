"""`diff` refuses records of different evals or different question sets (issue 15, item 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sglang_ci.cli import main_exit_code


def records(folder: Path, name: str, questions: list[str], correct: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.jsonl"
    path.write_text("".join(json.dumps({"index": i, "question": q, "correct": correct}) + "\n"
                            for i, q in enumerate(questions)))  # fmt: skip
    (folder / f"{name}.json").write_text(json.dumps({"eval": name, "score": 1.0}))
    return path


def diff(capsys: pytest.CaptureFixture[str], *paths: Path) -> tuple[int, list[str]]:
    code = main_exit_code(["diff", *map(str, paths)])
    return code, capsys.readouterr().err.strip().splitlines()


def test_same_eval_same_questions_compares(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = records(tmp_path / "a", "gsm8k", ["q0", "q1"])
    b = records(tmp_path / "b", "gsm8k", ["q0", "q1"], correct=False)
    code, err = diff(capsys, a, b)
    assert code == 1 and err == []


def test_different_evals_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = records(tmp_path / "a", "gsm8k", ["q0", "q1"])
    b = records(tmp_path / "b", "hellaswag", ["q0", "q1"])
    code, err = diff(capsys, a, b)
    assert code == 2 and len(err) == 1
    assert f"{a} is gsm8k but {b} is hellaswag" in err[0]


@pytest.mark.parametrize("other", [["q0", "another q1"], ["q0"], ["q0", "q1", "q2"]])
def test_different_question_sets_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], other: list[str]
) -> None:
    a = records(tmp_path / "a", "gsm8k", ["q0", "q1"])
    b = records(tmp_path / "b", "gsm8k", other)
    code, err = diff(capsys, a, b)
    assert code == 2 and len(err) == 1 and "different question sets" in err[0]
