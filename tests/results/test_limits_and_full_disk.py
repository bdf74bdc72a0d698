"""Issue 20, item 15: time limits too large for a timer, values no process can be given,
and a results folder on a full disk: one line, exit 2, nothing lost, nothing left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sglang_ci.cli import main_exit_code
from tests.conftest import FIXTURE_TOML, ROOT, TAG_ENV, ConfigEdit, tagged_processes

JOB = "sanity(model='llama3-8b')"


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("flag", ["--timeout", "--launch-timeout", "--request-timeout",
                                  "--retry-wait", "--retry-timeout-increase"])  # fmt: skip
@pytest.mark.parametrize("value", ["1e10", "1e300"])
def test_a_time_too_long_for_a_timer_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    code = main_exit_code(["job", JOB, "--engine", "stub", "--config", str(FIXTURE_TOML),
                           "--results", str(tmp_path / "r"), flag, value])  # fmt: skip
    line = one_error_line(capsys)
    assert code == 2 and f"{flag} must be at most 604800 seconds" in line, line
    assert not (tmp_path / "r").exists()  # refused before anything started


@pytest.mark.parametrize("key", ["timeout-per-job", "retry-wait", "retry-timeout-increase"])
def test_a_stage_time_too_long_for_a_timer_is_refused(
    write_config: Callable[[ConfigEdit], Path], capsys: pytest.CaptureFixture[str], key: str
) -> None:
    path = write_config(lambda doc: doc["stages"]["base-b"].__setitem__(key, 1e12))
    code = main_exit_code(["validate", "--config", str(path)])
    line = one_error_line(capsys)
    assert code == 2 and f"stages.base-b.{key}: must be at most 604800 seconds" in line, line


@pytest.mark.parametrize(
    ("where", "value", "problem"),
    [("env", "a\0b", "NUL byte"), ("args", "a\0b", "NUL byte"),
     ("env", "x" * 5_000_000, "MAX_ARG_STRLEN"), ("args", "x" * 5_000_000, "MAX_ARG_STRLEN")],
)  # fmt: skip
def test_a_value_no_process_can_take_is_refused(
    write_config: Callable[[ConfigEdit], Path], capsys: pytest.CaptureFixture[str],
    where: str, value: str, problem: str,
) -> None:  # fmt: skip
    def edit(doc: object) -> None:
        table = doc["models"]["llama3-8b"]  # type: ignore[index]
        if where not in table:
            table[where] = {}
        table[where]["served-model-name" if where == "args" else "MY_VALUE"] = value

    code = main_exit_code(["validate", "--config", str(write_config(edit))])
    line = one_error_line(capsys)
    assert code == 2 and "models.llama3-8b." + where in line and problem in line, line[:300]


# A full disk, for real, without root: the runner's files may not grow past a few KB
# (RLIMIT_FSIZE, with SIGXFSZ ignored so a write fails with EFBIG as it would with ENOSPC).
FULL_DISK_RUNNER = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))
sys.argv = ["sglang_ci", *sys.argv[1:]]
from sglang_ci.__main__ import main
main()
"""


@pytest.mark.real_process
def test_results_on_a_full_disk_are_one_line_and_leave_nothing(tmp_path: Path, tag: str) -> None:
    results, ledger = tmp_path / "results", tmp_path / "ledger"
    run = subprocess.run(
        [sys.executable, "-c", FULL_DISK_RUNNER, "job", JOB, "--engine", "stub", "--config",
         str(FIXTURE_TOML), "--results", str(results)],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
        env={**os.environ, TAG_ENV: tag, "SGLANG_CI_LEDGER": str(ledger),
             "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks")},
    )  # fmt: skip
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-3000:]
    assert "Traceback" not in run.stdout + run.stderr
    errors = [line for line in (run.stdout + run.stderr).splitlines() if "error:" in line]
    assert len(errors) == 1 and "cannot write" in errors[0], errors
    assert [p.name for p in results.rglob(".result.json.*")] == []  # no stray temporaries
    for path in results.rglob("result.json"):  # the last complete version, never half a file
        assert json.loads(path.read_text())["job"] == JOB
    assert not ledger.is_dir() or [p.name for p in ledger.iterdir()] == []  # ledger closed
    assert tagged_processes(tag) == []
