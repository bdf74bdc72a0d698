"""A quarantined job runs and is reported, but neither fails its stage nor stops it
(fail-fast), on the stub: a job whose stub answers everything wrong fails its threshold
first, then a healthy job must still run and pass. No time limit is involved, so a
loaded machine changes nothing."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from tests.conftest import run_python, tagged_processes, write_quick_project
from tests.run.test_run_pipeline import env_for, result_of

CONFIG = """
[models.weak]
model-path = "org/weak"
env = { SGLANG_CI_STUB_ACCURACY = "0.0" }

[models.fast]
model-path = "org/fast"

[suites.quick]
axes = ["model"]
score = "gsm8k"
eval = { num-examples = 20, num-shots = 5, threads = 8 }

[stages.quarantined]
gpus = 1
runner = "r"
timeout = 30

[[stages.quarantined.jobs]]
suite = "quick"
model = "weak"
thresholds = { gsm8k = 0.5 }
est-time = 10

[[stages.quarantined.jobs]]
suite = "quick"
model = "fast"
thresholds = { gsm8k = 0.5 }
est-time = 10
"""


def stage_run(tmp_path: Path, tag: str) -> tuple[int, str]:
    results = tmp_path / "results"
    run = run_python(
        "-m", "sglang_ci", "run", "--stage", "quarantined", "--engine", "stub", "--config",
        str(tmp_path / "stages.toml"), "--results", str(results),
        env=env_for(tmp_path, tag), timeout=180,
    )  # fmt: skip
    return run.returncode, run.stdout + run.stderr


@pytest.mark.real_process
@pytest.mark.long
def test_a_quarantined_failure_neither_fails_nor_stops_the_stage(tmp_path: Path, tag: str) -> None:
    write_quick_project(tmp_path, CONFIG)
    expires = datetime.date.today() + datetime.timedelta(days=7)
    (tmp_path / "quarantine.toml").write_text(
        '[[quarantine]]\njob = "quick(model=\'weak\')"\nreason = "answers at random"\n'
        f'link = "https://example.org/issue/1"\nexpires = {expires}\n'
    )
    code, output = stage_run(tmp_path, tag)
    assert code == 0, output
    weak = result_of(tmp_path / "results", "quick(model='weak')")
    assert (weak["status"], weak["failure_kind"]) == ("failed", "below threshold")
    assert result_of(tmp_path / "results", "quick(model='fast')")["status"] == "passed"
    assert "quick(model='weak'): failed, quarantined (answers at random" in output
    # Run on its own, the quarantined job keeps its verdict: a contributor sees it fail.
    alone = run_python(
        "-m", "sglang_ci", "job", "quick(model='weak')", "--engine", "stub", "--config",
        str(tmp_path / "stages.toml"), "--results", str(tmp_path / "alone"),
        env=env_for(tmp_path, tag), timeout=180,
    )  # fmt: skip
    assert alone.returncode == 1, alone.stdout + alone.stderr
    assert tagged_processes(tag) == []
