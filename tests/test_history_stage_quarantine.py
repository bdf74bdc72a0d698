"""A quarantined job runs and is reported, but neither fails its stage nor stops it
(fail-fast), on the stub with the run pipeline's own small project."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from .conftest import run_python, tagged_processes
from .test_run_pipeline import env_for, project, result_of

__all__ = ["project"]  # the fixture, shared


@pytest.mark.real_process
def test_a_quarantined_timeout_neither_fails_nor_stops_the_stage(
    project: Path, tmp_path: Path, tag: str
) -> None:
    expires = datetime.date.today() + datetime.timedelta(days=7)
    (project.parent / "quarantine.toml").write_text(
        '[[quarantine]]\njob = "quick(model=\'slow\')"\nreason = "hangs under load"\n'
        f'link = "https://example.org/issue/1"\nexpires = {expires}\n'
    )
    results = tmp_path / "results"
    # 6 s: the slow job's stub answers in 30 s, so it times out; the fast job needs about a
    # second, with room for a loaded machine.
    run = run_python(
        "-m", "sglang_ci", "run", "--stage", "timeouts", "--engine", "stub", "--config",
        str(project), "--results", str(results), "--timeout", "6",
        env=env_for(tmp_path, tag), timeout=120,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert result_of(results, "quick(model='slow')")["status"] == "timeout"
    assert result_of(results, "quick(model='fast')")["status"] == "passed"  # not fail-fast
    assert "quick(model='slow'): timeout, quarantined (hangs under load" in run.stdout
    assert tagged_processes(tag) == []
