"""One writer for the results of units that did not run (run/refused.py), and it records
the provenance of the environment the run was given, not of the runner's own process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sglang_ci.config.model import load_config
from sglang_ci.outcome.errors import GpuShortageError
from sglang_ci.run.options import RunOptions
from sglang_ci.run.refused import record_refused, skip_jobs, spent_job
from tests.conftest import FIXTURES

JOB = "spec(model='gemma4-31b', topk=3)"


def provenance(folder: Path) -> dict[str, object]:
    (result,) = folder.glob("*/result.json")
    block: dict[str, object] = json.loads(result.read_text())["provenance"]
    return block


@pytest.mark.parametrize("route", ["refused", "skipped", "spent"])
def test_the_env_passed_in_is_what_the_result_records(
    route: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_RUN_ID", "from-the-process")
    env = {"GITHUB_RUN_ID": "77", "GITHUB_RUN_ATTEMPT": "2", "CUDA_VISIBLE_DEVICES": "3"}
    job = load_config(None, {}, FIXTURES).find_job(JOB)
    options = RunOptions(results=str(tmp_path), engine="stub")
    if route == "refused":
        record_refused([job], tmp_path, "stub", GpuShortageError("too few GPUs"), env)
    elif route == "skipped":
        skip_jobs([job], options, "not run: fail-fast", env)
    else:
        spent_job(job, options, 10.0, env)
    recorded = provenance(tmp_path)
    assert (recorded["github_run_id"], recorded["github_run_attempt"]) == ("77", "2")
    assert recorded["cuda_visible_devices"] == "3"
