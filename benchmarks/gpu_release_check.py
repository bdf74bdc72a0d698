"""On a GPU host: teardown waits for NVML to show GPU memory released, and the idle check
names a foreign process. Needs torch (to hold memory) and nvidia-ml-py.

1. Launch, through the runner's launcher, a process that allocates GPU memory (and a
   child that does too, as SGLang's schedulers do), wait until NVML sees it, tear it
   down, and time how long NVML takes to show the memory released.
2. Start a process the job does not own that holds GPU memory, and show the pre-launch
   idle check failing with its pid, name and memory.

    python benchmarks/gpu_release_check.py [--gpu 0] [--gib 4]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # runnable from a checkout without installing

from sglang_ci.launch import gpu_memory  # noqa: E402
from sglang_ci.launch.launcher import start_process  # noqa: E402
from sglang_ci.launch.process_tree import become_subreaper  # noqa: E402
from sglang_ci.outcome.errors import FatalError  # noqa: E402

HOLDER = """
import os, sys, time, torch
gib = float(sys.argv[1])
if len(sys.argv) > 2 and os.fork() == 0:  # a child holding memory too, like a scheduler
    torch.cuda.init()
x = torch.empty(int(gib * 2**30), dtype=torch.uint8, device="cuda")
x.fill_(1)
torch.cuda.synchronize()
print("holding", os.getpid(), flush=True)
time.sleep(3600)
"""


def wait_seen(gpu: str, pids: set[int] | None, min_mib: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    with gpu_memory.nvml() as lib:
        assert lib is not None, "NVML is not available here"
        while time.monotonic() < deadline:
            use = gpu_memory.read_use(lib, gpu)
            if use.used_mib >= min_mib and (pids is None or use.processes):
                print(f"  NVML sees: {use.describe()}")
                return
            time.sleep(0.2)
    raise SystemExit("the holder never showed up in NVML")


def release_check(gpu: str, gib: float) -> None:
    print(f"1. teardown waits for NVML release ({gib:g} GiB in a server and its child)")
    become_subreaper()
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu}
    with tempfile.TemporaryDirectory() as folder:
        baseline = gpu_memory.usage([gpu]) or {}
        command = [sys.executable, "-c", HOLDER, str(gib), "fork"]
        process = start_process("server", command, env, Path(folder) / "holder.log", 0)
        wait_seen(gpu, None, int(gib * 1024))
        started = time.monotonic()
        report = process.tree.teardown(grace=5)
        reaped = time.monotonic() - started
        waited = gpu_memory.wait_released([gpu], baseline, timeout=60)
        assert waited is not None
        print(
            f"  processes ended: {report.terminated} by SIGTERM, {report.killed} by SIGKILL,"
            f" survivors {list(report.survivors)}, reaped after {reaped * 1000:.0f} ms"
        )
        print(f"  NVML showed the memory released {waited * 1000:.0f} ms after that")
        with gpu_memory.nvml() as lib:
            print(f"  now: {gpu_memory.read_use(lib, gpu).describe()}")


def idle_check(gpu: str, gib: float) -> None:
    print("2. the pre-launch idle check names a foreign process")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu}
    foreign = subprocess.Popen([sys.executable, "-c", HOLDER, str(gib)], env=env,
                               stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert foreign.stdout is not None
        foreign.stdout.readline()
        wait_seen(gpu, set(), int(gib * 1024))
        try:
            gpu_memory.wait_idle([gpu], timeout=3)
            print("  UNEXPECTED: the GPU counted as idle")
        except FatalError as error:
            print(f"  refused as expected: {error}")
            print(f"  (the foreign process was pid {foreign.pid})")
    finally:
        foreign.kill()
        foreign.wait()
    waited = gpu_memory.wait_idle([gpu], timeout=60)
    print(f"  after killing it the GPU was idle again after {(waited or 0) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", default="0")
    parser.add_argument("--gib", type=float, default=4.0)
    args = parser.parse_args()
    with gpu_memory.nvml() as lib:
        if lib is None:  # checked before a process starts: nothing to leave behind
            print("gpu_release_check: NVML is not available here (no NVIDIA driver or no"
                  " nvidia-ml-py); run it on a GPU host", file=sys.stderr)  # fmt: skip
            sys.exit(2)
    release_check(args.gpu, args.gib)
    idle_check(args.gpu, args.gib)


if __name__ == "__main__":
    main()
