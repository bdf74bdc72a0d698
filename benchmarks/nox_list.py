"""How long `nox -l` takes over the whole matrix (target: under 2 s).

Every `nox` call, `nox -s ...` included, pays this start-up: loading the noxfile reads and
validates stages.toml and generates the sessions. Prints the median, min and max of N
runs of the real command, in one run of this script.

    python benchmarks/nox_list.py [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def time_once(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    commands = {
        "nox -l": [sys.executable, "-m", "nox", "-l"],
        "nox -l --json -t matrix": [sys.executable, "-m", "nox", "-l", "--json", "-t", "matrix"],
        "python -c pass (interpreter start, for scale)": [sys.executable, "-c", "pass"],
    }
    for label, command in commands.items():
        times = [time_once(command) for _ in range(runs)]
        print(
            f"{label:48s} median {statistics.median(times):.3f} s"
            f"  min {min(times):.3f} s  max {max(times):.3f} s  ({runs} runs)"
        )


if __name__ == "__main__":
    main()
