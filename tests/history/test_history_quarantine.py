"""quarantine.toml (validate fails on an expired entry; a quarantined failure is marked and
does not fail the report) and the report's noise-aware evidence from history."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import tomlkit

from sglang_ci.cli import main_exit_code
from sglang_ci.history.rows import Answers, RunRow
from sglang_ci.history.store import SqliteStore

JOB = "spec(model='llama-eagle3', topk=1)"
Writer = Callable[[Callable[[tomlkit.TOMLDocument], None]], Path]


def quarantine(config: Path, expires: datetime.date, job: str = JOB) -> None:
    (config.parent / "quarantine.toml").write_text(
        f'[[quarantine]]\njob = "{job}"\nreason = "fails twice a week"\n'
        f'link = "https://github.com/sgl-project/sglang/issues/38725"\nexpires = {expires}\n'
    )


def test_validate_fails_on_an_expired_entry_in_one_line(
    write_config: Writer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(lambda doc: None)
    today = datetime.date.today()
    quarantine(config, today + datetime.timedelta(days=30))
    assert main_exit_code(["validate", "--config", str(config)]) == 0
    capsys.readouterr()
    quarantine(config, today - datetime.timedelta(days=1))
    assert main_exit_code(["validate", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "expired on" in err and JOB in err
    quarantine(config, today, job="spec(model='llama-eagle3', topk=9)")
    assert main_exit_code(["validate", "--config", str(config)]) == 2
    assert "Perhaps you meant" in capsys.readouterr().err


def result(folder: Path, status: str, score: float, when: str, **extra: object) -> Path:
    out = folder / "job"
    out.mkdir(parents=True)
    (out / "result.json").write_text(
        json.dumps(
            {
                "engine": "sglang",
                "job": JOB,
                "stage": "base-b",
                "gpus": 1,
                "status": status,
                "failure_kind": None if status == "passed" else "below threshold",
                "reason": "gsm8k below its threshold",
                "started_at": when,
                "finished_at": when,
                "phases": {"eval": 60.0},
                "score": score,
                "threshold": 0.65,
                "comparator": ">=",
                "provenance": {
                    "gpus": ["NVIDIA H200"],
                    "sglang_version": "0.5.9",
                    "sglang_commit": "abc",
                    "host": "r1",
                },
                **extra,
            }
        )
    )
    return out


def test_a_quarantined_failure_is_marked_and_does_not_fail_the_report(
    write_config: Writer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(lambda doc: None)
    result(tmp_path / "results", "failed", 0.5, "2026-02-01T00:00:00+00:00")
    args = [
        "report",
        str(tmp_path / "results"),
        "--config",
        str(config),
        "--db",
        str(tmp_path / "none.sqlite"),
    ]
    assert main_exit_code(args) == 1
    quarantine(config, datetime.date.today() + datetime.timedelta(days=3))
    capsys.readouterr()
    assert main_exit_code(args) == 0
    out = capsys.readouterr().out
    assert "failed** (quarantined)" in out and "issues/38725" in out


def healthy_store(path: Path, answers: dict[int, bool]) -> None:
    store = SqliteStore(path)
    for n in range(40):
        when = f"2026-01-{1 + n // 24:02d}T{n % 24:02d}:00:00+00:00"
        store.add(
            RunRow(
                f"gh:{n}-1/{JOB}",
                f"gh:{n}-1",
                JOB,
                "base-b",
                "sglang",
                False,
                "passed",
                None,
                0.80 + 0.01 * (n % 5),
                0.65,
                ">=",
                None,
                None,
                60.0,
                {"eval": 60.0},
                when,
                when,
                "0.5.9",
                f"c{n // 2}",
                "NVIDIA H200",
                None,
                "r1",
            ),
            [Answers("gsm8k", answers)],
        )
    store.add(
        RunRow(
            "local:stub/x",
            "local:stub",
            JOB,
            "base-b",
            "stub",
            True,
            "passed",
            None,
            0.1,
            0.65,
            ">=",
            None,
            None,
            1.0,
            {},
            "2026-01-30T00:00:00+00:00",
            "2026-01-30T00:00:00+00:00",
            None,
            None,
            "",
            None,
            None,
        ),
        [],
    )
    store.close()


@pytest.mark.parametrize(("score", "verdict"), [(0.5, "likely regression"), (0.8, "likely flaky")])
def test_report_adds_the_noise_aware_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], score: float, verdict: str
) -> None:
    reference = {q: q < 160 for q in range(200)}
    healthy_store(tmp_path / "h.sqlite", reference)
    # The failing run lost 30 of the reference's right answers and gained 2.
    current = {q: (q < 130 or 160 <= q < 162) for q in range(200)}
    folder = result(tmp_path / "results", "failed", score, "2026-02-01T00:00:00+00:00")
    (folder / "gsm8k.jsonl").write_text(
        "".join(json.dumps({"index": q, "correct": ok}) + "\n" for q, ok in current.items())
    )
    code = main_exit_code(["report", str(tmp_path / "results"), "--db", str(tmp_path / "h.sqlite")])
    out = capsys.readouterr().out
    assert code == 1  # the verdict stays SGLang's
    assert f"  - {verdict}: " in out and "of the last 40 healthy runs scored this low" in out
    assert "30 questions lost, 2 gained of 200 shared (McNemar's exact test p = " in out
    assert "gh:39-1" in out  # the last passing run, not the stub's


def test_check_suggests_lifting_a_quarantine_after_a_passing_streak(
    write_config: Writer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(lambda doc: None)
    quarantine(config, datetime.date.today() + datetime.timedelta(days=30))
    healthy_store(tmp_path / "h.sqlite", {0: True})  # 40 passes in a row
    args = ["history", "check", "--db", str(tmp_path / "h.sqlite"), "--config", str(config)]
    assert main_exit_code([*args, "--passes", "41"]) == 0
    assert "lift the quarantine" not in capsys.readouterr().out
    assert main_exit_code([*args, "--passes", "40"]) == 0
    assert f"suggest: lift the quarantine of {JOB}: 40 passes in a row" in capsys.readouterr().out


def test_an_unreadable_store_costs_the_evidence_not_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "h.sqlite"
    broken.write_text("not a database " * 100)
    result(tmp_path / "results", "failed", 0.5, "2026-02-01T00:00:00+00:00")
    assert main_exit_code(["report", str(tmp_path / "results"), "--db", str(broken)]) == 1
    captured = capsys.readouterr()
    assert f"`{JOB}`: gsm8k below its threshold" in captured.out
    assert "without history evidence" in captured.err and len(captured.err.splitlines()) == 1
