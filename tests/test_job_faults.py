"""Every stub fault through the whole runner: a clear failure naming it, the server's log
tail, result.json written, a non-zero exit, and nothing left running or listening."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sglang_ci.ports import port_is_free

from .conftest import TAG_ENV, run_python, tagged_processes

pytestmark = pytest.mark.real_process

JOB = "spec(model='gemma4-31b', topk=3)"


def run_job(tmp_path: Path, tag: str, faults: str, *extra: str) -> tuple[int, str, dict]:  # type: ignore[type-arg]
    result = run_python(
        "-m", "sglang_ci", "job", JOB, "--engine", "stub", "--results", str(tmp_path), *extra,
        env={"SGLANG_CI_STUB_FAULTS": faults, TAG_ENV: tag,
             "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks")},
        timeout=120,
    )  # fmt: skip
    record = json.loads((tmp_path / "spec-model-gemma4-31b-topk-3" / "result.json").read_text())
    return result.returncode, result.stdout + result.stderr, record


def assert_nothing_left(tag: str, record: dict) -> None:  # type: ignore[type-arg]
    assert tagged_processes(tag) == []
    assert all(port_is_free(port) for port in record["ports"].values())
    for server in record["servers"]:
        assert server["teardown"]["survivors"] == []


@pytest.mark.parametrize(
    ("faults", "extra", "code", "message", "log_line"),
    [
        (
            "exit_on_start=3",
            (),
            5,
            "server exited with code 3 during start-up",
            "fault exit_on_start=3",
        ),
        (
            "never_healthy",
            ("--launch-timeout", "2"),
            5,
            "server not ready after 2.0 s",
            "fault never_healthy",
        ),
        (
            "slow_start=30",
            ("--launch-timeout", "1.5"),
            5,
            "server not ready after 1.5 s",
            "faults: slow_start",
        ),
        ("crash_after=0", (), 1, "connection lost", "fault crash_after=0: crashing"),
        ("error_rate=1", (), 1, "/generate answered 500", None),
        (
            "slow_answer=5",
            ("--request-timeout", "1"),
            1,
            "/generate gave no answer within 1 s",
            None,
        ),
    ],
)
def test_fault_fails_clearly_and_leaves_nothing(
    tmp_path: Path,
    tag: str,
    faults: str,
    extra: tuple[str, ...],
    code: int,
    message: str,
    log_line: str | None,
) -> None:
    exit_code, output, record = run_job(tmp_path, tag, faults, *extra)
    assert exit_code == code, output
    assert record["status"] == "error" and message in record["reason"]
    assert message in output
    if log_line:
        assert log_line in output, "the failure shows the server's log tail"
    assert_nothing_left(tag, record)


@pytest.mark.parametrize("faults", ["orphans=3", "orphans=2,ignore_sigterm"])
def test_reparented_helpers_are_reaped(tmp_path: Path, tag: str, faults: str) -> None:
    exit_code, output, record = run_job(tmp_path, tag, faults)
    assert exit_code == 4, output  # launched and checked; the suite is not in this version
    teardown = record["servers"][0]["teardown"]
    ended = teardown["terminated"] + teardown["killed"]
    assert ended >= int(faults.split(",")[0].split("=")[1]) + 1
    if "ignore_sigterm" in faults:
        assert teardown["killed"] >= 1
    assert_nothing_left(tag, record)


def test_healthy_stub_job_records_its_phases(tmp_path: Path, tag: str) -> None:
    exit_code, output, record = run_job(tmp_path, tag, "")
    assert exit_code == 4, output
    assert set(record["phases"]) == {"launch", "checks", "suite", "teardown"}
    assert record["server_info"]["server"]["speculative_eagle_topk"] == 3
    assert (tmp_path / "spec-model-gemma4-31b-topk-3" / "server.log").read_text().count("ready")
    assert_nothing_left(tag, record)
