"""The bisect end to end with real git, real pip installs and real job runs on the stub.

A synthetic git repository of a stand-in "sglang" package (tests/bisect_repo.py): one
commit lowers the accuracy the stub reads from the installed package, some commits do not
install, a registered file fails 30% of the time on good commits. Each bisect installs
into a venv of its own that sees this interpreter's packages (sglang-ci, setuptools, pip)
and holds only the stand-in itself; scaled down (30 questions, 16 commits) to stay quick."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import pytest

from tests.bisect_repo import FLAKY_FILE, JOB, Repo, project, write_repo
from tests.conftest import ROOT, TAG_ENV, tagged_processes

pytestmark = [pytest.mark.real_process, pytest.mark.long]
# A 67-point drop on 30 questions: at confidence 0.9 one run decides each commit, so the
# tests spend their time on installs and jobs they need, not on more evidence.
QUICK = ("--confidence", "0.9")


def bisect_venv(folder: Path) -> Path:
    """A venv without pip of its own: this interpreter's site-packages come in through a
    .pth (processed as a site dir, so editable installs there work too)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], capture_output=True, text=True,
                             check=True).stdout.strip()  # fmt: skip
    parent = sysconfig.get_paths()["purelib"]
    Path(purelib, "_sglang_ci_tests.pth").write_text(
        f"import site; site.addsitedir({parent!r}); site.addsitedir({str(ROOT)!r})\n"
    )
    return python


def bisect_argv(python: Path, job: str, repo: Repo, good: int, bad: int, state: Path,
                *extra: str) -> list[str]:  # fmt: skip
    return [str(python), "-m", "sglang_ci", "bisect", job, "--good", repo.shas[good],
            "--bad", repo.shas[bad], "--checkout", str(repo.path), "--python", str(python),
            "--state", str(state), "--engine", "stub", *extra]  # fmt: skip


def env_for(tmp: Path, tag: str) -> dict[str, str]:
    import os

    return {**os.environ, TAG_ENV: tag, "SGLANG_CI_PORT_LOCKS": str(tmp / "locks"),
            "SGLANG_CI_STUB_ACCURACY": "installed-sglang",
            "BISECT_TEST_COUNTER": str(tmp / "counter")}  # fmt: skip


def run_bisect(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=600,
                          check=False)  # fmt: skip
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One bisect of a 10-point... here a 67-point drop at commit 11, commit 8 broken."""
    tmp = tmp_path_factory.mktemp("scored")
    repo = write_repo(tmp / "repo", 16, 11, good=0.97, bad=0.3, broken=(8,))
    config = project(tmp / "project")
    python = bisect_venv(tmp / "venv")
    tag = f"bisect-scored-{time.time_ns()}"
    summary = tmp / "summary.md"
    code, out, err = run_bisect(
        bisect_argv(python, JOB, repo, 0, 16, tmp / "state.json", "--config", str(config),
                    "--json", "--summary", str(summary), *QUICK),
        env_for(tmp, tag), tmp)  # fmt: skip
    return {"repo": repo, "code": code, "out": out, "err": err, "summary": summary,
            "leaks": tagged_processes(tag), "state": tmp / "state.json"}  # fmt: skip


# One worker runs both tests of the module-scoped bisect (tests/conftest.py orders them).
@pytest.mark.xdist_group("bisect-scored")
def test_bisect_names_the_commit_that_lowered_the_score(scored: dict[str, Any]) -> None:
    assert scored["code"] == 0, scored["err"]
    report = json.loads(scored["out"])
    repo: Repo = scored["repo"]
    assert report["first_bad"] == repo.shas[11]
    assert report["regression"] is True
    by_commit = {step["commit"]: step for step in report["steps"]}
    assert by_commit[repo.shas[11]]["verdict"] == "bad"
    # the step before it was probed and found good, with its version recorded
    assert by_commit[repo.shas[10]]["verdict"] == "good"
    assert by_commit[repo.shas[10]]["versions"] == ["0.0.10"]
    assert all(p is not None for p in (by_commit[repo.shas[11]]["p_value"],))
    assert by_commit[repo.shas[11]]["p_value"] < 0.01
    assert report["runs"] == sum(s["runs"] for s in report["steps"] + report["ends"])
    assert report["gpu_seconds"] > 0
    summary = scored["summary"].read_text()
    assert f"first bad commit: {repo.shas[11]} regress" in summary
    assert "| step | commit | subject | runs | score(s) | verdict | p-value |" in summary
    assert "never evidence" in summary
    assert scored["leaks"] == []


@pytest.mark.xdist_group("bisect-scored")
def test_a_commit_that_does_not_install_is_skipped_never_judged(scored: dict[str, Any]) -> None:
    report = json.loads(scored["out"])
    repo: Repo = scored["repo"]
    step = next(s for s in report["steps"] if s["commit"] == repo.shas[8])
    assert step["verdict"] == "skip" and step["runs"] == 0
    assert step["note"].startswith("install failed: exit")
    state = json.loads(scored["state"].read_text())
    assert state["installs"][repo.shas[8]]["ok"] is False
    assert Path(state["installs"][repo.shas[8]]["log"]).read_text()  # the log is kept
    # the search stepped around it: its neighbour was probed next
    assert report["steps"][1]["commit"] == repo.shas[7]


def test_without_a_real_drop_it_names_no_commit(tmp_path: Path, tag: str) -> None:
    repo = write_repo(tmp_path / "repo", 16, None, good=0.9)
    config = project(tmp_path / "project")
    python = bisect_venv(tmp_path / "venv")
    code, out, err = run_bisect(
        bisect_argv(python, JOB, repo, 0, 16, tmp_path / "state.json", "--config", str(config),
                    "--max-runs-per-commit", "2"), env_for(tmp_path, tag), tmp_path)  # fmt: skip
    assert code == 0, err
    assert "no regression in range" in out
    assert "first bad commit" not in out
    assert "step 1" not in err  # only the ends ran: nothing was probed
    assert tagged_processes(tag) == []


def test_a_cancelled_bisect_resumes_where_it_stopped(tmp_path: Path, tag: str) -> None:
    repo = write_repo(tmp_path / "repo", 16, 5, good=0.97, bad=0.3)
    config = project(tmp_path / "project")
    python = bisect_venv(tmp_path / "venv")
    state = tmp_path / "state.json"
    argv = bisect_argv(python, JOB, repo, 0, 16, state, "--config", str(config), "--json", *QUICK)
    env = env_for(tmp_path, tag)
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env, cwd=tmp_path)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and recorded_runs(state) < 3:
            time.sleep(0.2)
        assert recorded_runs(state) >= 3
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=120)
    assert child.returncode == 130, err
    assert "continue with --resume" in err
    assert tagged_processes(tag) == []
    before = json.loads(state.read_text())["runs"]
    # a new bisect would mix its runs with these: refused, in one line
    code, _, err = run_bisect(argv, env, tmp_path)
    assert code == 2 and err.count("\n") == 1 and "--resume" in err
    code, out, err = run_bisect([*argv, "--resume"], env, tmp_path)
    assert code == 0, err
    report = json.loads(out)
    assert report["first_bad"] == repo.shas[5]
    after = json.loads(state.read_text())["runs"]
    for sha, runs in before.items():  # every run from before is kept, none done again
        assert after[sha][: len(runs)] == runs
    assert report["runs"] == sum(len(r) for r in after.values())
    assert tagged_processes(tag) == []


def recorded_runs(state: Path) -> int:
    try:
        return sum(len(r) for r in json.loads(state.read_text())["runs"].values())
    except (OSError, ValueError):
        return 0


def test_a_flaky_registered_file_is_bisected_by_its_failure_rate(tmp_path: Path, tag: str
                                                                 ) -> None:  # fmt: skip
    """Fails 30% of the time on good commits, always from commit 6 on: one failure on a
    good commit must not send the search the wrong way."""
    repo = write_repo(tmp_path / "repo", 16, 6, fail_rate=0.3, bad_fail_rate=1.0)
    python = bisect_venv(tmp_path / "venv")
    code, out, err = run_bisect(
        bisect_argv(python, FLAKY_FILE, repo, 0, 16, tmp_path / "state.json", "--json",
                    "--confidence", "0.9", "--max-runs-per-commit", "8"),
        env_for(tmp_path, tag), tmp_path)  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["first_bad"] == repo.shas[6]
    statuses = [s for step in report["steps"] for s in step["statuses"]]
    good_steps = [s for s in report["steps"] if s["verdict"] == "good"]
    # the flakiness was real: some good commit failed a run and was still judged good
    assert any("failed" in s["statuses"] for s in good_steps) or "failed" in \
        report["ends"][0]["statuses"]  # fmt: skip
    assert "failed" in statuses and "passed" in statuses
    assert tagged_processes(tag) == []
