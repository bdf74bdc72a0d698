"""How a registered file is run (config/registered_env.py) and counted (results/test_counts).

Expected values: bytedance-iaas/sglang 6ed5780c4f ``.github/workflows/_pr-test-stage.yml``
(job env; ``cd test``), ``python/sglang/test/ci/ci_utils.py`` (``["python3", path, "-f"]``),
``python/sglang/srt/debug_utils/cuda_coredump.py`` (the CUDA_* variables and dump folder);
the output formats are CPython's ``Lib/unittest/runner.py`` (``Ran N tests in``, ``OK``,
``FAILED (failures=1, errors=2, skipped=1)``) and pytest's terminal summary line.
"""

from __future__ import annotations

from pathlib import Path

from sglang_ci.config.registered_env import ci_env, file_command, workdir
from sglang_ci.results.test_counts import count_tests


def test_command_and_folder_are_run_suites() -> None:
    path = Path("/src/sglang/test/registered/core/test_x.py")
    assert file_command(path) == ["python3", "/src/sglang/test/registered/core/test_x.py", "-f"]
    assert workdir(Path("/src/sglang")) == Path("/src/sglang/test")


def test_ci_env_adds_the_stage_workflows_variables() -> None:
    env = ci_env("base-b-test-1-gpu-small", {"PATH": "/bin"})
    assert env["SGLANG_IS_IN_CI"] == "true" and env["SGLANG_CUDA_COREDUMP"] == "1"
    assert env["SGLANG_ENABLE_ASYNC_ASSERT"] == "true"
    assert env["SGLANG_JIT_DEEPGEMM_FAST_WARMUP"] == "true"
    assert env["CUDA_COREDUMP_FILE"] == "/tmp/sglang_cuda_coredumps/cuda_coredump_%h.%p.%t"
    assert ci_env("base-a-test-1-gpu-small", {})["SGLANG_ENABLE_ASYNC_ASSERT"] == "false"


def test_ci_env_leaves_what_the_caller_set() -> None:
    env = ci_env(None, {"SGLANG_CUDA_COREDUMP": "0", "SGLANG_IS_IN_CI": "false"})
    assert env["SGLANG_IS_IN_CI"] == "false"
    assert "CUDA_COREDUMP_FILE" not in env  # no injection without SGLANG_CUDA_COREDUMP
    run = ci_env(None, {"RUNNER_TEMP": "/rt", "GITHUB_RUN_ID": "7", "GITHUB_RUN_ATTEMPT": "2"})
    assert run["CUDA_COREDUMP_FILE"] == "/rt/sglang_cuda_coredumps/7-2/cuda_coredump_%h.%p.%t"


def test_unittest_counts() -> None:
    out = ["....", "---", "Ran 7 tests in 12.301s", "", "FAILED (failures=1, errors=2, skipped=1)"]
    assert count_tests(out) == {"tests": 7, "failures": 1, "errors": 2, "skipped": 1,
                                "passed": 3}  # fmt: skip
    assert count_tests(["Ran 1 test in 0.1s", "", "OK (skipped=1)"]) == {
        "tests": 1, "skipped": 1, "passed": 0,
    }  # fmt: skip


def test_pytest_counts_and_no_summary() -> None:
    line = "==== 2 failed, 5 passed, 1 skipped, 1 error in 3.21s ===="
    assert count_tests(["x", line]) == {"failures": 2, "passed": 5, "skipped": 1, "errors": 1,
                                        "tests": 9}  # fmt: skip
    assert count_tests(["Traceback (most recent call last):", "ImportError: torch"]) == {}
