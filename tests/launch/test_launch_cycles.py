"""Repeated launch/teardown cycles of a stub whose helpers re-parent away leave nothing
behind. 30 cycles here; the soak of 100 or more is `benchmarks/launch_teardown.py
--launches 100`, which checks the same after every launch."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from sglang_ci.config.sglang_ports import plain_server_ports
from sglang_ci.launch.launcher import await_ready, start_process
from sglang_ci.launch.ports import PortLease, listening
from sglang_ci.launch.process_tree import become_subreaper
from tests.conftest import TAG_ENV, tagged_processes

pytestmark = [pytest.mark.real_process, pytest.mark.long]

CYCLES = 30


def test_repeated_cycles_with_grandchildren(tmp_path: Path, tag: str) -> None:
    env = {**os.environ, TAG_ENV: tag, "SGLANG_CI_STUB_FAULTS": "orphans=2"}
    # As the job runner does: orphans re-parent to this (test) process, which reaps them,
    # instead of lingering as zombies under PID 1.
    become_subreaper()
    ended = 0
    with PortLease() as lease:
        for cycle in range(CYCLES):
            port = lease.take(plain_server_ports)
            command = [sys.executable, "-m", "sglang_ci.stub", "--model-path", "m", "--port",
                       str(port)]  # fmt: skip
            process = start_process("server", command, env, tmp_path / "server.log", port)
            await_ready(process, 30, "/health_generate")
            report = process.tree.teardown(grace=2)
            assert report.survivors == (), f"cycle {cycle}"
            ended += report.terminated + report.killed
            assert listening([port]) == [], f"cycle {cycle}: port {port} still held"
    assert ended == CYCLES * 3  # each cycle: the server and its two re-parented helpers
    assert tagged_processes(tag) == []
