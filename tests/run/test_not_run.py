"""One writer for the results of units that did not run (run/refused.py), and it records
the provenance of the environment the run was given, not of the runner's own process."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import tomlkit

from sglang_ci.config.model import load_config
from sglang_ci.config.schema import FileJob
from sglang_ci.outcome.errors import GpuShortageError
from sglang_ci.run.options import RunOptions
from sglang_ci.run.refused import record_refused, skip_jobs, spent_job
from tests.conftest import FIXTURES, ConfigEdit

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


def test_a_refused_unit_records_sglangs_suite_name(
    tmp_path: Path, write_config: Callable[[ConfigEdit], Path]
) -> None:
    """A job carries its stage's SGLang suite; a registered file the suite it is
    registered in (the report lists them to find the run on SGLang's dashboards)."""

    def name_suite(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["extra-a"]["sglang-suite"] = "extra-a-test-2-gpu-large"

    path = write_config(name_suite)
    job = load_config(str(path), {}, path.parent).find_job(JOB)
    file = FileJob("test/registered/core/test_a.py", "registered-b", "base-b-test-1-gpu-small",
                   tmp_path, 60.0, 1)  # fmt: skip
    results = tmp_path / "results"
    record_refused([job, file], results, "stub", GpuShortageError("too few GPUs"), {})
    suites = {(r := json.loads(p.read_text()))["job"]: r["sglang_suite"]
              for p in results.glob("*/result.json")}  # fmt: skip
    assert suites == {JOB: "extra-a-test-2-gpu-large", file.id: "base-b-test-1-gpu-small"}
