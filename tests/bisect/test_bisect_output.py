"""The bisect's report (table, markdown, JSON, history line) and its refusals of bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sglang_ci.bisect import output
from sglang_ci.bisect.commits import Commit
from sglang_ci.bisect.driver import Outcome, Step
from sglang_ci.bisect.evidence import Judgement
from sglang_ci.bisect.history_note import history_line
from sglang_ci.bisect.probe import Run, Target
from sglang_ci.cli import main_exit_code
from sglang_ci.history.rows import RunRow
from sglang_ci.history.store import SqliteStore
from tests.bisect_repo import write_repo

TARGET = Target("quick(model='m')", True, False, 2, "sglang")


def commits(n: int) -> list[Commit]:
    return [Commit(f"{i:x}" * 40, f"subject {i} | piped", i == 2) for i in range(n)]


def run(sha: str, score: float, seconds: float = 10.0) -> Run:
    return Run(sha[:40], 1, "passed", score, seconds, "0.5.1")


def outcome_found_at(index: int) -> Outcome:
    cs = commits(5)
    ends = [Step(0, cs[0], "good", [run(cs[0].sha, 0.9)]),
            Step(4, cs[4], "bad", [run(cs[4].sha, 0.6)],
                 Judgement("bad", 0.0, 1e-5, 30, 2))]  # fmt: skip
    steps = [Step(2, cs[2], "bad", [run(cs[2].sha, 0.61), run(cs[2].sha, 0.6)],
                  Judgement("bad", 7.1, 2e-4, 25, 3)),
             Step(1, cs[1], "good", [run(cs[1].sha, 0.9)], Judgement("good", -6.5, 0.8, 3, 4)),
             Step(3, cs[3], "skip", [], None, "install failed: exit 1: no wheel")]  # fmt: skip
    return Outcome(cs, ends, steps, True, (index,), 0.004)


def test_the_table_names_the_first_bad_commit_with_its_evidence_and_gpu_time() -> None:
    text = output.text(outcome_found_at(2), TARGET)
    lines = text.splitlines()
    assert lines[0].split() == ["step", "commit", "subject", "runs", "score(s)", "verdict",
                                "p-value"]  # fmt: skip
    assert "0.610, 0.600" in lines[3] and "bad" in lines[3] and "0.0002" in lines[3]
    assert "skip (install failed)" in lines[5]
    assert f"first bad commit: {'2' * 40} subject 2 | piped (a merge" in text
    assert "+7.10" in text and "25 lost / 3 gained" in text
    # 5 runs (1 + 1 at the ends, 2 + 1 probing) of 10 s each on 2 GPUs
    assert "5 runs, 100 GPU-seconds (2 GPUs per run)" in text
    assert "never evidence" not in text  # the real engine's bisect is evidence


def test_markdown_escapes_pipes_and_json_carries_every_step() -> None:
    md = output.markdown(outcome_found_at(2), TARGET)
    assert "subject 2 \\| piped" in md
    assert md.count("\n| ") == 6  # the header and five rows
    data = output.as_json(outcome_found_at(2), TARGET)
    assert data["first_bad"] == "2" * 40 and data["runs"] == 5
    assert [s["verdict"] for s in data["steps"]] == ["bad", "good", "skip"]
    assert data["steps"][2]["note"] == "install failed: exit 1: no wheel"
    json.dumps(data)


def test_skipped_commits_hiding_the_first_bad_are_named_as_a_set() -> None:
    outcome = outcome_found_at(2)
    outcome.suspects = (3, 4)
    assert outcome.found is None
    assert "first bad commit is one of 2:" in output.headline(outcome)
    outcome.regression = False
    assert output.headline(outcome).startswith("no regression in range")


def _row(uid: str, score: float, stub: bool = False, status: str = "passed") -> RunRow:
    return RunRow(uid, uid, TARGET.job, "s", "sglang", stub, status, None, score, 0.5, ">=",
                  None, None, 10.0, started_at=f"2026-01-0{uid}")  # fmt: skip


def test_history_counts_healthy_model_runs_at_or_below_the_first_bad_score(tmp_path: Path
                                                                           ) -> None:  # fmt: skip
    store_file = tmp_path / "history.sqlite"
    store = SqliteStore(store_file)
    for uid, score in (("1", 0.9), ("2", 0.58), ("3", 0.92), ("4", 0.88)):
        store.add(_row(uid, score), [])
    store.add(_row("5", 0.1, stub=True), [])  # the stub's: never evidence
    store.add(_row("6", 0.2, status="failed"), [])  # not healthy
    store.close()
    line = history_line(store_file, TARGET.job, outcome_found_at(2))
    assert line is not None and line.startswith("history: 1 of 4 healthy runs")
    assert "0.605" in line
    assert history_line(tmp_path / "none.sqlite", TARGET.job, outcome_found_at(2)) is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--max-runs-per-commit", "0"], "--max-runs-per-commit 0: must be 1 or more"),
        (["--confidence", "1.5"], "--confidence 1.5: must be between 0.5 and 1"),
        (["--install", "pip install {wheel}"], "'wheel' is not a field"),
        (["--install", "pip install sglang"], "names no {commit} or {worktree}"),
        (["--checkout", "/nonexistent/sglang"], "--checkout /nonexistent/sglang: no such folder"),
    ],
)
def test_bad_options_are_refused_in_one_line_before_anything_runs(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["bisect", "j", "--good", "a", "--bad", "b", "--checkout", str(tmp_path), *extra]
    assert main_exit_code(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.real_process
@pytest.mark.parametrize(
    ("good", "bad", "message"),
    [
        ("nosuchref", "main", "--good nosuchref: not a commit of"),
        ("main", "main~3", "is not an ancestor of --bad"),
    ],
)
def test_bad_refs_are_refused_in_one_line(
    good: str, bad: str, message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import subprocess

    repo = write_repo(tmp_path / "repo", 4, None)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    argv = [
        "bisect",
        "f.py",
        "--good",
        good,
        "--bad",
        bad,
        "--checkout",
        str(repo.path),
        "--python",
        str(venv / "bin" / "python"),
        "--state",
        str(tmp_path / "s.json"),
    ]
    assert main_exit_code(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "s.json").exists()  # nothing started


@pytest.mark.real_process
def test_a_system_python_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    base = Path(sys.base_prefix) / "bin" / "python3"
    argv = ["bisect", "f.py", "--good", "a", "--bad", "b", "--checkout", str(tmp_path),
            "--python", str(base)]  # fmt: skip
    assert main_exit_code(argv) == 2
    assert "not a virtual environment's interpreter" in capsys.readouterr().err
