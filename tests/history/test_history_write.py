"""``history check --write`` records healthy runs in baselines.toml (never the stub's);
``matrix --from-history`` partitions by each job's measured p90."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import tomlkit

from sglang_ci.cli import main_exit_code
from sglang_ci.config.baselines import load_baselines
from sglang_ci.history.rows import RunRow
from sglang_ci.history.store import SqliteStore

JOB = "spec(model='llama-eagle3', topk=1)"
OTHER = "spec(model='llama-eagle3', topk=3)"
Writer = Callable[[Callable[[tomlkit.TOMLDocument], None]], Path]


def row(n: int, job: str, score: float, seconds: float = 60.0, stub: bool = False) -> RunRow:
    when = f"2026-01-01T{n // 60:02d}:{n % 60:02d}:00+00:00"
    status = "passed" if score >= 0.65 else "failed"
    return RunRow(f"r{n}/{job}", f"r{n}", job, "base-b", "stub" if stub else "sglang", stub,
                  status, None if status == "passed" else "below threshold", score, 0.65, ">=",
                  None, None, seconds, {"eval": seconds}, when, when, "0.5.9", f"c{n // 2}",
                  "" if stub else "NVIDIA H200")  # fmt: skip


def test_write_records_the_healthy_runs_and_never_the_stubs(
    write_config: Writer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(lambda doc: None)
    db = tmp_path / "h.sqlite"
    store = SqliteStore(db)
    scores = [0.64, 0.66, 0.67, 0.68, 0.66, 0.65, 0.69, 0.67, 0.66, 0.68, 0.67, 0.66]
    for n, score in enumerate(scores):
        store.add(row(n, JOB, score), [])
    for n in range(5):  # the stub on the same job: scores of 0.0, stored, never written
        store.add(row(100 + n, JOB, 0.0, stub=True), [])
    store.close()
    before = load_baselines(config.parent / "baselines.toml").get(JOB)
    assert main_exit_code(["history", "check", "--db", str(db), "--config", str(config),
                           "--write"]) == 1  # fmt: skip
    out = capsys.readouterr().out
    assert f"{JOB}: 12 runs written to" in out and "threshold inside the noise" in out
    written = load_baselines(config.parent / "baselines.toml")[JOB]
    new = written.runs[len(before.runs) if before else 0 :]
    assert sorted(s for r in new for s in [r.score] * r.repeat) == sorted(scores)
    assert all(r.score > 0 and r.engine == "sglang" for r in new)


def test_matrix_from_history_uses_the_p90(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import FIXTURE_TOML

    db = tmp_path / "h.sqlite"
    store = SqliteStore(db)
    for n in range(10):
        store.add(row(n, JOB, 0.7, seconds=100.0 + 10 * n), [])  # p90 (nearest rank): 180
        store.add(row(n, OTHER, 0.7, seconds=50.0), [])
    store.add(row(50, JOB, 0.7, seconds=5.0, stub=True), [])  # the stub's 5 s never count
    store.close()
    args = ["matrix", "--config", str(FIXTURE_TOML), "--stage", "base-b", "--partitions", "1"]
    assert main_exit_code(args) == 0
    assert json.loads(capsys.readouterr().out)["include"][0]["predicted_seconds"] == 300.0
    assert main_exit_code([*args, "--from-history", "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out)["include"][0]["predicted_seconds"] == 230.0
