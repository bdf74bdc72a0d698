"""Issue 20, item 18: job sessions run the runner on nox's own interpreter, never on
whatever ``python`` PATH names; the GPU release check says in one line that it needs
NVML."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, TAG_ENV, tagged_processes
from tests.e2e.test_noxfile import nox

pytestmark = pytest.mark.real_process

MARKER = "the python on PATH ran"


def test_job_session_runs_on_the_interpreter_that_runs_nox(tmp_path: Path, tag: str) -> None:
    """nox run from a venv that is not activated (this test's interpreter): the `python`
    first on PATH is another one (here one that only says it ran); the job must not use it."""
    system = tmp_path / "bin"
    system.mkdir()
    for name in ("python", "python3"):
        (system / name).write_text(f"#!/bin/sh\necho '{MARKER}' >&2\nexit 97\n")
        (system / name).chmod(0o755)
    results = tmp_path / "results"
    result = nox("-s", "sanity(model='llama3-8b')", "--", "--engine", "stub", "--results",
                 str(results), env={"PATH": f"{system}{os.pathsep}{os.environ['PATH']}",
                                    TAG_ENV: tag,
                                    "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks")})  # fmt: skip
    assert MARKER not in result.stderr, result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    assert (results / "sanity-model-llama3-8b" / "result.json").is_file()
    assert tagged_processes(tag) == []


def test_gpu_release_check_without_nvml_is_one_line(tmp_path: Path) -> None:
    from sglang_ci.launch import gpu_memory

    with gpu_memory.nvml() as lib:
        if lib is not None:
            pytest.skip("NVML is available here: the check would run for real")
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_release_check.py")],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "NVML" in lines[0], run.stderr
