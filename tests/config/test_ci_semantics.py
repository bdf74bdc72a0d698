"""Run policy and shard counts as SGLang's CI has them. Expected values come from
SGLang's formulas, written here with their source:

- test/run_suite.py@6ed5780c4f: --timeout-per-file 1200, --enable-retry off,
  --max-attempts 2, --retry-wait-seconds 60, --retry-timeout-increase 600 (added to the
  per-file timeout when retry is on), --continue-on-error off;
- scripts/ci/utils/compute_partitions.py@6ed5780c4f: target = 0.75 * run_timeout_minutes
  * 60; size = ceil(coeff * total / (target - bias)), coeff <= 0 -> (1, 0); an error
  when size > files or bias >= target; max_parallel = max(size // 3, 1) unless
  full_parallel; base-a pinned to 1 with max_parallel = size.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import tomlkit

from sglang_ci.cli import main_exit_code
from sglang_ci.config.errors import UsageError
from sglang_ci.config.model import load_config
from sglang_ci.config.schema import StagePolicy
from sglang_ci.plan.github_matrix import matrix, plan_stage
from sglang_ci.plan.partition import shard_count
from sglang_ci.plan.policy import resolve
from tests.conftest import FIXTURE_TOML, ConfigEdit


def sglang_size(total: float, timeout_minutes: int, coeff: float = 1.0, bias: float = 0.0) -> int:
    """compute_partitions.py compute_partitions, one suite, no override."""
    if coeff <= 0:
        coeff, bias = 1.0, 0.0
    return max(1, math.ceil(coeff * total / (0.75 * timeout_minutes * 60 - bias)))


@pytest.mark.parametrize(
    ("total", "timeout", "coeff", "bias"),
    [(5000, 30, 1.0, 0.0), (5000, 30, 1.2, 100.0), (5000, 30, -1.0, 900.0), (10, 10, 1.0, 0.0),
     (40000, 60, 1.0, 0.0)],
)  # fmt: skip
def test_shard_count_is_compute_partitions(
    total: float, timeout: int, coeff: float, bias: float
) -> None:
    size = sglang_size(total, timeout, coeff, bias)
    shards = shard_count("s", total, 100, timeout, coeff=coeff, bias=bias)
    assert shards.size == size
    assert shards.max_parallel == max(size // 3, 1)
    assert shard_count("s", total, 100, timeout, coeff=coeff, bias=bias,
                       full_parallel=True).max_parallel == size  # fmt: skip


def test_shard_count_errors_and_the_pin() -> None:
    with pytest.raises(UsageError, match="needs 4 shards but has only 3 units"):
        shard_count("s", 5000, 3, 30)  # ceil(5000 / 1350) = 4 > 3
    with pytest.raises(UsageError, match="bias 1350 s >= the shard budget 1350 s"):
        shard_count("s", 5000, 30, 30, bias=1350)
    pinned = shard_count("base-a", 99999, 2, 10, pinned=1)  # _BASE_A_OVERRIDES
    assert (pinned.size, pinned.max_parallel) == (1, 1)


def test_command_line_and_stage_settings() -> None:
    stage = StagePolicy(timeout_per_job=900, enable_retry=True, max_attempts=3, retry_wait=5,
                        retry_timeout_increase=100, continue_on_error=True)  # fmt: skip
    policy = resolve(stage)
    assert (policy.attempts, policy.time_limit, policy.retry_wait) == (3, 1000, 5)
    assert policy.continue_on_error
    flags = resolve(StagePolicy(), timeout=30, enable_retry=True, max_attempts=4,
                    retry_wait=0, retry_timeout_increase=0, continue_on_error=True)  # fmt: skip
    assert (flags.attempts, flags.time_limit, flags.retry_wait, flags.fail_fast) == (
        4, 30, 0, False)  # fmt: skip
    # --max-attempts alone does nothing: run_suite.py loops `max_attempts if enable_retry else 1`.
    assert resolve(StagePolicy(), max_attempts=5).attempts == 1


def test_plan_and_matrix_show_the_policy(
    write_config: Callable[[ConfigEdit], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(_set("timeout-per-job", 1800))
    assert main_exit_code(["plan", "--stage", "base-b", "--config", str(path)]) == 0
    header = capsys.readouterr().out.splitlines()[1]
    assert header == ("  1 shard (0.75 x timeout each, at most 1 at once); each job: 1 attempt"
                      " (no retries), time limit 1800 s per SGLang file (its jobs share it),"
                      " fail-fast")  # fmt: skip
    # extra-a sets no timeout-per-job: run_suite.py's 1200 s, plus 600 s for the retry.
    assert main_exit_code(["matrix", "--stage", "extra-a", "--enable-retry",
                           "--continue-on-error", "--config", str(path)]) == 0  # fmt: skip
    printed = json.loads(capsys.readouterr().out)
    entry = printed["include"][0]
    assert (entry["attempts"], entry["time_limit_s"], entry["fail_fast"]) == (2, 1800, False)
    assert printed["max_parallel"] == 1


def _set(key: str, value: object) -> ConfigEdit:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["base-b"][key] = value

    return edit


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [("timeout-per-file", 10, "stages.base-b: unknown key 'timeout-per-file'"),
     ("timeout-per-job", -5, "stages.base-b.timeout-per-job: must be greater than 0"),
     ("timeout-per-job", float("inf"), "stages.base-b.timeout-per-job: expected a finite"),
     ("max-attempts", 0, "stages.base-b.max-attempts: must be greater than 0"),
     ("retry-wait", -1, "stages.base-b.retry-wait: must be 0 or more seconds"),
     ("enable-retry", "yes", "stages.base-b.enable-retry: expected")],
)  # fmt: skip
def test_bad_stage_settings_are_one_line(
    key: str, value: object, message: str, write_config: Callable[[ConfigEdit], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    path = write_config(_set(key, value))
    assert main_exit_code(["validate", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--timeout", "-1"], "--timeout must be a positive number"),
     (["--timeout", "nan"], "--timeout must be a positive number"),
     (["--max-attempts", "0"], "--max-attempts must be 1 or more"),
     (["--partition", "3/3"], "base-b: 3 partitions but only 2 units")],
)  # fmt: skip
def test_bad_run_options_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main_exit_code(["run", "--stage", "base-b", "--dry-run", "--config",
                           str(FIXTURE_TOML), *argv]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_matrix_throttle_from_stage_settings(
    write_config: Callable[[ConfigEdit], Path],
) -> None:
    path = write_config(_set("partitions", 2))
    config = load_config(str(path), {}, path.parent)
    plan = plan_stage(config, "base-b", None, {})
    assert (len(plan.partitions), plan.max_parallel) == (2, 2)  # pinned: max_parallel = size
    assert matrix(config, [plan])["max_parallel"] == 2
