"""The generated nox sessions, through real nox processes, from the fixture config."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from sglang_ci.config.model import load_config
from tests.conftest import FIXTURE_TOML, FIXTURES, ROOT, ConfigEdit, run_python

pytestmark = pytest.mark.real_process


def nox(*args: str, env: dict[str, str] | None = None) -> Any:
    """The project's noxfile, reading the fixture config unless ``env`` names another."""
    env = {"SGLANG_CI_CONFIG": str(FIXTURE_TOML), **(env or {})}
    return run_python("-m", "nox", "-f", str(ROOT / "noxfile.py"), *args, env=env)


def listed(*args: str) -> list[dict[str, Any]]:
    result = nox("-l", "--json", *args)
    assert result.returncode == 0, result.stderr
    sessions: list[dict[str, Any]] = json.loads(result.stdout)
    return sessions


def test_every_job_is_a_session_with_its_stage_tag() -> None:
    config = load_config(None, {}, FIXTURES)
    sessions = {entry["session"]: entry for entry in listed("-t", "matrix")}
    assert len(sessions) == len(config.jobs)
    for job in config.jobs.values():
        assert job.id in sessions, job.id
        assert job.stage in sessions[job.id]["tags"]
    assert "spec(model='llama-standalone', topk=2, backend='triton')" not in sessions
    assert sessions["spec(model='gemma4-31b', topk=3)"]["call_spec"] == {
        "model": "gemma4-31b",
        "topk": 3,
        "backend": None,
    }


def test_tag_selects_one_stage() -> None:
    config = load_config(None, {}, FIXTURES)
    selected = [entry["session"] for entry in listed("-t", "base-b")]
    assert selected == list(config.stages["base-b"].jobs)


@pytest.mark.parametrize(
    "name", ["spec(model='gemma4-31b', topk=3)", 'spec( model = "gemma4-31b",topk=3)']
)
def test_dry_run_by_signature(name: str) -> None:
    result = nox("-s", name, "--", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "--speculative-eagle-topk 3" in result.stdout
    assert "--speculative-draft-model-path google/gemma-4-31B-it-assistant" in result.stdout
    assert "--tp-size 2" in result.stdout


def test_missing_gpus_fail_before_anything_starts(tmp_path: Path) -> None:
    result = nox("-s", "disagg(model='dsv4-flash')", "--", "--results", str(tmp_path),
                 env={"CUDA_VISIBLE_DEVICES": ""})  # fmt: skip
    assert result.returncode != 0
    aborted = [line for line in result.stderr.splitlines() if "aborted" in line]
    assert len(aborted) == 1
    assert "needs 8 GPUs but 0 are visible" in aborted[0] and "--engine stub" in aborted[0]


def test_stage_gpu_refusal_suggests_a_session_that_exists(tmp_path: Path) -> None:
    """Issue 15, item 9: the refusal of `stage(...)` names a command that runs, with the
    user's own arguments kept; run as suggested (dry), it plans the same partition."""
    result = nox("-s", "stage(name='base-b')", "--", "--partition", "2/2", "--results",
                 str(tmp_path), env={"CUDA_VISIBLE_DEVICES": ""})  # fmt: skip
    assert result.returncode != 0
    aborted = [line for line in result.stderr.splitlines() if "aborted" in line]
    assert len(aborted) == 1 and "needs 1 GPU but 0 are visible" in aborted[0], result.stderr
    suggested = aborted[0].split("without GPUs: `", 1)[1].split("`")[0]
    assert suggested == (f"nox -s \"stage(name='base-b')\" -- --partition 2/2 --results"
                         f" {tmp_path} --engine stub")  # fmt: skip
    # The refusal is recorded for the partition's jobs, as the runner's own refusal is
    # (issue 20, item 13).
    recorded = [json.loads(p.read_text()) for p in tmp_path.glob("*/result.json")]
    assert recorded and {(r["status"], r["failure_kind"]) for r in recorded} == {
        ("error", "GPU shortage")}  # fmt: skip
    argv = shlex.split(suggested)
    assert argv[0] == "nox"
    rehearsal = nox(*argv[1:], "--dry-run")
    assert rehearsal.returncode == 0, rehearsal.stderr
    assert rehearsal.stdout.startswith("stage base-b"), rehearsal.stdout


def test_bad_session_argument_is_one_line() -> None:
    result = nox("-s", "sanity(model='llama3-8b')", "--", "--engin", "stub")
    assert result.returncode != 0
    assert 'nox -s "<job session>" --: unrecognized arguments: --engin stub' in result.stderr
    assert "Traceback" not in result.stderr


def test_stage_dry_run_lists_its_jobs() -> None:
    result = nox("-s", "stage(name='base-b')", "--", "--dry-run", "--engine", "stub")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("stage base-b: 2 jobs on runner 1-gpu-h100")
    assert result.stdout.count("python -m sglang_ci.stub") == 2


def test_invalid_config_stops_nox_with_one_line(
    write_config: Callable[[ConfigEdit], Path],
) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["extra-a"]["jobs"][2]["modle"] = "x"

    result = nox("-l", env={"SGLANG_CI_CONFIG": str(write_config(edit))})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "sglang-ci: error: stages.toml: stages.extra-a.jobs[2]: unknown key 'modle'."
        " Perhaps you meant 'model'?"
    ]


