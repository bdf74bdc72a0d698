"""What `pip install sglang-ci` costs: the wheel of this checkout installed into a fresh
venv, core alone and with each extra, its time and the venv's added size, in one run.

Each install is timed twice in its own fresh venv: once with an empty pip cache (the
downloads included, as on a new machine) and once with the cache that run filled. The
size is what the install added to the venv (a bare venv with pip is subtracted).

    python benchmarks/core_install.py [--extras hub,pd,gpu,plot]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def size_mb(folder: Path) -> float:
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    return total / 1e6


def install(wheel: Path, extra: str, work: Path, cache: Path) -> tuple[float, float]:
    """(seconds, MB added) of installing the wheel (with ``extra``) into a fresh venv."""
    venv = work / f"venv-{extra or 'core'}-{time.monotonic_ns()}"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bare = size_mb(venv)
    target = f"{wheel}[{extra}]" if extra else str(wheel)
    start = time.perf_counter()
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", "--cache-dir", str(cache), target],
                   check=True)  # fmt: skip
    seconds = time.perf_counter() - start
    added = size_mb(venv) - bare
    shutil.rmtree(venv)
    return seconds, added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", default="hub,pd", help="extras to measure beside core")
    extras = ["", *filter(None, parser.parse_args().extras.split(","))]
    with tempfile.TemporaryDirectory(prefix="sglang-ci-install-") as folder:
        work = Path(folder)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                        str(work / "dist"), str(ROOT)], check=True)  # fmt: skip
        (wheel,) = (work / "dist").glob("sglang_ci-*.whl")
        print(f"{wheel.name}, Python {sys.version.split()[0]}")
        print(f"{'install':24s} {'empty cache':>12s} {'warm cache':>11s} {'added':>9s}")
        for extra in extras:
            cache = work / f"cache-{extra or 'core'}"
            cold, added = install(wheel, extra, work, cache)
            warm, _ = install(wheel, extra, work, cache)
            name = f"sglang-ci[{extra}]" if extra else "sglang-ci (core)"
            print(f"{name:24s} {cold:10.1f} s {warm:9.1f} s {added:6.0f} MB")


if __name__ == "__main__":
    main()
