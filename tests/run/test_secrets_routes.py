"""Issue 20, item 9: secrets leave no trace on the routes the first fix missed: a launch
that fails while the server logs its arguments, secrets given in stages.toml's env, the
escaped forms of a value, a password inside a URL, a registered file printing a token
(live output), a runner killed by kill -9 (cleanup scrubs), and the command line in ps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from sglang_ci.config.secrets import Scrubber, hide_secret_assignments, redacted
from sglang_ci.config.sglang_ports import plain_server_ports
from sglang_ci.launch.ports import PortLease
from tests.conftest import ROOT, TAG_ENV, run_python, tagged_processes, write_quick_project
from tests.run.test_run_file import file_env, make_checkout, run_file_argv

API_KEY = "sk-PLANTEDapikey"
OS_TOKEN = "ghp_PLANTEDgithub"
CONFIG_TOKEN = "PLANTEDconfigtoken"
URL_PASSWORD = "PLANTEDurlpassword"
ESCAPED = 'quo"te\\PLANTEDescaped'
PLANTED = ("PLANTEDapikey", "PLANTEDgithub", CONFIG_TOKEN, URL_PASSWORD, "PLANTEDescaped")

CONFIG = f"""
[models.keyed]
model-path = "org/keyed"
args = {{ api-key = "{API_KEY}" }}

[models.keyed.env]
SGLANG_CI_STUB_FAULTS = "log_env"
SERVICE_TOKEN = "{CONFIG_TOKEN}"
UPSTREAM = "https://ci:{URL_PASSWORD}@mirror.invalid/simple"
ODD_SECRET = {json.dumps(ESCAPED)}

[models.keyed-dies]
model-path = "org/keyed-dies"
args = {{ api-key = "{API_KEY}" }}

[models.keyed-dies.env]
SGLANG_CI_STUB_FAULTS = "log_env,exit_on_start=3"
SERVICE_TOKEN = "{CONFIG_TOKEN}"
UPSTREAM = "https://ci:{URL_PASSWORD}@mirror.invalid/simple"
ODD_SECRET = {json.dumps(ESCAPED)}

[suites.quick]
axes = ["model"]
score = "gsm8k"
eval = {{ num-examples = 20, num-shots = 5, threads = 8 }}

[stages.s]
gpus = 1
runner = "r"
timeout = 30

[[stages.s.jobs]]
suite = "quick"
model = "keyed"
thresholds = {{ gsm8k = 0.5 }}
est-time = 10

[[stages.s.jobs]]
suite = "quick"
model = "keyed-dies"
thresholds = {{ gsm8k = 0.5 }}
est-time = 10
"""


def write_project(tmp_path: Path) -> Path:
    return write_quick_project(tmp_path, CONFIG)


def leaks(folder: Path, *outputs: str) -> list[str]:
    found = [f"{path}: {value}" for path in folder.rglob("*") if path.is_file()
             for value in PLANTED if value in path.read_text(errors="replace")]  # fmt: skip
    return found + [f"output: {value}" for value in PLANTED for out in outputs if value in out]


def test_escaped_forms_and_url_passwords_are_scrubbed() -> None:
    scrubber = Scrubber({"ODD_SECRET": ESCAPED, "UPSTREAM": f"https://u:{URL_PASSWORD}@h/"}, [])
    text = f"{json.dumps(ESCAPED)} {ESCAPED!r} {ESCAPED} https://u:{URL_PASSWORD}@h/"
    assert not any(value in scrubber.text(text) for value in PLANTED), scrubber.text(text)
    assert redacted({"UPSTREAM": f"https://u:{URL_PASSWORD}@h/x"}) == {
        "UPSTREAM": "https://u:***@h/x"}  # fmt: skip
    shown = hide_secret_assignments(f"ServerArgs(api_key='{API_KEY}', tp_size=1) --api-key"
                                    f" {API_KEY} {{'GITHUB_TOKEN': '{OS_TOKEN}'}}")  # fmt: skip
    assert shown == "ServerArgs(api_key='***', tp_size=1) --api-key *** {'GITHUB_TOKEN': '***'}"


@pytest.mark.real_process
def test_secrets_of_a_failed_launch_and_of_stages_toml_never_leave_the_run(
    tmp_path: Path, tag: str
) -> None:
    config, results = write_project(tmp_path), tmp_path / "results"
    run = run_python(
        "-m", "sglang_ci", "run", "--stage", "s", "--engine", "stub", "--config", str(config),
        "--results", str(results), "--continue-on-error",
        env={"GITHUB_TOKEN": OS_TOKEN, TAG_ENV: tag,
             "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks"),
             "SGLANG_CI_LEDGER": str(tmp_path / "ledger")},
        timeout=180,
    )  # fmt: skip
    kinds = {path.parent.name: json.loads(path.read_text())["failure_kind"]
             for path in results.rglob("result.json")}  # fmt: skip
    assert kinds == {"quick-model-keyed": None, "quick-model-keyed-dies": "launch exit"}, (
        run.stdout[-3000:] + run.stderr[-3000:])  # fmt: skip
    logs = [path for path in results.rglob("server.log")]
    assert len(logs) == 2 and all("server_args=ServerArgs(" in p.read_text() for p in logs)
    assert leaks(results, run.stdout, run.stderr) == []
    plan = run_python("-m", "sglang_ci", "plan", "--stage", "s", "--config", str(config))
    assert plan.returncode == 0 and "https://ci:***@mirror.invalid" in plan.stdout, plan.stdout
    assert leaks(tmp_path / "suites", plan.stdout, plan.stderr) == []
    assert tagged_processes(tag) == []


def wait_ready(result: Path, runner: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert runner.poll() is None, "the runner ended before its servers were ready"
        if result.exists() and "launch" in json.loads(result.read_text())["phases"]:
            return
        time.sleep(0.05)
    raise AssertionError("never ready")


@pytest.mark.real_process
@pytest.mark.long
def test_cleanup_scrubs_what_a_runner_killed_by_kill_9_left(tmp_path: Path, tag: str) -> None:
    config = write_project(tmp_path)
    env = {**os.environ, "GITHUB_TOKEN": OS_TOKEN, TAG_ENV: tag,
           "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks"),
           "SGLANG_CI_LEDGER": str(tmp_path / "ledger")}  # fmt: skip
    runner = subprocess.Popen(
        [sys.executable, "-m", "sglang_ci", "job", "quick(model='keyed')", "--engine", "stub",
         "--config", str(config), "--results", str(tmp_path / "results")],
        env={**env, "SGLANG_CI_STUB_FAULTS": "slow_answer=30"}, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    folder = tmp_path / "results" / "quick-model-keyed"
    wait_ready(folder / "result.json", runner)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    assert API_KEY in (folder / "server.log").read_text()  # left unscrubbed by the kill
    done = subprocess.run([sys.executable, "-m", "sglang_ci", "cleanup"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert leaks(folder) == []
    assert json.loads((folder / "result.json").read_text())["failure_kind"] == "runner died"
    assert tagged_processes(tag) == []


PRINTS_A_TOKEN = """
import os, unittest