def test_rehearsal_drops_what_the_stub_refuses() -> None:
    """A calibrate session's --write (refused on the stub) and an explicit engine go."""
    from types import SimpleNamespace
    from typing import cast

    import nox as nox_module

    from sglang_ci.nox_sessions import stub_rehearsal

    session = SimpleNamespace(name="calibrate(model='m', topk=3)",
                              posargs=["--runs", "5", "--engine", "sglang", "--write"])  # fmt: skip
    assert stub_rehearsal(cast(nox_module.Session, session)) == (
        "nox -s \"calibrate(model='m', topk=3)\" -- --runs 5 --engine stub"
    )


def test_job_session_where_the_project_is_not_installed(tmp_path: Path) -> None:
    """Issue 15, item 10: the runner run by a Python that lacks its dependencies (here one
    that sees no site-packages; job sessions use nox's own interpreter, issue 20 item 18):
    one line naming the fix, no traceback."""
    result = run_python("-S", "-m", "sglang_ci", "job", "sanity(model='llama3-8b')",
                        "--engine", "stub", "--config", str(FIXTURE_TOML),
                        "--results", str(tmp_path / "results"))  # fmt: skip
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    ours = [line for line in result.stderr.splitlines() if line.startswith("sglang-ci: error:")]
    assert len(ours) == 1, result.stderr
    assert "sglang-ci is not installed in this environment" in ours[0]
    assert ours[0].endswith(f"python -m pip install -e {ROOT}")


def test_demo_venv_check_wants_this_checkout_and_the_router_pin(tmp_path: Path) -> None:
    # The warm demo skips its install only when this check passes; run here in the test
    # venv, which holds this checkout (editable) and the pinned router, as the demo's does.
    import subprocess
    import sys
    from importlib.metadata import version

    from sglang_ci.nox_sessions import DEMO_READY_CHECK

    def ready(root: Path, router: str) -> int:
        argv = [sys.executable, "-I", "-c", DEMO_READY_CHECK, root.as_uri(), router]
        return subprocess.run(argv, cwd=ROOT, check=False).returncode

    router = version("sglang-router")
    assert ready(ROOT, router) == 0
    assert ready(ROOT, router + ".post1") == 1  # another router: install again
    assert ready(tmp_path, router) == 1  # a venv made from another checkout


def test_demo_fingerprint_follows_pyproject_and_router_pin(tmp_path: Path) -> None:
    from sglang_ci.nox_sessions import demo_fingerprint

    (tmp_path / "pyproject.toml").write_text('dependencies = ["requests"]\n')
    first = demo_fingerprint(tmp_path, "0.3.2")
    assert demo_fingerprint(tmp_path, "0.3.3") != first
    (tmp_path / "pyproject.toml").write_text('dependencies = ["requests", "psutil"]\n')
    assert demo_fingerprint(tmp_path, "0.3.2") != first


def test_every_listed_session_passes_the_name_check() -> None:
    """The noxfile refuses a name nox would not find before nox does; every session nox
    lists (the noxfile's own, written by hand there, and the generated ones) must pass."""
    listing = nox("-l")
    assert listing.returncode == 0, listing.stderr
    line = re.compile(r"^[*-] (.+?)(?: \[[^\]]*\])?(?: -> .*)?$")
    names = [m.group(1) for m in map(line.match, listing.stdout.splitlines()) if m]
    assert {"tests", "lint", "demo", "contract(sglang='0.5.12')"} <= set(names)
    result = nox("-l", "-s", *names)
    assert result.returncode == 0, result.stderr


def test_a_broken_config_stops_job_sessions_but_not_the_runners_own_tests(
    write_config: Callable[[ConfigEdit], Path],
) -> None:
    """`nox -s tests` reads no stages.toml: the tests that say what is wrong with a broken
    one must still run; every session that reads it stops with the one line."""

    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["extra-a"]["jobs"][2]["modle"] = "x"

    env = {"SGLANG_CI_CONFIG": str(write_config(edit))}
    own = nox("-l", "-s", "tests", "lint", env=env)
    assert own.returncode == 0, own.stderr
    assert "unknown key 'modle'" in own.stderr and "sglang-ci: warning:" in own.stderr
    assert "* tests" in own.stdout and "* lint" in own.stdout
    for requested in (["-s", "tests", "demo"], ["-s", "contract"], []):
        stopped = nox("-l", *requested, env=env)
        assert stopped.returncode == 2, requested
        assert stopped.stderr.startswith("sglang-ci: error: stages.toml: stages.extra-a")
