"""A stage declared as SGLang's registered files: ``registered = { suite, checkout }``.

The checkout is synthetic (written here, as SGLang lays it out): ``test/run_suite.py``
with its suite lists and ``test/registered/**`` files that call ``register_cuda_ci``.
Expected behaviour is SGLang's at bytedance-iaas/sglang 6ed5780c4f:
- ``python/sglang/test/ci/ci_utils.py`` run_unittest_files: each file runs as
  ``python3 <absolute file> -f`` from run_suite's folder (``test/``), one after another;
  the first failure stops the rest unless continue-on-error; with retries on, a failure
  is retried when its output matches is_retriable_failure's patterns;
- ``test/run_suite.py``: disabled registrations are left out; est_time per file;
- ``scripts/ci/utils/compute_partitions.py``: shards = ceil(total est / (0.75 x timeout)).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sglang_ci.cli import main_exit_code
from sglang_ci.config.errors import ConfigError
from sglang_ci.config.model import load_config
from sglang_ci.config.schema import Config
from sglang_ci.launch.ledger import LEDGER_ENV
from sglang_ci.outcome.retry import classify_file
from sglang_ci.outcome.verdict import Status, Verdict
from sglang_ci.results.result_file import JobResult
from tests.conftest import (
    FIXTURE_TOML,
    FIXTURES,
    ROOT,
    TAG_ENV,
    run_python,
    tagged_processes,
    write_sglang_checkout,
)

RUN_SUITE = """
PER_COMMIT_SUITES = {HWBackend.CUDA: ["base-b-test-1-gpu-small", "base-a-test-1-gpu-small"]}
NIGHTLY_SUITES = {HWBackend.CUDA: ["nightly-1-gpu"]}
"""
# A registered file as SGLang writes one; the registration call is a no-op here (SGLang's
# imports it from sglang.test.ci.ci_register).
HEAD = "import os, sys, unittest\ndef register_cuda_ci(**_):\n    pass\n"
MAIN = '\nif __name__ == "__main__":\n    unittest.main()\n'


def registered(est: int, body: str, *, suite: str = "base-b", extra: str = "") -> str:
    call = f'register_cuda_ci(est_time={est}, stage="{suite}", runner_config="1-gpu-small"{extra})'
    test = f"class T(unittest.TestCase):\n    def test_it(self):\n        {body}\n"
    return f"{HEAD}{call}\n{test}{MAIN}"


PASSES = "self.assertTrue(True)"
# The cwd and environment run_suite gives a file, written down where the test can read it.
RECORDS = ('open(os.environ["SYN_RECORD"], "a").write(os.getcwd() + " "'
           ' + os.environ.get("SGLANG_IS_IN_CI", "-") + " " + sys.argv[-1] + "\\n")')  # fmt: skip
ACCURACY = 'self.assertGreater(0.5, 0.6, "accuracy too low")'
CODE_ERROR = "undefined_name"  # a NameError: never retried

FILES = {
    "core/test_a.py": registered(100, RECORDS),
    "core/test_b.py": registered(300, PASSES),
    "core/test_c.py": registered(50, PASSES),
    "core/test_off.py": registered(10, PASSES, extra=', disabled="flaky"'),
    "other/test_a_only.py": registered(20, PASSES, suite="base-a"),
}


def write_checkout(root: Path, files: dict[str, str], run_suite: str = RUN_SUITE) -> Path:
    return write_sglang_checkout(root, files, run_suite)


STAGE = """
[stages.files-b]
description = "SGLang's own base-b files"
gpus = 1
runner = "1-gpu-small"
timeout = 10
registered = {{ suite = "base-b-test-1-gpu-small", checkout = "{checkout}" }}
"""


def write_config(tmp_path: Path, files: dict[str, str] = FILES, stage: str = STAGE,
                 checkout: str = "sglang", run_suite: str = RUN_SUITE) -> Path:  # fmt: skip
    write_checkout(tmp_path / "sglang", files, run_suite)
    path = tmp_path / "stages.toml"
    path.write_text(FIXTURE_TOML.read_text() + stage.format(checkout=checkout))
    shutil.copy(FIXTURES / "baselines.toml", tmp_path / "baselines.toml")
    return path


def load(path: Path) -> Config:
    return load_config(str(path), {}, path.parent)


def test_the_suites_enabled_files_become_the_stages_file_jobs(tmp_path: Path) -> None:
    config = load(write_config(tmp_path))  # checkout relative to stages.toml's folder
    stage = config.stages["files-b"]
    ids = ["test/registered/core/test_a.py", "test/registered/core/test_b.py",
           "test/registered/core/test_c.py"]  # fmt: skip
    assert list(stage.files) == ids and stage.jobs == ()
    assert [config.files[i].est_time for i in ids] == [100.0, 300.0, 50.0]
    assert stage.registered is not None and stage.registered.disabled == 1
    assert config.files[ids[0]].checkout == (tmp_path / "sglang").resolve()
    assert config.files[ids[0]].session == "file(path='test/registered/core/test_a.py')"
    for text in (ids[0], " file(path='test/registered/core/test_a.py') ",
                 'file( path = "test/registered/core/test_a.py" )'):  # fmt: skip
        assert config.find_unit(text) == ids[0]


@pytest.mark.parametrize(
    ("stage", "checkout", "message"),
    [
        (STAGE, "nowhere", "stages.files-b.registered.checkout: "),
        (STAGE, "nowhere", "nowhere: no such folder; name an SGLang checkout's root"),
        (STAGE.replace("base-b-test-1-gpu-small", "base-b-test-1-gpu-smal"), "sglang",
         "stages.files-b.registered.suite: no cuda registration for suite"
         " 'base-b-test-1-gpu-smal'; did you mean 'base-b-test-1-gpu-small'?"),
        (STAGE.replace('checkout = "{checkout}"', 'checkout = "{checkout}", nigthly = true'),
         "sglang", "stages.files-b.registered: unknown key 'nigthly'"),
        (STAGE + STAGE.replace("files-b", "files-b2"), "sglang",
         "test/registered/core/test_a.py is also a file of stage files-b"),
        (STAGE.replace('checkout = "{checkout}"', 'checkout = "{checkout}", nightly = true'),
         "sglang", "suite 'base-b-test-1-gpu-small' has only per-commit cuda registrations;"
         " set nightly = false"),
        (STAGE.replace("base-b-test-1-gpu-small", "nightly-1-gpu"), "sglang",
         "suite 'nightly-1-gpu' has only nightly cuda registrations; set nightly = true"),
        (STAGE.replace("timeout = 10", "timeout = 10\npartitions = 4"), "sglang",
         "stage files-b: partitions = 4 but only 3 units of work; pin 3 or fewer"),
        (STAGE.replace("base-b-test-1-gpu-small", "base-b-test-2-gpu-large"),
         "sglang", "suite 'base-b-test-2-gpu-large' runs on 2-GPU runners but the stage has"
         " 1 GPU"),
    ],
)  # fmt: skip
def test_bad_registered_stages_fail_in_one_line(
    tmp_path: Path, stage: str, checkout: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        **FILES,
        "core/test_n.py": registered(10, PASSES, extra=", nightly=True").replace(
            'stage="base-b", runner_config="1-gpu-small"', 'suite="nightly-1-gpu"'
        ),
        "core/test_2.py": registered(10, PASSES).replace("1-gpu-small", "2-gpu-large"),
    }
    text = RUN_SUITE.replace(
        '"base-a-test-1-gpu-small"]', '"base-a-test-1-gpu-small", "base-b-test-2-gpu-large"]'
    )
    path = write_config(tmp_path, files, stage=stage, checkout=checkout, run_suite=text)
    if "units of work" not in message:  # a partition count is checked when it is planned
        with pytest.raises(ConfigError) as error:
            load(path)
        assert message in str(error.value) and "\n" not in str(error.value)
    assert main_exit_code(["validate", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_list_and_validate_show_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:  # fmt: skip
    path = write_config(tmp_path)
    assert main_exit_code(["validate", "--config", str(path)]) == 0
    assert ", 3 registered SGLang files" in capsys.readouterr().out
    assert main_exit_code(["list", "--stage", "files-b", "--json", "--config", str(path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["session"] for row in rows] == [
        f"file(path='test/registered/core/test_{n}.py')" for n in "abc"
    ]
    assert {row["registered"] for row in rows} == {"base-b-test-1-gpu-small"}


def test_the_plan_shows_the_command_run_suite_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path)
    root = (tmp_path / "sglang").resolve()
    assert main_exit_code(["plan", "--stage", "files-b", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    # ci_utils.run_unittest_files: ["python3", <absolute file>, "-f"] from test/.
    assert f"cd {root}/test && python3 {root}/test/registered/core/test_a.py -f" in out
    assert "3 files registered for SGLang's suite base-b-test-1-gpu-small (1 disabled" in out
    assert "time limit: 1200 s (run_suite's --timeout-per-file)" in out
    assert "test_off.py" not in out and "test_a_only.py" not in out


def test_matrix_sizes_and_splits_files_with_measured_durations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path)
    matrix = ["matrix", "--stage", "files-b", "--config", str(path)]
    assert main_exit_code(matrix) == 0
    entries = json.loads(capsys.readouterr().out)["include"]
    # compute_partitions.py: ceil(450 s / (0.75 x 600 s)) = 1 shard.
    assert len(entries) == math.ceil((100 + 300 + 50) / (0.75 * 10 * 60)) == 1
    # Measured durations (durations.json beside stages.toml) override est_time, as
    # run_suite's live_est does: 900 s of test_c alone now needs a second shard.
    (tmp_path / "durations.json").write_text(json.dumps({"test/registered/core/test_c.py": 900}))
    assert main_exit_code(matrix) == 0
    entries = json.loads(capsys.readouterr().out)["include"]
    assert len(entries) == math.ceil((100 + 300 + 900) / (0.75 * 10 * 60)) == 3
    alone = [e for e in entries if e["sessions"] == ["file(path='test/registered/core/test_c.py')"]]
    assert len(alone) == 1 and alone[0]["predicted_seconds"] == 900


def test_the_stub_cannot_run_a_file_that_launches_its_own_servers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path)
    argv = ["run", "--stage", "files-b", "--engine", "stub", "--config", str(path),
            "--results", str(tmp_path / "results")]  # fmt: skip
    assert main_exit_code(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--engine stub cannot run it" in err[0]
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def result(status: Status, kind_name: str | None = None) -> Verdict:
    from sglang_ci.outcome.kinds import FailureKind

    return Verdict(status, FailureKind(kind_name) if kind_name else None)


@pytest.mark.parametrize(
    ("output", "retriable", "why"),
    [
        ("AssertionError: 0.5 not greater than 0.6", True, "retriable pattern"),
        ("AssertionError: False is not true", True, "AssertionError (assuming retriable)"),
        ("NameError: name 'x' is not defined", False, "non-retriable error: NameError"),
        # Code errors are looked for before the accuracy words, as is_retriable_failure does.
        ("RuntimeError: accuracy probe crashed", False, "non-retriable error: RuntimeError"),
        ("Server failed to start within the timeout", True, "retriable infra flake"),
        ("exit 1 with nothing else", False, "unknown failure type"),
    ],
)  # fmt: skip
def test_file_retries_follow_sglangs_output_rule(output: str, retriable: bool, why: str) -> None:
    decided = classify_file(result(Status.FAILED, "check failed"), output)
    assert decided[0] is retriable and decided[1].startswith(why)


def test_time_limits_are_retried_and_cancels_are_not() -> None:
    assert classify_file(result(Status.FAILED, "time limit"), "")[0] is True
    assert classify_file(result(Status.CANCELLED, "cancelled"), "accuracy")[0] is False
    assert classify_file(result(Status.PASSED), "AssertionError")[0] is False


def run_stage(tmp_path: Path, path: Path, *extra: str, env_added: dict[str, str] | None = None
              ) -> tuple[int, str]:  # fmt: skip
    # ``python3`` as run_suite calls it must be this interpreter.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "python3").symlink_to(sys.executable)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "SYN_RECORD": str(tmp_path / "record"),
           **(env_added or {})}  # fmt: skip
    done = run_python("-m", "sglang_ci", "run", "--stage", "files-b", "--config", str(path),
                      "--results", str(tmp_path / "results"), *extra, env=env)  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def result_json(tmp_path: Path, name: str, suffix: str = "") -> dict[str, object]:
    folder = tmp_path / "results" / f"test-registered-core-{name}{suffix}"
    data: dict[str, object] = json.loads((folder / "result.json").read_text())
    return data


@pytest.mark.real_process
def test_a_failing_file_stops_its_partition_and_the_rest_are_skipped(tmp_path: Path) -> None:
    # Longest first (ci_register.py's order): b (300 s) passes, a (100 s), c (50 s) fails,
    # d (10 s) is skipped.
    files = {**FILES, "core/test_c.py": registered(50, CODE_ERROR),
             "core/test_d.py": registered(10, PASSES)}  # fmt: skip
    code, out = run_stage(tmp_path, write_config(tmp_path, files))
    assert code == 1, out
    assert result_json(tmp_path, "test_b.py")["status"] == "passed"
    first = result_json(tmp_path, "test_a.py")
    assert first["status"] == "passed" and first["stage"] == "files-b"
    assert first["tests"] == {"tests": 1, "passed": 1}
    # run_suite's way: from test/, SGLANG_IS_IN_CI=true, python3 <file> -f.
    root = (tmp_path / "sglang").resolve()
    assert (tmp_path / "record").read_text() == f"{root}/test true -f\n"
    failed = result_json(tmp_path, "test_c.py")
    assert failed["status"] == "failed" and failed["failure_kind"] == "check failed"
    skipped = result_json(tmp_path, "test_d.py")
    assert skipped["status"] == "skipped"
    assert "fail-fast after test/registered/core/test_c.py failed" in str(skipped["reason"])


@pytest.mark.real_process
def test_retries_rerun_an_accuracy_failure_and_keep_every_attempt(tmp_path: Path) -> None:
    files = {**FILES, "core/test_b.py": registered(300, ACCURACY),
             "core/test_c.py": registered(50, CODE_ERROR)}  # fmt: skip
    code, out = run_stage(tmp_path, write_config(tmp_path, files), "--continue-on-error",
                          "--enable-retry", "--retry-wait", "0")  # fmt: skip
    assert code == 1, out
    accuracy = result_json(tmp_path, "test_b.py")
    assert str(accuracy["reason"]).endswith(
        "AssertionError: 0.5 not greater than 0.6 : accuracy too low"
    )
    attempts = accuracy["attempts"]
    assert isinstance(attempts, list) and [a["attempt"] for a in attempts] == [1, 2]
    assert attempts[0]["retriable"] and "not greater than" in attempts[0]["why"]
    assert result_json(tmp_path, "test_b.py", "-attempt-1")["status"] == "failed"
    code_error = result_json(tmp_path, "test_c.py")["attempts"]
    assert isinstance(code_error, list) and [a["attempt"] for a in code_error] == [1]
    assert "NameError" in code_error[0]["why"]
    report = run_python("-m", "sglang_ci", "report", str(tmp_path / "results"))
    assert (
        "### files-b (SGLang: base-b-test-1-gpu-small): 1/3 passed (2 failed)" in report.stdout
    ), report.stdout + report.stderr


@pytest.mark.real_process
def test_each_file_is_a_nox_session_that_reproduces_it(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    env = {"SGLANG_CI_CONFIG": str(path)}
    nox = ("-m", "nox", "-f", str(ROOT / "noxfile.py"))
    listed = run_python(*nox, "-l", "--json", "-t", "files-b", env=env)
    assert listed.returncode == 0, listed.stderr
    sessions = [entry["session"] for entry in json.loads(listed.stdout)]
    assert sessions == [f"file(path='test/registered/core/test_{n}.py')" for n in "abc"]
    dry = run_python(*nox, "-s", sessions[1], "--", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    root = (tmp_path / "sglang").resolve()
    assert f"cd {root}/test && python3 {root}/test/registered/core/test_b.py -f" in dry.stdout


def test_the_readme_example_works_as_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                              ) -> None:  # fmt: skip
    """README's stage block and its three commands, on a checkout laid out beside the
    config folder as the block's ``../sglang`` says."""
    readme = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```toml\n(.*?)```", readme, re.S) if "registered =" in b)
    files = {f"core/test_{name}.py": registered(600, PASSES)
             for name in ("hidden_states", "p", "q", "r", "s", "t")}  # fmt: skip
    write_checkout(tmp_path / "sglang", files)
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    path = config_dir / "stages.toml"
    path.write_text(FIXTURE_TOML.read_text() + "\n" + block)
    shutil.copy(FIXTURES / "baselines.toml", config_dir / "baselines.toml")
    commands = [
        ["plan", "--stage", "base-b-files"],
        # What nox -s "file(path=...)" runs, and what its -- --dry-run shows.
        ["job", "file(path='test/registered/core/test_hidden_states.py')", "--dry-run"],
        ["run", "--stage", "base-b-files", "--partition", "2/5", "--dry-run"],
    ]
    for argv in commands:
        assert main_exit_code([*argv, "--config", str(path)]) == 0, argv
    out = capsys.readouterr().out
    root = (tmp_path / "sglang").resolve()
    assert f"python3 {root}/test/registered/core/test_hidden_states.py -f" in out
    # 3600 s of files in a 60 min stage: ceil(3600 / 2700) = 2 shards by compute_partitions;
    # --partition 2/5 asks for five, which six files allow.
    assert "2 shards (0.75 x timeout each" in out
    assert "stage base-b-files, partition 2/5: 1 jobs" in out


