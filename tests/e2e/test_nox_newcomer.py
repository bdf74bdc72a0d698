"""A newcomer's first nox calls (issue 21, section 3): a bare `nox` runs the quick
checks only, a misspelt session gets the closest one, `-- --help` and a calibrate dry run
work, and nox's "uv binary not found." is not printed on every call."""

from __future__ import annotations

import json

import pytest

from sglang_ci.config.model import load_config
from sglang_ci.nox_names import requested_sessions, session_names, unknown_session
from tests.conftest import FIXTURE_TOML, FIXTURES, ROOT, run_python

JOB = "spec(model='gemma4-31b', topk=3)"


def nox(*args: str) -> tuple[int, str]:
    done = run_python("-m", "nox", "-f", str(ROOT / "noxfile.py"), *args,
                      env={"SGLANG_CI_CONFIG": str(FIXTURE_TOML)})  # fmt: skip
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["-s", "a", "b", "--", "-s", "c"], {}, ["a", "b"]),
        (["--sessions=a", "-l", "x"], {}, ["a"]),
        (["-e", "a", "-t", "b"], {}, ["a"]),
        (["-R", "--session", "a"], {}, ["a"]),
        (["-l"], {"NOXSESSION": "a,b"}, ["a", "b"]),
        (["-t", "base-b"], {}, []),
    ],
)
def test_the_requested_sessions_are_read_as_nox_reads_them(
    argv: list[str], env: dict[str, str], expected: list[str]
) -> None:
    assert requested_sessions(argv, env) == expected


def test_a_session_nox_would_not_find_gets_the_closest_one() -> None:
    known = session_names(load_config(None, {}, FIXTURES), ["tests", "lint"])
    assert unknown_session([JOB, 'spec( model = "gemma4-31b",topk=3)', "tests"], known) is None
    assert "stage(name='base-b')" in known and "calibrate" in known
    assert unknown_session(["spec(model='gemma4-31b', topk=4)"], known) == (
        f"nox: no session \"spec(model='gemma4-31b', topk=4)\". Perhaps you meant '{JOB}'?"
    )


@pytest.mark.real_process
def test_a_misspelt_job_session_is_one_line_with_the_closest_one() -> None:
    code, output = nox("-s", "sepc(model='gemma4-31b', topk=3)")
    assert code == 2
    assert output.strip().splitlines() == [
        "sglang-ci: error: nox: no session \"sepc(model='gemma4-31b', topk=3)\"."
        f" Perhaps you meant '{JOB}'?"
    ]


@pytest.mark.real_process
def test_a_bare_nox_selects_the_quick_sessions_only() -> None:
    code, output = nox("-l", "--json")
    assert code == 0, output
    assert [entry["session"] for entry in json.loads(output)] == ["tests", "lint"]


@pytest.mark.real_process
def test_a_session_call_does_not_say_uv_binary_not_found() -> None:
    code, output = nox("-s", JOB, "--", "--dry-run")
    assert code == 0, output
    assert "nox > Running session" in output  # nox's own log lines still show
    assert "uv binary not found" not in output


@pytest.mark.real_process
def test_help_after_the_double_dash_lists_the_options_and_runs_nothing() -> None:
    """The stage session's options are the demo's (StageOptions, one code path); the
    demo itself would first build its venv."""
    code, output = nox("-s", "stage(name='base-b')", "--", "--help")
    assert code == 0, output
    assert "--partition K/N" in output and "--dry-run" in output
    assert "skipped: --help: nothing run" in output
    assert "sglang_ci run" not in output  # the runner never started


@pytest.mark.real_process
def test_a_calibrate_session_dry_run_starts_nothing() -> None:
    code, output = nox("-s", f"calibrate({JOB[5:-1]})", "--", "--dry-run", "--runs", "5")
    assert code == 0, output
    assert (
        f"calibrate: 5 gsm8k evals of {JOB} (one launch, cache flushed between runs);"
        " nothing started"
    ) in output
    assert "sglang_ci calibrate" not in output  # no runner process: nox would log its argv
