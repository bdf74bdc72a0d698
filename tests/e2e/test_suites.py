"""Each suite passing and failing on the stub engine, through the whole job runner."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from sglang_ci.results.result_file import job_dir_name
from tests.conftest import TAG_ENV, ConfigEdit, run_python, tagged_processes

pytestmark = pytest.mark.real_process


def run_job(
    tmp_path: Path,
    tag: str,
    job: str,
    env: dict[str, str] | None = None,
    config: Path | None = None,
) -> tuple[int, str, dict[str, Any]]:
    extra = ["--config", str(config)] if config else []
    result = run_python(
        "-m", "sglang_ci", "job", job, "--engine", "stub", "--results", str(tmp_path), *extra,
        env={TAG_ENV: tag, "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks"), **(env or {})},
        timeout=180,
    )  # fmt: skip
    record = json.loads((tmp_path / job_dir_name(job) / "result.json").read_text())
    assert tagged_processes(tag) == []
    return result.returncode, result.stdout + result.stderr, record


@pytest.mark.parametrize(
    ("job", "checks"),
    [
        (
            "spec(model='llama-eagle3', topk=3)",
            ["server-settings", "gsm8k", "accept-length"],
        ),
        (  # SGLang's order: unittest runs test_accuracy_floor (HellaSwag) first
            "sanity(model='llama-eagle3')",
            ["server-settings", "hellaswag", "fwd-occupancy", "accept-length"],
        ),
        ("sanity(model='llama3-8b')", ["server-settings", "hellaswag", "fwd-occupancy"]),
        ("disagg(model='dsv4-flash')", ["server-settings", "gsm8k"]),
    ],
)
def test_suite_passes_on_the_stub(tmp_path: Path, tag: str, job: str, checks: list[str]) -> None:
    code, output, record = run_job(tmp_path, tag, job, {"SGLANG_CI_STUB_ACCURACY": "1.0"})
    assert code == 0, output
    assert record["status"] == "passed"
    assert [c["check"] for c in record["checks"]] == checks
    assert all(c["passed"] for c in record["checks"])
    assert set(record["phases"]) == {"launch", "checks", "eval", "teardown"}
    assert record["engine_version"].startswith("sglang-ci-stub")
    scored = next(c for c in record["checks"] if c["check"] in ("gsm8k", "hellaswag"))
    assert record["score"] == scored["value"] == 1.0
    assert record["threshold"] == scored["threshold"]
    out = tmp_path / job_dir_name(job)
    suite = ElementTree.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and suite.get("name") == job
    for server in record["servers"]:
        assert (out / f"{server['role']}.log").is_file()
    assert record["server_args"]


def test_threshold_miss_fails_with_score_and_threshold(
    tmp_path: Path, tag: str, write_config: Callable[[ConfigEdit], Path]
) -> None:
    job = "spec(model='llama-eagle3', topk=1)"

    def subtest_loop(doc: tomlkit.TOMLDocument) -> None:  # as SGLang's topk files: no retry
        doc["stages"]["base-b"]["jobs"][0]["test-retries"] = 0

    summary_path = tmp_path / "summary.md"
    env = {"SGLANG_CI_STUB_ACCURACY": "0.2", "GITHUB_STEP_SUMMARY": str(summary_path)}
    code, output, record = run_job(tmp_path, tag, job, env, config=write_config(subtest_loop))
    assert code == 1, output
    assert record["status"] == "failed" and record["failure_kind"] == "below threshold"
    assert f"test_gsm8k: gsm8k {record['score']:.4g} not >= 0.65 ({job})" \
        in record["reason"]  # fmt: skip
    assert record["score"] < 0.65 and record["threshold"] == 0.65
    records = (tmp_path / job_dir_name(job) / "gsm8k.jsonl").read_text().splitlines()
    assert len(records) == 55  # the shipped sample: 60 lines, 5 of them shots
    summary = summary_path.read_text()
    assert "| gsm8k |" in summary and "**FAIL**" in summary
    # `python3 FILE -f`: the accept length after the failed score is never read, and the
    # topk loop's subTest is not retried (test-retries = 0).
    assert "| accept-length |" not in summary and record["test_retries"] == []


def test_accept_length_floor(tmp_path: Path, tag: str) -> None:
    job = "spec(model='llama-eagle3', topk=3)"
    code, output, record = run_job(tmp_path, tag, job, {"SGLANG_CI_STUB_ACCEPT_LENGTH": "1.2"})
    assert code == 1, output
    assert "accept-length 1.2 not >= 1.5" in record["reason"]
    assert record["accept_length"] == 1.2


def test_occupancy_probe_needs_the_device_timer(
    tmp_path: Path, tag: str, write_config: Callable[[ConfigEdit], Path]
) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        del doc["models"]["llama3-8b"]["env"]

    config = write_config(edit)
    code, output, record = run_job(tmp_path, tag, "sanity(model='llama3-8b')", config=config)
    assert code == 1, output
    assert "SGLANG_ENABLE_METRICS_DEVICE_TIMER=1" in record["reason"]


def test_disagg_below_its_floor(tmp_path: Path, tag: str) -> None:
    code, output, record = run_job(tmp_path, tag, "disagg(model='dsv4-flash')",
                                   {"SGLANG_CI_STUB_ACCURACY": "0.5"})  # fmt: skip
    assert code == 1, output
    assert "not > 0.95" in record["reason"]


def test_sanity_below_its_hellaswag_floor(tmp_path: Path, tag: str) -> None:
    code, output, record = run_job(tmp_path, tag, "sanity(model='llama3-8b')",
                                   {"SGLANG_CI_STUB_ACCURACY": "0.2"})  # fmt: skip
    assert code == 1, output
    assert record["status"] == "failed" and "hellaswag" in record["reason"]
    assert "not > 0.6" in record["reason"]


def test_server_death_during_the_eval_is_no_threshold_miss(tmp_path: Path, tag: str) -> None:
    # The smoke request is number 1; the server dies on GSM8K's 11th request.
    code, output, record = run_job(tmp_path, tag, "spec(model='llama-eagle3', topk=1)",
                                   {"SGLANG_CI_STUB_FAULTS": "crash_after=10"})  # fmt: skip
    assert code == 5, output
    assert record["status"] == "error" and record["failure_kind"] == "server died"
    assert "server exited with code 1" in record["reason"]
    assert "fault crash_after=10: crashing" in record["diagnostics"]  # the log tail


def test_server_death_while_helpers_hold_its_socket(tmp_path: Path, tag: str) -> None:
    """The main process dies, two helpers keep its socket open: requests would hang until
    the 600 s request timeout. The liveness watch ends the eval within seconds."""
    faults = {"SGLANG_CI_STUB_FAULTS": "crash_after=10,orphans=2"}
    code, output, record = run_job(tmp_path, tag, "spec(model='llama-eagle3', topk=1)",
                                   faults)  # fmt: skip
    assert code == 5, output
    assert record["failure_kind"] == "server died"
    assert "server exited with code 1 during the run" in record["reason"]
    assert record["phases"]["eval"] < 5.0, record["phases"]
    assert record["servers"][0]["teardown"]["survivors"] == []


def test_cancel_during_the_eval(tmp_path: Path, tag: str) -> None:
    """SIGINT while the fwd_occupancy probe runs: pytest stops, all is torn down at once."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    job = "sanity(model='llama3-8b')"
    env = {**os.environ, TAG_ENV: tag, "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks")}
    runner = subprocess.Popen(
        [sys.executable, "-m", "sglang_ci", "job", job, "--engine", "stub",
         "--results", str(tmp_path)],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    result_file = tmp_path / job_dir_name(job) / "result.json"
    try:
        # HellaSwag runs first (SGLang's order), twice; a few quick probes, the probe's
        # warm-up and 1 s settle follow, then its 4-second measurement.
        repeat = tmp_path / job_dir_name(job) / "hellaswag.json"  # written after both passes
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not repeat.exists():
            time.sleep(0.05)
        time.sleep(2.5)  # inside the probe's 4-second measurement
        runner.send_signal(signal.SIGINT)
        output = runner.communicate(timeout=10)[0].decode()  # GitHub's whole window
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 130, output
    record = json.loads(result_file.read_text())
    assert record["status"] == "cancelled"
    checks = {c["check"] for c in record["checks"]}
    assert "hellaswag" in checks and "fwd-occupancy" not in checks  # stopped in the probe
    assert tagged_processes(tag) == []


def test_threshold_miss_is_retried_and_attempts_recorded(tmp_path: Path, tag: str) -> None:
    job = "spec(model='llama-eagle3', topk=1)"
    result = run_python(
        "-m", "sglang_ci", "job", job, "--engine", "stub", "--results", str(tmp_path),
        "--enable-retry", "--retry-wait", "0",
        env={TAG_ENV: tag, "SGLANG_CI_STUB_ACCURACY": "0.2",
             "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks")},
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    record = json.loads((tmp_path / job_dir_name(job) / "result.json").read_text())
    assert [a["attempt"] for a in record["attempts"]] == [1, 2]
    # ci_utils.py@6ed5780c4f: an accuracy assertion ("not greater than") is retriable.
    assert record["attempts"][0]["why"] == "accuracy assertion (not greater than)"
    assert (tmp_path / f"{job_dir_name(job)}-attempt-1" / "gsm8k.jsonl").is_file()
    assert tagged_processes(tag) == []


def test_time_limit_tears_down_and_is_not_retried_past_attempts(tmp_path: Path, tag: str) -> None:
    job = "spec(model='llama-eagle3', topk=1)"
    result = run_python(
        "-m", "sglang_ci", "job", job, "--engine", "stub", "--results", str(tmp_path),
        "--timeout", "3",
        env={TAG_ENV: tag, "SGLANG_CI_STUB_FAULTS": "slow_answer=60",
             "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks")},
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 124, result.stdout + result.stderr
    record = json.loads((tmp_path / job_dir_name(job) / "result.json").read_text())
    assert record["status"] == "timeout" and "time limit of 3 s" in record["reason"]
    assert tagged_processes(tag) == []


@pytest.mark.long
def test_jobs_with_identical_servers_share_one_launch(
    tmp_path: Path, tag: str, write_config: Callable[[ConfigEdit], Path]
) -> None:
    """A spec job on the EAGLE3 sanity model starts exactly the same server."""

    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["base-a"]["jobs"].append(
            {
                "suite": "spec",
                "model": "llama-eagle3",
                "thresholds": {"gsm8k": 0.5},
                "est-time": 100,
            }
        )

    config_path = write_config(edit)
    from sglang_ci.config.model import load_config
    from sglang_ci.plan.github_matrix import plan_stage

    config = load_config(str(config_path), {}, tmp_path)
    shared = {"sanity(model='llama-eagle3')", "spec(model='llama-eagle3')"}
    for part in plan_stage(config, "base-a", 2, {}).partitions:
        assert shared <= set(part.ids) or not shared & set(part.ids)  # kept together

    result = run_python(
        "-m", "sglang_ci", "run", "--stage", "base-a", "--engine", "stub", "--config",
        str(config_path), "--results", str(tmp_path / "results"),
        env={TAG_ENV: tag, "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks")}, timeout=180,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "one launch for 2 jobs: sanity(model='llama-eagle3'), spec(model='llama-eagle3')" \
        in output  # fmt: skip
    results = tmp_path / "results"
    spec = json.loads((results / job_dir_name("spec(model='llama-eagle3')") / "result.json")
                      .read_text())  # fmt: skip
    assert spec["status"] == "passed" and spec["launched_by"] == "sanity(model='llama-eagle3')"
    assert "launch" not in spec["phases"]
    assert (results / job_dir_name("sanity(model='llama-eagle3')") / "server.log").is_file()
    assert not (results / job_dir_name("spec(model='llama-eagle3')") / "server.log").exists()
    assert tagged_processes(tag) == []