def test_a_matrix_plan_names_files_by_the_id_their_results_carry() -> None:
    from sglang_ci.results.planned import from_matrix

    matrix = {
        "include": [
            {
                "stage": "files-b",
                "partition": "1/1",
                "sessions": [
                    "file(path='test/registered/core/test_a.py')",
                    "sanity(model='llama3-8b')",
                ],
            }
        ]
    }
    planned = from_matrix(matrix, "matrix.json")
    assert [p.job for p in planned] == ["test/registered/core/test_a.py",
                                        "sanity(model='llama3-8b')"]  # fmt: skip


def test_a_partitions_files_run_longest_first_as_sglangs_auto_partition_gives_them(
    tmp_path: Path,
) -> None:
    from sglang_ci.plan.github_matrix import plan_stage

    # ci_register.py auto_partition: files sorted by (-est, name), each to the lightest
    # shard; run_suite runs a shard's files in that order.
    files = {f"core/test_{n}.py": registered(est, PASSES)
             for n, est in (("a", 10), ("b", 300), ("c", 50), ("d", 50), ("e", 200))}  # fmt: skip
    config = load(write_config(tmp_path, files))
    (part,) = plan_stage(config, "files-b", 1, {}).partitions
    assert [unit.rsplit("/", 1)[-1] for unit in part.ids] == [
        "test_b.py",
        "test_e.py",
        "test_c.py",
        "test_d.py",
        "test_a.py",
    ]
    # Without --partition, run_suite runs them in file order, and so does `run --stage`.
    assert [u.rsplit("/", 1)[-1] for u in config.stages["files-b"].units] == [
        f"test_{n}.py" for n in "abcde"
    ]


