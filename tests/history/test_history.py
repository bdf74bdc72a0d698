"""Run history: the store, ingest, merge, and the analyses on generated history with
planted truth (tests/history_gen.py)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest

from sglang_ci.history.analysis import analyse_all, findings, p90_durations
from sglang_ci.history.ingest import ingest
from sglang_ci.history.rows import RunRow
from sglang_ci.history.schema import MIGRATIONS, SCHEMA_VERSION
from sglang_ci.history.store import SqliteStore
from tests.history_gen import generate, write_results


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_analyses_find_exactly_the_planted_faults(seed: int) -> None:
    history = generate(seed)  # 12 jobs x 200 runs
    found = {(f.kind, f.job) for f in findings(analyse_all(history.rows))}
    assert found == {
        ("regression", history.regression_job),
        ("flaky", history.flaky_job),
        ("threshold inside the noise", history.tight_job),
    }
    regression = next(f for f in findings(analyse_all(history.rows)) if f.kind == "regression")
    assert regression.evidence["commit"] == history.regression_commit


def test_stub_runs_are_never_evidence() -> None:
    history = generate(4, jobs=4, runs=60)
    stub_job = [a for a in analyse_all(history.rows) if a.job == history.stub_job]
    # The stub's scores of 0.0 would be a regression, a noise and a flake if they counted.
    assert [a.stub_runs for a in stub_job] == [0]  # its stub runs form no judged group
    assert all(f.job != history.stub_job for f in findings(analyse_all(history.rows)))


def test_ingest_is_idempotent_and_merge_of_halves_equals_the_whole(tmp_path: Path) -> None:
    history = generate(5, jobs=4, runs=20)
    half = len(history.rows) // 2
    write_results(history, tmp_path / "a", history.rows[:half])
    write_results(history, tmp_path / "b", history.rows[half:])
    whole = SqliteStore(tmp_path / "whole.sqlite")
    first = ingest(whole, [tmp_path / "a", tmp_path / "b"])
    again = ingest(whole, [tmp_path / "a", tmp_path / "b"])
    assert (first.added, again.added, again.known) == (len(history.rows), 0, len(history.rows))
    assert first.rehearsals == 10
    halves = []
    for name in ("a", "b"):
        store = SqliteStore(tmp_path / f"{name}.sqlite")
        ingest(store, [tmp_path / name])
        store.close()
        halves.append(tmp_path / f"{name}.sqlite")
    merged = SqliteStore(tmp_path / "merged.sqlite")
    assert merged.merge(halves[0]) + merged.merge(halves[1]) == len(history.rows)
    assert merged.merge(halves[1]) == 0
    assert (
        merged.runs() == whole.runs() == sorted(history.rows, key=lambda r: (r.started_at, r.uid))
    )
    uid = next(r.uid for r in history.rows if r.uid in history.answers)
    assert merged.answers(uid) == whole.answers(uid) == history.answers[uid]
    merged.close()
    whole.close()


def test_a_malformed_or_partial_result_is_skipped_whole(tmp_path: Path) -> None:
    history = generate(6, jobs=4, runs=3, records=True)
    write_results(history, tmp_path)
    folders = sorted(tmp_path.glob("run-*/job"))
    (folders[0] / "result.json").write_text("{not json")
    # A record file cut mid-line: the run is not stored at all, not without its answers.
    records = folders[1] / "gsm8k.jsonl"
    records.write_text(records.read_text()[:-40])
    store = SqliteStore(tmp_path / "h.sqlite")
    report = ingest(store, [tmp_path])
    assert report.added == len(history.rows) - 2
    assert len(report.skipped) == 2 and all("\n" not in line for line in report.skipped)
    assert str(folders[1] / "result.json") in report.skipped[1]
    stored = {r.uid for r in store.runs()}
    assert len(stored) == report.added
    assert not store.db.execute(
        "SELECT 1 FROM answers WHERE uid NOT IN (SELECT uid FROM runs)"
    ).fetchall()
    store.close()


def test_a_store_newer_than_the_code_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    SqliteStore(path).close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(Exception, match="newer than this sglang-ci reads"):
        SqliteStore(path)


def v1_store(path: Path, rows: list[RunRow]) -> Path:
    """A store as schema 1 wrote it (the rehearsal flag in a column named ``stub``)."""
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.executescript(MIGRATIONS[0])
        db.execute("PRAGMA user_version = 1")
        for row in rows:
            values = {**row.__dict__, "phases": json.dumps(row.phases)}
            values["stub"] = int(values.pop("rehearsal"))
            names = ", ".join(values)
            db.execute(f"INSERT INTO runs ({names}) VALUES ({', '.join('?' for _ in values)})",
                       tuple(values.values()))  # fmt: skip
    return path


def test_a_schema_1_store_is_migrated_and_merged_keeping_the_rehearsal_flag(
    tmp_path: Path,
) -> None:
    history = generate(6, jobs=4, runs=8)
    rehearsals = [r for r in history.rows if r.rehearsal]
    rows = rehearsals[:3] + [r for r in history.rows if not r.rehearsal][:3]
    assert {r.rehearsal for r in rows} == {True, False}
    old = v1_store(tmp_path / "old.sqlite", rows)
    merged = SqliteStore(tmp_path / "new.sqlite")
    assert merged.merge(old) == len(rows)  # the older store is migrated, then merged
    assert sorted(merged.runs(), key=lambda r: r.uid) == sorted(rows, key=lambda r: r.uid)
    merged.close()
    store = SqliteStore(old)  # already at the current schema: opened as it is
    assert {r.uid: r.rehearsal for r in store.runs()} == {r.uid: r.rehearsal for r in rows}
    version = store.db.execute("PRAGMA user_version").fetchone()[0]
    store.close()
    assert version == SCHEMA_VERSION


def test_p90_durations_take_the_nearest_rank_of_model_runs() -> None:
    history = generate(8, jobs=4, runs=40)
    durations = p90_durations(history.rows, last=10)
    job = history.rows[-1].job
    recent = sorted(
        r.seconds
        for r in history.rows
        if r.job == job and not r.rehearsal and r.status in ("passed", "failed")
    )[-10:]
    mine = [
        r.seconds
        for r in history.rows
        if r.job == job and not r.rehearsal and r.status in ("passed", "failed")
    ][-10:]
    assert durations[job] == round(sorted(mine)[8], 1)
    assert len(recent) == 10
    assert all(seconds > 100 for seconds in durations.values())  # no stub run's 2 s


def test_cli_check_show_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sglang_ci.cli import main_exit_code

    history = generate(9, jobs=4, runs=60)
    write_results(history, tmp_path / "res")
    db = str(tmp_path / "h.sqlite")
    assert main_exit_code(["history", "ingest", str(tmp_path / "res"), "--db", db]) == 0
    assert main_exit_code(["history", "check", "--json", "--db", db]) == 1
    out = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert {f["kind"] for f in out["findings"]} == {
        "regression",
        "flaky",
        "threshold inside the noise",
    }
    assert out["suggestions"] == [
        f"quarantine {history.flaky_job}: flake rate {out['findings'][1]['evidence']['rate']:.0%}"
    ]
    assert main_exit_code(["history", "show", history.tight_job, "--db", db]) == 0
    shown = capsys.readouterr().out
    assert "a healthy build fails it with chance" in shown and "scores: min " in shown
    assert main_exit_code(["history", "show", "spec(model='m3')", "--db", db]) == 2
    assert "Perhaps you meant" in capsys.readouterr().err
    assert main_exit_code(["history", "check", "--db", str(tmp_path / "none")]) == 2
    assert main_exit_code(["history", "ingest", str(tmp_path / "nowhere"), "--db", db]) == 2


def test_check_on_a_healthy_history_finds_nothing(tmp_path: Path) -> None:
    from sglang_ci.cli import main_exit_code

    history = generate(10, jobs=6, runs=60)
    healthy = [
        r
        for r in history.rows
        if r.job not in (history.regression_job, history.flaky_job, history.tight_job)
    ]
    write_results(history, tmp_path / "res", healthy)
    db = str(tmp_path / "h.sqlite")
    assert main_exit_code(["history", "ingest", str(tmp_path / "res"), "--db", db]) == 0
    assert main_exit_code(["history", "check", "--db", db]) == 0


def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sglang_ci.cli import main_exit_code

    not_a_store = tmp_path / "notes.txt"
    not_a_store.write_text("hello " * 200)
    cases = [
        ["history", "check", "--db", str(not_a_store)],
        ["history", "check", "--noise-limit", "2", "--db", str(not_a_store)],
        ["history", "merge", str(tmp_path / "missing.sqlite"), "--db", str(tmp_path / "a")],
        ["dashboard", "--output", str(not_a_store / "site"), "--db", str(not_a_store)],
    ]
    SqliteStore(tmp_path / "ok.sqlite").close()
    cases.append(["dashboard", "--output", str(not_a_store), "--db", str(tmp_path / "ok.sqlite")])
    for args in cases:
        capsys.readouterr()
        assert main_exit_code(args) == 2, args
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, (args, err)


def test_question_flips_count_disagreements_within_a_commit_only() -> None:
    from sglang_ci.history.flaky import question_flips
    from sglang_ci.history.rows import Answers

    history = generate(12, jobs=4, runs=8)
    rows = [r for r in history.rows if r.job == history.tight_job]  # 4 commits x 2 runs
    flips = question_flips(rows, lambda uid: history.answers.get(uid, []))
    expected = 0
    for first, second in zip(rows[::2], rows[1::2], strict=True):
        a, b = history.answers[first.uid][0].correct, history.answers[second.uid][0].correct
        expected += sum(a[q] != b[q] for q in a)
    assert (flips.commits, flips.questions, flips.flipped) == (4, 800, expected)
    assert expected > 0  # a nondeterministic engine flips some
    # Deterministic inference: every run of a commit answers alike, so nothing flips.
    same = {r.uid: [Answers("gsm8k", {q: q % 3 == 0 for q in range(200)})] for r in rows}
    assert question_flips(rows, lambda uid: same[uid]).flipped == 0


def test_a_job_with_stub_runs_only_shows_no_rate(tmp_path: Path) -> None:
    """Stub runs are never evidence: such a job has no pass rate, and the dashboard and
    `history show` say "-", not a 0% that reads as every run failed."""
    import datetime

    from sglang_ci.history.dashboard.site import write_site

    history = generate(3, jobs=4, runs=6)
    stub_rows = [row for row in history.rows if row.job == history.stub_job and row.rehearsal]
    assert stub_rows
    store = SqliteStore(tmp_path / "h.sqlite")
    for row in stub_rows:
        store.add(row, [])
    write_site(
        store, tmp_path / "site", datetime.datetime(2026, 2, 1, tzinfo=datetime.timezone.utc)
    )
    store.close()
    index = (tmp_path / "site" / "index.html").read_text()
    import html

    line = next(line for line in index.split("<tr>") if html.escape(history.stub_job) in line)
    cells = line.split("<td")
    assert ">-</td>" in cells[5] and ">-</td>" in cells[6], line  # pass rate, flake rate
    assert "0%" not in line