class Test(unittest.TestCase):
    def test_prints(self):
        print("token is", os.environ["HF_TOKEN"], flush=True)

if __name__ == "__main__":
    unittest.main()
"""


@pytest.fixture
def port() -> Iterator[int]:
    with PortLease() as lease:
        yield lease.take(plain_server_ports)


@pytest.mark.real_process
def test_run_file_scrubs_its_output_on_the_way(tmp_path: Path, tag: str, port: int) -> None:
    root = make_checkout(tmp_path, {"c/test_prints.py": PRINTS_A_TOKEN})
    results = tmp_path / "results"
    done = subprocess.run(run_file_argv(root, "c/test_prints.py", results),
                          env={**file_env(tag, tmp_path, port), "HF_TOKEN": OS_TOKEN},
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "token is ***" in done.stdout
    assert leaks(results, done.stdout, done.stderr) == []


@pytest.mark.real_process
def test_the_api_key_is_not_on_the_servers_command_line(tmp_path: Path, tag: str) -> None:
    config = write_project(tmp_path)
    env = {**os.environ, TAG_ENV: tag, "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks"),
           "SGLANG_CI_LEDGER": str(tmp_path / "ledger"),
           "SGLANG_CI_STUB_FAULTS": "slow_answer=30"}  # fmt: skip
    runner = subprocess.Popen(
        [sys.executable, "-m", "sglang_ci", "job", "quick(model='keyed')", "--engine", "stub",
         "--config", str(config), "--results", str(tmp_path / "results")],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_ready(tmp_path / "results" / "quick-model-keyed" / "result.json", runner)
        lines = [" ".join(p.cmdline()) for p in psutil.process_iter()
                 if p.pid != os.getpid() and _tagged(p, tag)]  # fmt: skip
        assert any("sglang_ci.stub" in line for line in lines), lines
        assert [line for line in lines if "PLANTEDapikey" in line] == []
    finally:
        runner.send_signal(signal.SIGTERM)
        runner.wait(timeout=60)
    assert tagged_processes(tag) == []


def _tagged(process: psutil.Process, tag: str) -> bool:
    try:
        return process.environ().get(TAG_ENV) == tag
    except psutil.Error:
        return False


@pytest.mark.real_process
def test_a_calibration_leaves_no_secret(tmp_path: Path, tag: str) -> None:
    config, results = write_project(tmp_path), tmp_path / "results"
    run = run_python(
        "-m", "sglang_ci", "calibrate", "quick(model='keyed')", "--engine", "stub", "--runs",
        "1", "--config", str(config), "--results", str(results),
        env={"GITHUB_TOKEN": OS_TOKEN, TAG_ENV: tag,
             "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks"),
             "SGLANG_CI_LEDGER": str(tmp_path / "ledger")},
        timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert any("server_args=ServerArgs(" in p.read_text() for p in results.rglob("*.log"))
    assert leaks(results, run.stdout, run.stderr) == []
    assert tagged_processes(tag) == []