def test_the_report_names_what_the_sweep_ended_for_a_passing_file() -> None:
    from sglang_ci.results.report import render

    passed = JobResult("test/registered/core/test_a.py", "files-b", "sglang", 1)
    passed.status = Status.PASSED
    passed.sweep = {"left_behind": ["4242 sleep 300"], "adopted": []}
    text = render([passed])
    assert "### files-b: 1/1 passed" in text
    assert "- `test/registered/core/test_a.py`: the sweep after it ended 1 process(es) it" \
        " left: 4242 sleep 300" in text  # fmt: skip


def test_a_failing_files_reason_carries_its_last_error_line() -> None:
    from sglang_ci.run.file_job import last_error

    output = ["F\n", "Traceback (most recent call last):\n", '  File "t.py", line 9\n',
              "AssertionError: 0.5 not greater than 0.6 : accuracy too low\n",
              "Ran 1 test in 0.001s\n", "FAILED (failures=1)\n"]  # fmt: skip
    assert last_error(output) == "AssertionError: 0.5 not greater than 0.6 : accuracy too low"
    assert last_error(["OK\n"]) == ""


def test_two_files_that_would_share_a_results_folder_fail(tmp_path: Path) -> None:
    files = {
        **FILES,
        "a-b/test_x.py": registered(10, PASSES),
        "a/b-test_x.py": registered(10, PASSES),
    }
    with pytest.raises(
        ConfigError, match=r"would share the results folder test-registered-a-b-test_x\.py/"
    ):
        load(write_config(tmp_path, files))


