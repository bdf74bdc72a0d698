"""``run-file``: registered files written here, run through the CLI as run_suite runs them.

Each synthetic file is a unittest file, as SGLang's registered files are, that starts
stub servers (``python -m sglang_ci.stub``) and leaves things behind the way real files
do (sglang issues #31645, #36589, #31281): an orphan in a session of its own holding a
port, an orphan in the file's session, a child that ignores SIGTERM, a test that hangs.
The runner is a CLI subprocess, so its subreaper setting never reaches the pytest worker.
Every process a test starts carries the test's tag in its environment; after the runner
returns none may be alive.

run_suite's way of running a file, read at bytedance-iaas/sglang 6ed5780c4f:
``python/sglang/test/ci/ci_utils.py`` ``run_unittest_files``: ``["python3", path, "-f"]``
in run_suite's working directory (``test/``, per ``_pr-test-stage.yml``: ``cd test``);
``test/run_suite.py``: ``--timeout-per-file`` default 1200.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sglang_ci.config.sglang_ports import plain_server_ports
from sglang_ci.launch.ports import PortLease, listening
from sglang_ci.outcome.kinds import EXIT_CODES, FailureKind
from tests.conftest import TAG_ENV, tagged_processes

pytestmark = pytest.mark.real_process
ROOT = Path(__file__).resolve().parents[2]

# Shared by the synthetic files: start a stub server, wait until it answers.
PRELUDE = '''
import os, subprocess, sys, time, unittest, urllib.request
PORT = int(os.environ["SYN_PORT"])
MARK = os.environ["SYN_MARK"]
STUB = [sys.executable, "-m", "sglang_ci.stub", "--model-path", "org/m", "--port", str(PORT)]

def ready(port):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("stub never ready")

def orphan(argv, new_session):
    """argv started by a middle process that exits at once: argv is re-parented."""
    code = ("import subprocess, sys; p = subprocess.Popen(sys.argv[2:], start_new_session="
            "sys.argv[1] == '1', stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL);"
            " print(p.pid)")
    out = subprocess.run([sys.executable, "-c", code, "1" if new_session else "0", *argv],
                         capture_output=True, text=True, check=True).stdout
    return int(out)
'''
SLEEPER = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"

# Passes, leaving behind: the stub (holding PORT) in a session of its own, re-parented
# to the runner, and a SIGTERM-ignoring sleeper orphaned inside the file's session.
LEAVES_ORPHANS = (
    PRELUDE
    + f"""
class TestLeaves(unittest.TestCase):
    def test_server(self):
        stub = orphan(STUB, new_session=True)
        ready(PORT)
        sleeper = orphan([sys.executable, "-c", {SLEEPER!r}], new_session=False)
        with open(MARK, "w") as out:
            out.write(f"{{stub}} {{sleeper}}")

if __name__ == "__main__":
    unittest.main()
"""
)
# Run next: passes only if nothing of the previous file is alive and PORT is free.
STARTS_CLEAN = (
    PRELUDE
    + """
import psutil, socket

class TestClean(unittest.TestCase):
    def test_nothing_left(self):
        with open(MARK) as mark:
            pids = [int(pid) for pid in mark.read().split()]
        self.assertEqual([p for p in pids if psutil.pid_exists(p)
                          and psutil.Process(p).status() != psutil.STATUS_ZOMBIE], [])
        with socket.socket() as probe:  # as a server binds: TIME_WAIT leftovers are fine
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", PORT))

    def test_skipped(self):
        self.skipTest("counted")

if __name__ == "__main__":
    unittest.main()
"""
)
# Starts a stub and a SIGTERM-ignoring child, writes the mark, then hangs.
HANGS = (
    PRELUDE
    + f"""
class TestHangs(unittest.TestCase):
    def test_hang(self):
        subprocess.Popen(STUB, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ready(PORT)
        subprocess.Popen([sys.executable, "-c", {SLEEPER!r}])
        with open(MARK, "w") as mark:
            mark.write("started")
        time.sleep(600)

if __name__ == "__main__":
    unittest.main()
"""
)
FAILS = """
import os, unittest

class TestFails(unittest.TestCase):
    def test_a_cwd(self):
        self.assertEqual(os.getcwd().rsplit("/", 1)[-1], "test")  # run_suite's cd test

    def test_b_ci_env(self):
        self.assertEqual(os.environ.get("SGLANG_IS_IN_CI"), "true")

    def test_c_bad(self):
        self.assertEqual(1, 2)

if __name__ == "__main__":
    unittest.main()
"""


def make_checkout(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "sglang"
    for name, text in files.items():
        path = root / "test" / "registered" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def port() -> Iterator[int]:
    """The stub's port: its derived ports (gRPC: port + 10000) must stay in range."""
    with PortLease() as lease:
        yield lease.take(plain_server_ports)


def file_env(tag: str, tmp_path: Path, port: int) -> dict[str, str]:
    # ``python3`` as run_suite calls it must be this interpreter (it imports sglang_ci).
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, TAG_ENV: tag, "SYN_PORT": str(port),
            "SYN_MARK": str(tmp_path / "mark"), "PYTHONPATH": str(ROOT)}  # fmt: skip


