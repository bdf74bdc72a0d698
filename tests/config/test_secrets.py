"""Planted tokens never reach a file a run writes or its output: a failed check, a
timeout and a server crash, with secrets in the environment and in a server flag."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sglang_ci.config.secrets import (
    Environment,
    Scrubber,
    looks_secret,
    redacted,
    redacted_argv,
)
from tests.conftest import TAG_ENV, run_python, tagged_processes, write_quick_project
from tests.results.test_junit import check_schema
from tests.run.test_run_pipeline import launched, run_limit_reached_when

PLANTED = {
    "HF_TOKEN": "hf_PLANTEDhuggingface",
    "GITHUB_TOKEN": "ghp_PLANTEDgithub",
    "MY_SERVICE_PASSWORD": "PLANTEDpassword",
}
API_KEY = "sk-PLANTEDapikey"

CONFIG = f"""
[models.keyed]
model-path = "org/keyed"
args = {{ api-key = "{API_KEY}" }}
env = {{ EXTRA_SECRET = "PLANTEDconfigsecret" }}

[models.keyed-slow]
model-path = "org/keyed-slow"
args = {{ api-key = "{API_KEY}" }}
env = {{ SGLANG_CI_STUB_FAULTS = "slow_answer=30" }}

[models.keyed-crash]
model-path = "org/keyed-crash"
args = {{ api-key = "{API_KEY}" }}
env = {{ SGLANG_CI_STUB_FAULTS = "crash_after=5" }}

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
thresholds = {{ gsm8k = 0.9 }}
est-time = 10

[[stages.s.jobs]]
suite = "quick"
model = "keyed-slow"
thresholds = {{ gsm8k = 0.5 }}
est-time = 10

[[stages.s.jobs]]
suite = "quick"
model = "keyed-crash"
thresholds = {{ gsm8k = 0.5 }}
est-time = 10
"""


def test_environment_repr_shows_no_value() -> None:
    env = Environment({"HF_TOKEN": "hf_abcdef", "PATH": "/bin"})
    assert "hf_abcdef" not in repr(env) and "/bin" not in repr(env)
    assert dict(env) == {"HF_TOKEN": "hf_abcdef", "PATH": "/bin"}


def test_redaction_of_settings_and_command_lines() -> None:
    info = {"api_key": "sk-123456", "tp_size": 2, "nested": [{"hf_token": "hf_abcdef"}]}
    assert redacted(info) == {"api_key": "***", "tp_size": 2, "nested": [{"hf_token": "***"}]}
    assert redacted_argv(["--api-key", "sk-1", "--port", "1", "--admin-token=x"]) == [
        "--api-key", "***", "--port", "1", "--admin-token=***"]  # fmt: skip
    scrubber = Scrubber({"HF_TOKEN": "hf_abcdef", "HOME": "/root"}, [["--api-key", "sk-123456"]])
    assert scrubber.text("key sk-123456 token hf_abcdef home /root") == (
        "key *** token *** home /root"
    )


@pytest.mark.real_process
@pytest.mark.long
def test_planted_secrets_never_leave_the_run(tmp_path: Path, tag: str) -> None:
    write_quick_project(tmp_path, CONFIG)
    results = tmp_path / "results"
    summary = tmp_path / "summary.md"
    # The limit is long; the slow job reaches it once its server is up (the test sends the
    # limit's SIGALRM then), so the other jobs never race a short limit on a loaded machine.
    code, output = run_limit_reached_when(
        [sys.executable, "-m", "sglang_ci", "run", "--stage", "s", "--engine", "stub",
         "--config", str(tmp_path / "stages.toml"), "--results", str(results), "--timeout",
         "600", "--continue-on-error"],
        {**PLANTED, TAG_ENV: tag, "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks"),
         "SGLANG_CI_STUB_ACCURACY": "0.2", "GITHUB_STEP_SUMMARY": str(summary)},
        [lambda: launched(results / "quick-model-keyed-slow")],
    )  # fmt: skip
    assert code == 1, output
    kinds = {path.parent.name: json.loads(path.read_text())["failure_kind"]
             for path in results.rglob("result.json")}  # fmt: skip
    assert kinds == {"quick-model-keyed": "below threshold", "quick-model-keyed-slow":
                     "time limit", "quick-model-keyed-crash": "server died"}  # fmt: skip
    planted = [*PLANTED.values(), API_KEY, "PLANTEDconfigsecret"]
    written = [path for path in [*results.rglob("*"), summary] if path.is_file()]
    assert any(path.name == "junit.xml" for path in written)
    # Every job's junit.xml is merge-ready: its suite is the job, a time limit and a server
    # death are errors with their kind (issue 15, item 4).
    errors = {path.parent.name: [e.get("type") for e in check_schema(path).iter("error")]
              for path in results.rglob("junit.xml")}  # fmt: skip
    assert errors == {"quick-model-keyed": [], "quick-model-keyed-slow": ["time limit"],
                      "quick-model-keyed-crash": ["server died"]}  # fmt: skip
    assert any(path.name == "server.log" for path in written)
    hits = [f"{path}: {value}" for path in written for value in planted
            if value in path.read_text(errors="replace")]  # fmt: skip
    hits += [f"output: {value}" for value in planted if value in output]
    assert hits == []
    dry = run_python("-m", "sglang_ci", "plan", "--stage", "s", "--config",
                     str(tmp_path / "stages.toml"))  # fmt: skip
    assert dry.returncode == 0 and API_KEY not in dry.stdout
    assert "--api-key '***'" in dry.stdout or "--api-key ***" in dry.stdout
    assert tagged_processes(tag) == []


@pytest.mark.parametrize(
    ("name", "secret"),
    [("HF_TOKEN", True), ("HUGGING_FACE_HUB_TOKEN", True), ("GITHUB_TOKEN", True),
     ("AWS_SECRET_ACCESS_KEY", True), ("--api-key", True), ("MY_SERVICE_PASSWORD", True),
     ("--speculative-num-draft-tokens", False), ("max_total_tokens", False),
     ("SGLANG_ENABLE_SPEC_V2", False), ("PATH", False)],
)  # fmt: skip
def test_which_names_look_secret(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret
