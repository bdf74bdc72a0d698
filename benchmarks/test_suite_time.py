"""The wall time of the runner's whole test suite, as `nox -R -s tests` runs it (pytest,
4 workers), and of the unit floor alone (``-m "not e2e"``): goal <= 120 s for the whole
suite on the 2-core CI machine. Prints each run's seconds and the median of --runs (3).

    python benchmarks/test_suite_time.py [--runs 3] [--unit-only]

Run it on an otherwise idle machine: the figures are the machine's load as much as the
suite's, and the script prints the load average before each run so a reader can tell.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_run(marker: str | None) -> tuple[float, str]:
    """Seconds of one `nox -R -s tests` (reusing its venv), and pytest's summary line."""
    argv = [sys.executable, "-m", "nox", "-R", "-s", "tests"]
    if marker:
        argv += ["--", "-m", marker]
    started = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    summary = re.findall(r"=+ (.*(?:passed|failed).*) =+", done.stdout + done.stderr)
    line = summary[-1] if summary else f"exit {done.returncode}"
    if done.returncode:
        print(done.stdout[-3000:], done.stderr[-2000:], sep="\n", file=sys.stderr)
    return seconds, line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--unit-only", action="store_true", help='only -m "not e2e"')
    args = parser.parse_args()
    cases: list[tuple[str, str | None]] = [("unit floor (-m 'not e2e')", "not e2e")]
    if not args.unit_only:
        cases.insert(0, ("whole suite", None))
    for name, marker in cases:
        times = []
        for run in range(1, args.runs + 1):
            load = os.getloadavg()[0]
            seconds, line = one_run(marker)
            times.append(seconds)
            print(f"{name}: run {run}: {seconds:.1f} s (load before {load:.1f}; {line})",
                  flush=True)  # fmt: skip
        print(f"{name}: median of {len(times)}: {statistics.median(times):.1f} s"
              f" (goal for the whole suite: <= 120 s)", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
