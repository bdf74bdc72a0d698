"""Reading SGLang's registered test files (config/registered.py) and comparing splits.

Expected values come from SGLang at bytedance-iaas/sglang 6ed5780c4f:
python/sglang/test/ci/ci_register.py (``_parse_call_args``, ``effective_suite``,
``collect_tests``, ``auto_partition``) and test/run_suite.py (its glob, ``filter_tests``,
``validate_all_suites``). Our reader against the pinned releases' own collector, on a
checkout the check writes itself, is the contract's (contract/registered.py).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from sglang_ci.cli import main_exit_code
from sglang_ci.config.errors import ConfigError, UsageError
from sglang_ci.config.registered import read_registry
from sglang_ci.plan.registered_view import compare_suite, sglang_lpt
from tests.conftest import write_sglang_checkout

RUN_SUITE = """
PER_COMMIT_SUITES = {
    HWBackend.CPU: ["base-a-test-cpu"],
    HWBackend.CUDA: ["base-a-test-1-gpu-small", "base-b-test-1-gpu-small"],
}
NIGHTLY_SUITES = {HWBackend.CUDA: ["nightly-1-gpu"]}
OTHER_SUITES = {HWBackend.CUDA: ["stress"]}
"""
MAIN = '\nif __name__ == "__main__":\n    unittest.main()\n'


def checkout(tmp_path: Path, files: dict[str, str]) -> Path:
    return write_sglang_checkout(tmp_path, files, RUN_SUITE)


GOOD = {
    # stage + runner_config -> f"{stage}-test-{runner_config}" (effective_suite)
    "core/test_a.py": 'register_cuda_ci(est_time=120, stage="base-b", runner_config="1-gpu-small")'
    + MAIN,
    # legacy positional suite; the positional order is est_time, suite, nightly, disabled
    "core/test_b.py": 'register_cuda_ci(30, "nightly-1-gpu", True)\n'
    'register_cpu_ci(5, "base-a-test-cpu")' + MAIN,
    "core/test_c.py": 'register_cuda_ci(7.5, "base-b-test-1-gpu-small", False, "flaky")\n',
    # only module-level expression statements count; the call in a function does not
    "core/test_d.py": "register_cuda_ci(est_time=9, suite='stress')\n"
    "def f():\n    register_cuda_ci(est_time=1, suite='nope')\n" + MAIN,
    # run_suite.py's glob leaves these out; they carry no registration
    "core/__init__.py": "",
    "core/conftest.py": "",
    "cpu/utils.py": "",
    "run_tests.py": "",
}


def test_reads_registrations_as_ci_register_does(tmp_path: Path) -> None:
    registry = read_registry(checkout(tmp_path, GOOD))
    assert registry.suites(nightly=False) == {
        "base-b-test-1-gpu-small": {"test/registered/core/test_a.py": 120.0},
        "stress": {"test/registered/core/test_d.py": 9.0},
    }
    assert registry.suites(nightly=True) == {
        "nightly-1-gpu": {"test/registered/core/test_b.py": 30.0}
    }
    enabled, off = registry.select("base-b-test-1-gpu-small")
    assert [r.file for r in off] == ["test/registered/core/test_c.py"]
    assert off[0].disabled == "flaky" and [r.est_time for r in enabled] == [120.0]
    assert {r.backend for r in registry.registrations} == {"cuda", "cpu"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("register_cuda_ci(suite='stress')", "est_time must be a number"),
        (
            "register_cuda_ci(1, 'stress', stage='base-b', runner_config='1-gpu-small')",
            "give either stage and runner_config, or suite",
        ),
        ("register_cuda_ci(1, stage='base-b')", "give either stage and runner_config"),
        ("REASON = 'x'\nregister_cuda_ci(1, 'stress', disabled=REASON)", "must be a literal"),
        ("register_cuda_ci(1, 'stress', nightly='yes')", "nightly must be True or False"),
        ("register_cuda_ci(1, 'stress', timeout=3)", "unknown argument 'timeout'"),
        ("register_cuda_ci(1, 'stress', est_time=2)", "argument 'est_time' given twice"),
        (
            "register_cuda_ci(1, 'base-b-test-1-gpu-smal')",
            "is not a cuda suite of test/run_suite.py; did you mean 'base-b-test-1-gpu-small'?",
        ),
        (
            "register_cuda_ci(1, 'stress')\nregister_cuda_ci(2, 'stress')",
            "registered twice for cuda suite 'stress' (first at line 1)",
        ),
    ],
)
def test_malformed_registration_names_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    root = checkout(tmp_path, {"x/test_bad.py": text + MAIN})
    with pytest.raises(ConfigError) as error:
        read_registry(root)
    line = text.count("\n") + 1
    assert str(error.value).startswith(f"test/registered/x/test_bad.py:{line}: ")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_sanity_checks_of_run_suite(tmp_path: Path) -> None:
    # collect_tests(sanity_check=True): a file without registration is an error ...
    with pytest.raises(ConfigError, match=r"test_none.py:1: no register_\*_ci\(\) call"):
        read_registry(checkout(tmp_path / "a", {"test_none.py": "import os\n"}))
    # ... and so is an enabled file without an executable __main__ block
    no_main = {"test_nomain.py": "register_cuda_ci(1, 'stress')\n"}
    with pytest.raises(ConfigError, match=r"test_nomain\.py:1: no `if __name__"):
        read_registry(checkout(tmp_path / "b", no_main))
    # a `pass`-only main block runs nothing: ci_register requires a call in its body
    only_pass = "register_cuda_ci(1, 'stress')\nif __name__ == '__main__':\n    pass\n"
    with pytest.raises(ConfigError, match=r"no `if __name__"):
        read_registry(checkout(tmp_path / "c", {"test_pass.py": only_pass}))


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(checkout(tmp_path, GOOD))
    assert main_exit_code(["registered", root, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["disabled"] == 1
    assert payload["nightly"] == {"nightly-1-gpu": {"test/registered/core/test_b.py": 30.0}}
    assert main_exit_code(["registered", root, "--suite", "base-b-test-1-gpu-smal"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'base-b-test-1-gpu-small'?" in err
    assert main_exit_code(["registered", str(tmp_path / "test")]) == 2
    assert "not an SGLang checkout" in capsys.readouterr().err
    with pytest.raises(UsageError, match="give --partitions N"):
        main_exit_code_raising(["registered-partitions", root, "--suite", "stress"])


def main_exit_code_raising(argv: list[str]) -> int:
    from sglang_ci.cli import run

    return run(argv)


def test_sglang_lpt_and_ours() -> None:
    # auto_partition: longest first, each to the least-loaded shard (lowest index on
    # ties). 3,3,2,2,2 over two: [3,2,2] | [3,2] -> makespan 7; the optimum is 6 (3+3 |
    # 2+2+2), which our move/swap step finds. Lower bound max(12 / 2, 3) = 6.
    durations = {"a": 3.0, "b": 3.0, "c": 2.0, "d": 2.0, "e": 2.0}
    assert sglang_lpt(durations, 2) == [["a", "c", "e"], ["b", "d"]]
    assert compare_suite(durations, 2) == (6.0, 7.0, 6.0)
    # Ours starts from the same LPT and only ever shortens the longest shard.
    rng = random.Random(16)
    for _ in range(200):
        sample = {f"f{i}": float(rng.randint(1, 900)) for i in range(rng.randint(1, 40))}
        bound, theirs, ours = compare_suite(sample, rng.randint(1, 9))
        assert bound <= ours <= theirs
