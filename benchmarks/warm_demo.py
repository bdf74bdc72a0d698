"""How long `nox -s demo` takes cold (a fresh venv) and warm (the venv reused; target: <= 10 s).

A warm run reuses .nox/demo and skips the install when the venv already holds this
checkout and the pinned sglang-router, so it pays only nox's start-up and the stage run.
Removes .nox/demo first, so the first run is cold; then times N warm runs of the real
command, in one run of this script.

    python benchmarks/warm_demo.py [--runs 3] [--stage base-b]
"""

from __future__ import annotations

import argparse
import shutil
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
    parser.add_argument("--runs", type=int, default=3, help="warm runs after the cold one")
    parser.add_argument("--stage", default=None, help="passed as `-- --stage STAGE`")
    args = parser.parse_args()
    command = [sys.executable, "-m", "nox", "-s", "demo"]
    if args.stage:
        command += ["--", "--stage", args.stage]
    shutil.rmtree(ROOT / ".nox" / "demo", ignore_errors=True)
    cold = time_once(command)
    warm = [time_once(command) for _ in range(args.runs)]
    print(f"{' '.join(command[1:])}")
    print(f"cold (fresh venv)  {cold:.2f} s")
    print(f"warm x{len(warm)}            {', '.join(f'{t:.2f}' for t in warm)} s")
    print(f"warm median        {statistics.median(warm):.2f} s (target <= 10 s)")


if __name__ == "__main__":
    main()
