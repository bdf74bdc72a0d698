"""Cancelling a running `nox -s <job> -- --engine stub` as GitHub does: SIGINT, then
SIGTERM; every server gone within GitHub's 10 s window and the result marked cancelled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, TAG_ENV, tagged_processes

pytestmark = pytest.mark.real_process

JOB = "disagg(model='dsv4-flash')"
GITHUB_WINDOW_S = 10.0


def servers(tag: str) -> list[str]:
    return [p for p in tagged_processes(tag) if "sglang_ci.stub" in p or "sglang_router" in p]


def phases(tmp_path: Path) -> dict[str, float]:
    path = tmp_path / "disagg-model-dsv4-flash" / "result.json"
    try:
        return dict(json.loads(path.read_text())["phases"])
    except (OSError, ValueError, KeyError):
        return {}


def wait_for(condition: object, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.mark.parametrize(
    ("faults", "running", "signals"),
    [
        # GitHub's sequence, with servers that ignore SIGTERM: the grace period (5 s) is
        # cut short by the second signal, which must escalate to SIGKILL at once.
        ("slow_answer=60,ignore_sigterm", 3, (signal.SIGINT, signal.SIGTERM)),
        # All three processes up (prefill, decode, router), the smoke request hanging.
        ("slow_answer=60", 3, (signal.SIGHUP,)),
        # Still starting, with re-parented helpers holding the servers' ports.
        ("slow_start=60,orphans=2", 6, (signal.SIGTERM,)),
    ],
)
def test_cancel_tears_everything_down(
    tmp_path: Path, tag: str, faults: str, running: int, signals: tuple[signal.Signals, ...]
) -> None:
    env = {**os.environ, TAG_ENV: tag, "SGLANG_CI_STUB_FAULTS": faults,
           "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks")}  # fmt: skip
    nox = subprocess.Popen(
        [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", JOB, "--",
         "--engine", "stub", "--results", str(tmp_path)],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,  # signals go to nox alone, as a CI runner may send them
    )  # fmt: skip
    try:
        wait_for(lambda: len(servers(tag)) >= running, 60)
        if "slow_answer" in faults:
            # The runner rewrites result.json when the launch phase ends: all three are
            # ready and the smoke request is about to hang on the slow answer.
            wait_for(lambda: "launch" in phases(tmp_path), 30)
            time.sleep(0.5)
        nox.send_signal(signals[0])
        started = time.monotonic()
        for later in signals[1:]:
            time.sleep(1.5)  # later than a copy of the same Ctrl-C: an escalation
            nox.send_signal(later)
        wait_for(lambda: servers(tag) == [], GITHUB_WINDOW_S - (time.monotonic() - started))
        output = nox.communicate(timeout=30)[0].decode()
    finally:
        if nox.poll() is None:
            os.killpg(nox.pid, signal.SIGKILL)
    assert nox.returncode != 0, output
    record = json.loads((tmp_path / "disagg-model-dsv4-flash" / "result.json").read_text())
    assert record["status"] == "cancelled", output
    assert record["reason"].startswith(f"cancelled by {signals[0].name}")
    assert "cancelled" in output
    if "ignore_sigterm" in faults:
        stubs = [s for s in record["servers"] if s["role"] != "router"]  # the router obeys
        assert all(s["teardown"]["killed"] >= 1 for s in stubs)
    assert tagged_processes(tag) == []