def run_file_argv(root: Path, name: str, results: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sglang_ci", "run-file", str(root),
            f"test/registered/{name}", "--results", str(results), *extra]  # fmt: skip


def result_of(results: Path, name: str) -> dict[str, object]:
    folder = f"test-registered-{name.replace('/', '-')}"
    data: dict[str, object] = json.loads((results / folder / "result.json").read_text())
    return data


def test_orphans_holding_a_port_are_swept_and_the_next_file_starts_clean(
    tmp_path: Path, tag: str, port: int
) -> None:
    root = make_checkout(tmp_path, {"a/test_leaves.py": LEAVES_ORPHANS,
                                    "a/test_clean.py": STARTS_CLEAN})  # fmt: skip
    env, results = file_env(tag, tmp_path, port), tmp_path / "results"
    first = subprocess.run(run_file_argv(root, "a/test_leaves.py", results), env=env,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert first.returncode == 0, first.stdout + first.stderr
    assert tagged_processes(tag) == []
    assert listening([port]) == []
    leaves = result_of(results, "a/test_leaves.py")
    sweep = leaves["sweep"]
    assert isinstance(sweep, dict)
    assert port in sweep["ports_seen"] and sweep["problems"] == []
    stub, sleeper = (tmp_path / "mark").read_text().split()
    ended = " ".join(sweep["left_behind"] + sweep["adopted"])
    assert stub in ended and sleeper in ended
    assert leaves["tests"] == {"tests": 1, "passed": 1}
    second = subprocess.run(run_file_argv(root, "a/test_clean.py", results), env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert second.returncode == 0, second.stdout + second.stderr
    clean = result_of(results, "a/test_clean.py")
    assert clean["tests"] == {"tests": 2, "skipped": 1, "passed": 1}
    assert isinstance(clean["sweep"], dict) and clean["sweep"]["left_behind"] == []


def test_a_failing_file_runs_as_run_suite_runs_it_and_is_counted(
    tmp_path: Path, tag: str, port: int
) -> None:
    root = make_checkout(tmp_path, {"b/test_fails.py": FAILS})
    results = tmp_path / "results"
    done = subprocess.run(run_file_argv(root, "b/test_fails.py", results),
                          env=file_env(tag, tmp_path, port), capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == EXIT_CODES[FailureKind.CHECK_FAILED], done.stdout + done.stderr
    result = result_of(results, "b/test_fails.py")
    # unittest runs methods in name order; -f (failfast) stops at test_c_bad, the last.
    assert result["tests"] == {"tests": 3, "failures": 1, "passed": 2}
    assert result["status"] == "failed" and str(result["reason"]).startswith("exit code 1")
    assert result["command"] == ["python3", str(root / "test/registered/b/test_fails.py"), "-f"]


@pytest.mark.long
def test_the_time_limit_ends_the_files_tree(tmp_path: Path, tag: str, port: int) -> None:
    root = make_checkout(tmp_path, {"c/test_hangs.py": HANGS})
    results, started = tmp_path / "results", time.monotonic()
    done = subprocess.run(run_file_argv(root, "c/test_hangs.py", results, "--timeout", "8"),
                          env=file_env(tag, tmp_path, port), capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    took = time.monotonic() - started
    assert done.returncode == EXIT_CODES[FailureKind.TIME_LIMIT], done.stdout + done.stderr
    assert (tmp_path / "mark").exists()  # it did hang, past its stub and child
    assert tagged_processes(tag) == []
    result = result_of(results, "c/test_hangs.py")
    assert result["status"] == "timeout"
    sweep = result["sweep"]
    assert isinstance(sweep, dict) and sweep["killed"] >= 1 and sweep["problems"] == []
    assert took < 8 + 5 + 15  # limit, SIGTERM grace, start-up and the sweep's checks


def test_a_cancel_ends_the_files_tree_within_githubs_window(
    tmp_path: Path, tag: str, port: int
) -> None:
    root = make_checkout(tmp_path, {"d/test_hangs.py": HANGS})
    results, mark = tmp_path / "results", tmp_path / "mark"
    runner = subprocess.Popen(run_file_argv(root, "d/test_hangs.py", results),
                              env=file_env(tag, tmp_path, port), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not mark.exists() and runner.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert mark.exists(), runner.communicate(timeout=30)[0]
        cancelled = time.monotonic()
        runner.send_signal(signal.SIGINT)  # GitHub's first signal
        runner.wait(timeout=30)
        took = time.monotonic() - cancelled
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
        runner.communicate()
    assert runner.returncode == EXIT_CODES[FailureKind.CANCELLED]
    assert took < 10.0  # GitHub SIGKILLs the job 10 s after its SIGINT
    assert tagged_processes(tag) == []
    assert result_of(results, "d/test_hangs.py")["status"] == "cancelled"
