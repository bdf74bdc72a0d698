"""Every stub fault through the whole runner: a clear failure naming it, the server's log
tail, result.json written, a non-zero exit, and nothing left running or listening."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from sglang_ci.launch.ports import listening
from tests.conftest import TAG_ENV, run_python, tagged_processes

pytestmark = pytest.mark.real_process

JOB = "spec(model='gemma4-31b', topk=3)"


def run_job(tmp_path: Path, tag: str, faults: str, *extra: str) -> tuple[int, str, Any]:
    result = run_python(
        "-m", "sglang_ci", "job", JOB, "--engine", "stub", "--results", str(tmp_path), *extra,
        env={"SGLANG_CI_STUB_FAULTS": faults, TAG_ENV: tag,
             "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks")},
        timeout=120,
    )  # fmt: skip
    record = json.loads((tmp_path / "spec-model-gemma4-31b-topk-3" / "result.json").read_text())
    return result.returncode, result.stdout + result.stderr, record


def assert_nothing_left(tag: str, record: Any) -> None:
    assert tagged_processes(tag) == []
    assert listening(list(record["ports"].values())) == []
    for server in record["servers"]:
        assert server["teardown"]["survivors"] == []


FAULTS = [
    # (faults, extra runner options, exit code, failure kind, message pattern, line of the
    # server's log)
    ("exit_on_start=3", [], 5, "launch exit", "server exited with code 3 during start-up",
     "fault exit_on_start=3"),
    ("never_healthy", ["--launch-timeout", "2"], 5, "launch timeout",
     r"server not ready after \d+\.\d s", "fault never_healthy"),
    ("slow_start=30", ["--launch-timeout", "1.5"], 5, "launch timeout",
     r"server not ready after \d+\.\d s", "faults: slow_start"),
    # The smoke request dies with the server: the liveness watch (or the failed request
    # seeing the exit) names the death, not the lost connection.
    ("crash_after=0", [], 5, "server died",
     "server (exited with code 1 during the run|died during the run; .*connection lost)",
     "fault crash_after=0: crashing"),
    ("error_rate=1", [], 1, "transient HTTP", "/generate answered 500",
     "fault error_rate=1: answering 500"),
    ("slow_answer=5", ["--request-timeout", "1"], 1, "request timeout",
     "/generate gave no answer within 1 s", "fault slow_answer=5: answering late"),
]  # fmt: skip


@pytest.mark.parametrize(("faults", "extra", "code", "kind", "message", "log_line"), FAULTS)
def test_fault_fails_clearly_and_leaves_nothing(
    tmp_path: Path, tag: str, faults: str, extra: list[str], code: int, kind: str, message: str,
    log_line: str,
) -> None:  # fmt: skip
    exit_code, output, record = run_job(tmp_path, tag, faults, *extra)
    assert exit_code == code, output
    assert record["status"] == "error"
    assert record["failure_kind"] == kind
    assert re.search(message, record["reason"], re.S), record["reason"]
    assert "\n" not in record["reason"], "the reason is one line; log tails go to diagnostics"
    assert re.search(message, output, re.S), output
    assert log_line in record["diagnostics"], "the failure carries the server's log tail"
    assert "last 50 lines of" in record["diagnostics"]
    assert_nothing_left(tag, record)


@pytest.mark.parametrize("faults", ["orphans=3", "orphans=2,ignore_sigterm", "escapees=2"])
def test_reparented_helpers_are_reaped(tmp_path: Path, tag: str, faults: str) -> None:
    exit_code, output, record = run_job(tmp_path, tag, faults)
    assert exit_code == 0, output
    teardown = record["servers"][0]["teardown"]
    helpers = int(faults.split(",")[0].split("=")[1])
    if faults.startswith("escapees"):
        # Out of the group and the session: only the subreaper sweep finds them.
        assert f"ending {helpers} process(es) that escaped" in output
    else:
        assert teardown["terminated"] + teardown["killed"] >= helpers + 1
    if "ignore_sigterm" in faults:
        assert teardown["killed"] >= 1
    assert_nothing_left(tag, record)


def test_healthy_stub_job_records_its_phases(tmp_path: Path, tag: str) -> None:
    exit_code, output, record = run_job(tmp_path, tag, "")
    assert exit_code == 0, output
    assert set(record["phases"]) == {"launch", "checks", "eval", "teardown"}
    assert record["server_info"]["server"]["speculative_eagle_topk"] == 3
    assert "ready at" in (tmp_path / "spec-model-gemma4-31b-topk-3" / "server.log").read_text()
    assert_nothing_left(tag, record)


def test_one_transient_500_on_the_smoke_request_is_sent_again(tmp_path: Path, tag: str) -> None:
    """The smoke /generate gets the eval requests' transient policy: one 500 is no verdict."""
    exit_code, output, record = run_job(tmp_path, tag, "fail_first=1")
    assert exit_code == 0, output
    assert record["status"] == "passed"
    assert "fault fail_first=1: answering 500 to request 1" in (
        tmp_path / "spec-model-gemma4-31b-topk-3" / "server.log").read_text()  # fmt: skip
    assert_nothing_left(tag, record)


def test_an_html_answer_is_one_clear_line(tmp_path: Path, tag: str) -> None:
    exit_code, output, record = run_job(tmp_path, tag, "html_answers")
    assert exit_code == 1, output
    assert record["failure_kind"] == "check failed"
    assert record["reason"].endswith("/generate answered without a 'text' field")
    assert "Traceback" not in output
    assert_nothing_left(tag, record)


def test_a_crash_mid_eval_prints_one_short_block(tmp_path: Path, tag: str) -> None:
    """One failure, one clear block: the verdict, the exit code, the log tail; no pages of
    warnings and tracebacks."""
    exit_code, output, _record = run_job(tmp_path, tag, "crash_after=10")
    assert exit_code == 5
    assert len(output.splitlines()) < 40, output
    assert "Traceback" not in output
