"""GPU idleness before a launch and memory release after teardown, read from NVML.

Killed SGLang trees have been seen holding GPU memory after every process looked dead
(sglang issues #36589, #39545): teardown is only done when NVML agrees. Before a launch,
a job waits for its GPUs to be free of other processes and names them if they stay.
Without NVML (no nvidia-ml-py, no driver) both checks are skipped and say so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

from sglang_ci.config.text import number
from sglang_ci.launch.gpus import device_handle, nvml, physical_gpus
from sglang_ci.outcome.errors import FatalError

# nvml and physical_gpus live in gpus.py; named here too because the launcher and
# calibrate call them as gpu_memory.nvml() / gpu_memory.physical_gpus(...).
__all__ = [
    "GpuUse", "held", "nvml", "physical_gpus", "read_use", "usage", "wait_idle", "wait_released",
]  # fmt: skip

POLL_S = 0.25
# Allowed drift of a GPU's used memory over its pre-launch value once released (driver
# bookkeeping); a leaked KV cache or weights are gigabytes.
SLACK_MIB = 256


@dataclass(frozen=True)
class GpuUse:
    index: str  # the physical GPU (index or UUID) as CUDA_VISIBLE_DEVICES names it
    used_mib: int
    processes: tuple[tuple[int, int], ...]  # (pid, MiB)

    def describe(self) -> str:
        procs = ", ".join(
            f"pid {pid} {_process_name(pid)} {mib} MiB" for pid, mib in self.processes
        )
        return f"GPU {self.index}: {self.used_mib} MiB used" + (f" by {procs}" if procs else "")


def _process_name(pid: int) -> str:
    try:
        return psutil.Process(pid).name()
    except psutil.Error:
        return "(not visible here)"


def read_use(lib: Any, gpu: str) -> GpuUse:
    handle = device_handle(lib, gpu)
    memory = lib.nvmlDeviceGetMemoryInfo(handle)
    processes = [
        (int(proc.pid), int((proc.usedGpuMemory or 0) // 2**20))
        for proc in lib.nvmlDeviceGetComputeRunningProcesses(handle)
    ]
    return GpuUse(gpu, int(memory.used // 2**20), tuple(processes))


def held(uses: Sequence[GpuUse], baseline: Mapping[str, int]) -> list[GpuUse]:
    """The GPUs not released: a compute process on them, or memory above the baseline
    (beyond SLACK_MIB). The one release rule, for a job's teardown and a packed run's pool."""
    return [use for use in uses
            if use.processes or use.used_mib > baseline.get(use.index, 0) + SLACK_MIB]  # fmt: skip


def usage(gpus: Sequence[str]) -> dict[str, int] | None:
    """MiB used per GPU now (the baseline a launch is compared with), None without NVML."""
    with nvml() as lib:
        if lib is None or not gpus:
            return None
        return {gpu: read_use(lib, gpu).used_mib for gpu in gpus}


def wait_released(
    gpus: Sequence[str],
    baseline: dict[str, int],
    timeout: float,
    hurry: threading.Event | None = None,
) -> float | None:
    """Wait until the job's GPUs have no compute process and their memory is back to the
    pre-launch baseline. Process ids are not compared with ours: in a container NVML may
    report the host's pid numbers. (The launch waited for the GPUs to be idle, so any
    process found on them now is the job's own, or one that should not be there.)
    Returns seconds waited, None when NVML is not available."""
    with nvml() as lib:
        if lib is None or not gpus:
            return None
        started = time.monotonic()
        while True:
            busy = held([read_use(lib, gpu) for gpu in gpus], baseline)
            waited = time.monotonic() - started
            if not busy:
                return waited
            if waited >= timeout or (hurry is not None and hurry.is_set()):
                raise FatalError(
                    f"GPU memory not released {number(waited)} s after teardown: "
                    + "; ".join(use.describe() for use in busy)
                )
            time.sleep(POLL_S)


def wait_idle(gpus: Sequence[str], timeout: float) -> float | None:
    """Wait until no process uses ``gpus``; name the foreign ones if they never leave."""
    with nvml() as lib:
        if lib is None or not gpus:
            return None
        started = time.monotonic()
        while True:
            busy = [use for use in (read_use(lib, gpu) for gpu in gpus) if use.processes]
            waited = time.monotonic() - started
            if not busy:
                return waited
            if waited >= timeout:
                raise FatalError(
                    f"the job's GPUs are still in use by other processes after {number(waited)} s: "
                    + "; ".join(use.describe() for use in busy)
                )
            time.sleep(POLL_S)