def test_a_suite_whose_files_are_all_disabled_fails(tmp_path: Path) -> None:
    files = {"core/test_off.py": registered(10, PASSES, extra=', disabled="flaky"')}
    with pytest.raises(ConfigError, match="every file of suite 'base-b-test-1-gpu-small' is"
                       " registered disabled"):  # fmt: skip
        load(write_config(tmp_path, files))


@pytest.mark.real_process
def test_a_file_that_cannot_start_is_recorded_and_stops_the_partition(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    empty = tmp_path / "no-python"  # no python3 on PATH: run_suite's command cannot start
    empty.mkdir()
    done = run_python("-m", "sglang_ci", "run", "--stage", "files-b", "--config", str(path),
                      "--results", str(tmp_path / "results"), env={"PATH": str(empty)})  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    # The longest file first, as run_suite gets a shard (ci_register.py): test_b (300 s).
    first = result_json(tmp_path, "test_b.py")
    assert first["status"] == "error" and "the file did not start" in str(first["reason"])
    assert result_json(tmp_path, "test_a.py")["status"] == "skipped"


@pytest.mark.real_process
def test_a_secret_a_file_prints_is_scrubbed_from_its_result_and_folder(tmp_path: Path) -> None:
    leak = 'raise ValueError("bad token " + os.environ["HF_TOKEN"])'
    files = {"core/test_a.py": registered(100, leak)}
    secret = "hf_s3cr3tvalue123"
    code, _ = run_stage(tmp_path, write_config(tmp_path, files), env_added={"HF_TOKEN": secret})
    assert code == 1
    folder = tmp_path / "results" / "test-registered-core-test_a.py"
    for written in folder.rglob("*"):
        if written.is_file():
            assert secret not in written.read_text(errors="replace"), written
    assert "ValueError: bad token ***" in str(result_json(tmp_path, "test_a.py")["reason"])


@pytest.mark.real_process
@pytest.mark.long
def test_a_runner_killed_mid_file_leaves_nothing_cleanup_cannot_end(
    tmp_path: Path, tag: str
) -> None:
    sleeper = ('import subprocess, time; subprocess.Popen(["sleep", "300"]);'
               ' open(os.environ["SYN_RECORD"], "w").write("up"); time.sleep(300)')  # fmt: skip
    files = {"core/test_a.py": registered(100, sleeper)}
    path = write_config(tmp_path, files)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", TAG_ENV: tag,
           "SYN_RECORD": str(tmp_path / "record"),
           LEDGER_ENV: str(tmp_path / "ledger")}  # fmt: skip
    runner = subprocess.Popen(
        [sys.executable, "-m", "sglang_ci", "run", "--stage", "files-b", "--config", str(path),
         "--results", str(tmp_path / "results")], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "record").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (tmp_path / "record").exists()
        runner.kill()  # kill -9: no teardown of its own
        runner.wait()
        assert tagged_processes(tag)  # the file and its child outlived the runner
        done = subprocess.run([sys.executable, "-m", "sglang_ci", "cleanup"], env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "1 result(s) marked `runner died`" in done.stdout, done.stdout
        deadline = time.monotonic() + 10
        while tagged_processes(tag) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert tagged_processes(tag) == []
        assert result_json(tmp_path, "test_a.py")["failure_kind"] == "runner died"
    finally:
        for line in tagged_processes(tag):
            os.kill(int(line.split()[0]), signal.SIGKILL)
