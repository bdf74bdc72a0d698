"""A job's folder is one run's alone and starts clean; nothing of an earlier run is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sglang_ci.config.errors import UsageError
from sglang_ci.results.job_folder import claimed, is_earlier_run, require_writable
from sglang_ci.results.report import collect
from tests.conftest import ROOT, TAG_ENV, tagged_processes

JOB = "spec(model='a', topk=1)"


def test_an_earlier_run_is_moved_aside_not_deleted(tmp_path: Path) -> None:
    old = tmp_path / "spec-model-a-topk-1"
    old.mkdir()
    (old / "junit.xml").write_text("<passing/>")
    (tmp_path / "spec-model-a-topk-1-attempt-1").mkdir()
    with claimed(tmp_path, JOB) as folder:
        assert folder == old and not folder.exists()  # this run starts from nothing
    [earlier] = tmp_path.glob("spec-model-a-topk-1-earlier-*")
    assert (earlier / "spec-model-a-topk-1" / "junit.xml").read_text() == "<passing/>"
    assert (earlier / "spec-model-a-topk-1-attempt-1").is_dir()
    assert is_earlier_run(earlier / "spec-model-a-topk-1" / "result.json", tmp_path)


def test_a_second_run_of_the_same_job_is_refused_in_one_line(tmp_path: Path) -> None:
    refused = pytest.raises(UsageError, match=r"another run of this job is writing .* right now")
    with claimed(tmp_path, JOB), refused, claimed(tmp_path, JOB):
        pass
    with claimed(tmp_path, JOB):  # released: the next run may start
        pass


def test_results_must_be_a_writable_folder(tmp_path: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("")
    with pytest.raises(UsageError, match=r"--results .*file"):
        require_writable(afile)
    with pytest.raises(UsageError, match="--results"):
        require_writable(afile / "below")


def test_report_reads_only_final_results(tmp_path: Path) -> None:
    record = {"job": JOB, "stage": "s", "engine": "stub", "gpus": 1, "status": "passed"}
    for folder in ("spec-model-a-topk-1", "spec-model-a-topk-1-earlier-X/spec-model-a-topk-1"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "result.json").write_text(json.dumps(record))
    assert [r.job for r in collect(tmp_path)] == [JOB]


@pytest.mark.real_process
def test_two_runs_of_one_job_at_once(tmp_path: Path, tag: str) -> None:
    """The second is refused at once (exit 2, one line); the first completes untouched."""
    env = {TAG_ENV: tag, "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks"),
           "SGLANG_CI_STUB_FAULTS": "slow_start=1"}  # fmt: skip
    job = "spec(model='llama-eagle3', topk=1)"
    argv = [sys.executable, "-m", "sglang_ci", "job", job, "--engine", "stub", "--results",
            str(tmp_path / "results")]  # fmt: skip
    first = subprocess.Popen(argv, env={**os.environ, **env}, cwd=ROOT, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    folder = tmp_path / "results" / "spec-model-llama-eagle3-topk-1"
    while not (folder / "result.json").exists():
        assert first.poll() is None, "the first run ended before writing its result"
        time.sleep(0.05)
    second = subprocess.run(argv, env={**os.environ, **env}, cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert second.returncode == 2, second.stdout + second.stderr
    assert second.stderr.count("\n") == 1 and "another run of this job" in second.stderr
    output = first.communicate(timeout=120)[0]
    assert first.returncode == 0, output
    assert json.loads((folder / "result.json").read_text())["status"] == "passed"
    assert tagged_processes(tag) == []
