"""How long `nox -l` takes over the whole matrix (target: under 2 s).

Every `nox` call, `nox -s ...` included, pays this start-up: loading the noxfile reads and
validates stages.toml and generates the sessions. Prints the median, min and max of N
runs of the real command, in one run of this script.

    python benchmarks/nox_list.py [--runs 10] [--checkout ../sglang [--suite S]]

With ``--checkout``, also `nox -l` with a registered stage of that SGLang checkout added
to stages.toml, with an empty and with a filled registry cache.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def time_once(args: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=ROOT, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


REGISTERED_STAGE = """
[stages.registered-bench]
gpus = 1
runner = "1-gpu-small"
timeout = 60
registered = {{ suite = "{suite}", checkout = "{checkout}" }}
"""


def registered_times(checkout: Path, suite: str, runs: int) -> None:
    """`nox -l` over stages.toml plus one registered stage of ``checkout``: each run with
    an empty registry cache (every file read by AST), then with the cache filled."""
    with tempfile.TemporaryDirectory(prefix="sglang-ci-bench-") as folder:
        work = Path(folder)
        config = work / "stages.toml"
        config.write_text(
            (ROOT / "stages.toml").read_text()
            + REGISTERED_STAGE.format(suite=suite, checkout=checkout.resolve())
        )
        shutil.copy(ROOT / "baselines.toml", work / "baselines.toml")
        command = [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-l"]
        env = {**os.environ, "SGLANG_CI_CONFIG": str(config)}
        cold, warm = [], []
        for number in range(runs):
            env["SGLANG_CI_REGISTRY_CACHE"] = str(work / f"cache-{number}")
            cold.append(time_once(command, env))
            warm.append(time_once(command, env))
        for label, times in (
            ("nox -l + registered stage, empty cache", cold),
            ("nox -l + registered stage, cache filled", warm),
        ):
            print(
                f"{label:48s} median {statistics.median(times):.3f} s"
                f"  min {min(times):.3f} s  max {max(times):.3f} s  ({runs} runs)"
            )
        ratio = statistics.median(cold) / statistics.median(warm)
        print(f"{'ratio empty / filled':48s} {ratio:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--checkout", type=Path, help="an SGLang checkout: also time a registered stage of it"
    )
    parser.add_argument(
        "--suite",
        default="base-b-test-1-gpu-small",
        help="the registered stage's suite (with --checkout)",
    )
    args = parser.parse_args()
    runs = args.runs
    if args.checkout is not None:
        registered_times(args.checkout, args.suite, runs)
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
