"""Partitions, the GitHub matrix, retries, reports (stages of the fixture config) and the
workflows' agreement with the project's stages.toml."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from sglang_ci.cli import main_exit_code
from sglang_ci.config.errors import UsageError
from sglang_ci.config.model import load_config
from sglang_ci.outcome.kinds import FailureKind
from sglang_ci.outcome.retry import classify
from sglang_ci.outcome.verdict import Verdict
from sglang_ci.plan.github_matrix import GITHUB_MATRIX_CAP, StagePlan, matrix, plan_stage
from sglang_ci.plan.partition import (
    Partition,
    lower_bound,
    parse_partition,
    split,
    units_of,
)
from sglang_ci.results.report import collect, render, update_durations
from tests.conftest import FIXTURE_TOML, FIXTURES, run_python


def durations(count: int = 300, seed: int = 7) -> dict[str, float]:
    rng = random.Random(seed)
    return {f"test_{i:03d}": round(rng.lognormvariate(4.8, 1.0), 1) for i in range(count)}


def test_split_is_near_the_lower_bound_and_keeps_order() -> None:
    times = durations()
    ids = list(times)
    parts = split(ids, times, 8)
    assert sorted(i for p in parts for i in p.ids) == sorted(ids)  # each id exactly once
    for part in parts:
        assert list(part.ids) == sorted(part.ids, key=ids.index)
    bound = lower_bound(units_of(ids, times), 8)
    assert max(p.seconds for p in parts) <= bound * 1.02


@pytest.mark.real_process
def test_split_is_the_same_in_another_process(tmp_path: Path) -> None:
    times = durations()
    path = tmp_path / "durations.json"
    path.write_text(json.dumps(times))
    result = run_python("-m", "sglang_ci", "partition", "--durations", str(path),
                        "--partitions", "5")  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    here = split(sorted(times), times, 5)
    assert printed["partitions"] == [list(p.ids) for p in here]
    assert printed["predicted_seconds"] == [round(p.seconds, 1) for p in here]


def test_ties_are_broken_by_id() -> None:
    # LPT order a, b, c, d (equal times: by id) alternates partitions; each partition then
    # lists its jobs in the given order.
    parts = split(["b", "a", "c", "d"], dict.fromkeys("abcd", 10.0), 2)
    assert [p.ids for p in parts] == [("a", "c"), ("b", "d")]


def test_groups_stay_together_and_adjacent() -> None:
    times = durations(60)
    ids = list(times)
    groups = {job_id: "shared-launch" for job_id in ids[10:16]}
    for part in split(ids, times, 6, groups):
        members = [i for i in part.ids if i in groups]
        assert members in ([], ids[10:16])
        if members:
            start = part.ids.index(members[0])
            assert list(part.ids[start : start + 6]) == ids[10:16]


def test_stage_plan_uses_measured_durations() -> None:
    config = load_config(None, {}, FIXTURES)
    plan = plan_stage(config, "extra-a", 2, {"spec(model='gemma4-31b', topk=1)": 3000.0})
    longest = max(plan.partitions, key=lambda p: p.seconds)
    assert longest.ids == ("spec(model='gemma4-31b', topk=1)",)
    with pytest.raises(UsageError, match="only 5 units of work"):
        plan_stage(config, "extra-a", 8, {})


def test_matrix_entries_and_the_cap() -> None:
    config = load_config(None, {}, FIXTURES)
    entries = matrix(config, [plan_stage(config, "base-b", 2, {})])["include"]
    assert [e["partition"] for e in entries] == ["1/2", "2/2"]
    assert entries[0]["runner"] == "1-gpu-h100" and entries[0]["gpus"] == 1
    assert entries[1]["reproduce"] == "nox -s \"stage(name='base-b')\" -- --partition 2/2"
    too_many = [Partition(i, ("spec(model='gemma4-31b', topk=1)",), 1.0)
                for i in range(GITHUB_MATRIX_CAP + 1)]  # fmt: skip
    with pytest.raises(UsageError, match="GitHub accepts at most 256"):
        matrix(config, [StagePlan("extra-a", too_many)])


def test_run_partition_dry_run_lists_that_ci_job(capsys: pytest.CaptureFixture[str]) -> None:
    config_path = str(FIXTURE_TOML)
    assert main_exit_code(["run", "--stage", "base-b", "--partition", "2/2", "--dry-run",
                           "--config", config_path]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert out.startswith("stage base-b, partition 2/2: 1 jobs")
    assert "spec(model='llama-eagle3', topk=3)" in out and "topk=1)" not in out
    with pytest.raises(UsageError, match="expected K/N"):
        parse_partition("2-4")


# python/sglang/test/ci/ci_utils.py@6ed5780c4f is_retriable_failure / run_unittest_files,
# what each kind's output would match there: NON_RETRIABLE_PATTERNS win over the rest.
RETRY_CASES = [
    # "AssertionError:.*not greater than" (an accuracy floor): retriable.
    (Verdict.failure(FailureKind.BELOW_THRESHOLD, "gsm8k 0.6 < threshold 0.65"), True),
    # The except TimeoutError branch: "Retry once on timeout".
    (Verdict.failure(FailureKind.TIME_LIMIT, "ran past its time limit"), True),
    # RETRIABLE_PATTERNS "timeout".
    (Verdict.failure(FailureKind.REQUEST_TIMEOUT, "no answer within 600 s"), True),
    # INFRA_RETRIABLE_PATTERNS "Server failed to start within the timeout".
    (Verdict.failure(FailureKind.LAUNCH_TIMEOUT, "not ready within 1800 s"), True),
    # Any other AssertionError (a kit's settings assertion): "assuming retriable".
    (Verdict.failure(FailureKind.CHECK_FAILED, "server did not start with the settings"), True),
    # "ConnectionRefusedError" is non-retriable; other HTTP errors are "unknown".
    (Verdict.failure(FailureKind.TRANSIENT_HTTP, "http://x/generate answered 503: busy"),
     False),
    # The reason is never read: a threshold miss that mentions a crash is still a miss,
    # and a launch exit ("RuntimeError", "CUDA out of memory") is never retried.
    (Verdict.failure(FailureKind.BELOW_THRESHOLD, "exited with code 1 out of memory"), True),
    (Verdict.failure(FailureKind.LAUNCH_EXIT, "server exited with code 1", "CUDA out of memory"),
     False),
    (Verdict.failure(FailureKind.SERVER_DIED, "server exited with code -9 during the run"),
     False),
    (Verdict.failure(FailureKind.CONFIG, "bad"), False),
    (Verdict.failure(FailureKind.CANCELLED, "cancelled by SIGINT"), False),
    (Verdict.failure(FailureKind.INTERNAL, "internal error KeyError"), False),
    (Verdict.passed(), False),
]  # fmt: skip


@pytest.mark.parametrize(("verdict", "retriable"), RETRY_CASES)
def test_retry_classification(verdict: Verdict, retriable: bool) -> None:
    assert classify(verdict)[0] is retriable


def write_result(
    folder: Path, job: str, stage: str, status: str, dirname: str = "", **extra: Any
) -> None:
    path = folder / (dirname or job.replace("'", "")) / "result.json"
    path.parent.mkdir(parents=True)
    record = {"job": job, "stage": stage, "engine": "sglang", "gpus": 1, "status": status,
              "reason": extra.pop("reason", ""),
              "phases": {"launch": 10.0, "eval": 50.0}, "attempts": [], **extra}  # fmt: skip
    path.write_text(json.dumps(record))


def test_report_merges_results_with_one_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    artifacts = tmp_path / "artifacts"
    write_result(artifacts / "results-base-b-0", "spec(model='a', topk=1)", "base-b", "passed",
                 score=0.7, threshold=0.65, accept_length=3.1)  # fmt: skip
    write_result(artifacts / "results-base-b-1", "spec(model='a', topk=3)", "base-b", "failed",
                 score=0.6, threshold=0.65, reason="gsm8k 0.6 < threshold 0.65",
                 attempts=[{"attempt": 1}, {"attempt": 2}])  # fmt: skip
    write_result(artifacts / "results-extra-a-0", "disagg(model='b')", "extra-a", "passed")
    durations_file = tmp_path / "durations.json"
    durations_file.write_text(json.dumps({"old(model='x')": 5.0}))
    code = main_exit_code(["report", str(artifacts), "--durations", str(durations_file)])
    out = capsys.readouterr().out
    assert code == 1
    assert "### base-b: 1/2 passed" in out and "### extra-a: 1/1 passed" in out
    assert "| `spec(model='a', topk=3)` | **failed** | 0.6 / 0.65 |  | 60 s | 2 |" in out
    assert "- `spec(model='a', topk=3)`: gsm8k 0.6 < threshold 0.65" in out
    written = json.loads(durations_file.read_text())
    assert written == {
        "disagg(model='b')": 60.0,
        "old(model='x')": 5.0,
        "spec(model='a', topk=1)": 60.0,
        "spec(model='a', topk=3)": 60.0,
    }


def test_report_skips_earlier_attempts(tmp_path: Path) -> None:
    write_result(tmp_path, "job(model='a')", "s", "passed")
    write_result(tmp_path, "job(model='a')", "s", "failed", dirname="job-model-a-attempt-1")
    results = collect(tmp_path)
    assert [r.status for r in results] == ["passed"]
    assert "1/1 passed" in render(results)
    assert update_durations(tmp_path / "d.json", results) == 1


def test_unknown_stage_and_bad_durations_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main_exit_code(["run", "--stage", "base_b", "--config", str(FIXTURE_TOML),
                           "--dry-run"]) == 2  # fmt: skip
    assert "Perhaps you meant 'base-b'?" in capsys.readouterr().err
    bad = tmp_path / "d.json"
    bad.write_text('{"a": Infinity}')
    assert main_exit_code(["partition", "--durations", str(bad), "--partitions", "2"]) == 2
    assert "seconds >= 0" in capsys.readouterr().err
