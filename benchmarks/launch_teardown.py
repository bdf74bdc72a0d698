"""Readiness-detection delay and teardown time of the launcher, over N stub launches.

Readiness delay: from the instant the stub reports itself ready (it logs the wall-clock
time) to the instant the runner's poll returns. SGLang's own launcher polls every 10 s;
the target here is under 0.3 s. Teardown: SIGTERM to the group until every process
(the server and two helpers that re-parented away) is reaped and the port is free.

    python benchmarks/launch_teardown.py [--launches 20]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # runnable from a checkout without installing

from sglang_ci.config.sglang_ports import plain_server_ports  # noqa: E402
from sglang_ci.launch.launcher import await_ready, start_process  # noqa: E402
from sglang_ci.launch.ports import PortLease, port_is_free  # noqa: E402
from sglang_ci.launch.process_tree import become_subreaper  # noqa: E402

READY_RE = re.compile(r"ready at (\d+\.\d+)")


def one_launch(lease: PortLease, log: Path) -> tuple[float, float]:
    port = lease.take(plain_server_ports)
    command = [sys.executable, "-m", "sglang_ci.stub", "--model-path", "m", "--port", str(port)]
    # A random extra start-up delay, so the stub's ready instant falls anywhere between
    # two polls rather than always at the same phase of the 0.1 s poll cycle.
    faults = f"orphans=2,slow_start={random.uniform(0, 0.2):.3f}"
    env = {**os.environ, "SGLANG_CI_STUB_FAULTS": faults, "PYTHONPATH": str(ROOT)}
    process = start_process("server", command, env, log, port)
    await_ready(process, 30, "/health_generate")
    noticed = time.time()
    match = READY_RE.search(log.read_text())
    assert match, "the stub did not log its ready time"
    delay = noticed - float(match.group(1))
    started = time.monotonic()
    report = process.tree.teardown(grace=5)
    teardown = time.monotonic() - started
    assert not report.survivors and port_is_free(port)
    return delay, teardown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=20)
    launches = parser.parse_args().launches
    become_subreaper()
    delays, teardowns = [], []
    with tempfile.TemporaryDirectory() as folder, PortLease() as lease:
        for index in range(launches):
            delay, teardown = one_launch(lease, Path(folder) / f"{index}.log")
            delays.append(delay)
            teardowns.append(teardown)
    print(f"launches: {launches}")
    print(
        f"readiness detected after: median {statistics.median(delays) * 1000:.0f} ms,"
        f" max {max(delays) * 1000:.0f} ms (target < 300 ms; SGLang's launcher polls every 10 s)"
    )
    print(
        f"teardown (server + 2 re-parented helpers, port free): median"
        f" {statistics.median(teardowns) * 1000:.0f} ms, max {max(teardowns) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
