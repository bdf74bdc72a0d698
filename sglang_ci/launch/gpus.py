"""How many GPUs this process can use, and the up-front refusal when a job needs more.

The count honours CUDA_VISIBLE_DEVICES the way CUDA does (an empty value hides every GPU,
an invalid entry hides it and everything after it). The physical count comes from NVML
(nvidia-ml-py) when importable, else from ``nvidia-smi -L``; no driver means zero GPUs.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sglang_ci.config.errors import GpuShortageError


@dataclass(frozen=True)
class GpuCount:
    count: int
    source: str  # how the count was found, for the error message


def physical_gpus() -> GpuCount:
    try:
        import pynvml  # nvidia-ml-py, present on GPU runners
    except ImportError:
        pass
    else:
        try:
            pynvml.nvmlInit()
            try:
                return GpuCount(int(pynvml.nvmlDeviceGetCount()), "NVML")
            finally:
                pynvml.nvmlShutdown()
        except pynvml.NVMLError as exc:
            return GpuCount(0, f"NVML: {exc}")
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return GpuCount(0, "no NVIDIA driver: neither NVML nor nvidia-smi found")
    try:
        listing = subprocess.run(
            [smi, "-L"], capture_output=True, text=True, timeout=3, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return GpuCount(0, f"nvidia-smi failed: {exc}")
    return GpuCount(
        sum(line.startswith("GPU ") for line in listing.stdout.splitlines()), "nvidia-smi -L"
    )


def visible_gpus(env: Mapping[str, str], probe: Callable[[], GpuCount] | None = None) -> GpuCount:
    physical = (probe or physical_gpus)()
    mask = env.get("CUDA_VISIBLE_DEVICES")
    if mask is None or physical.count == 0:
        return physical
    visible = 0
    for entry in mask.split(","):
        entry = entry.strip()
        # CUDA stops at the first entry it cannot use (e.g. "-1", a typo).
        if not entry or (entry.isdigit() and int(entry) >= physical.count) or entry.startswith("-"):
            break
        visible += 1
    return GpuCount(
        min(visible, physical.count), f"{physical.source}, CUDA_VISIBLE_DEVICES={mask!r}"
    )


def require_gpus(job_id: str, needed: int, found: GpuCount) -> None:
    if found.count >= needed:
        return
    raise GpuShortageError(
        f"{job_id} needs {needed} GPU{'s' if needed != 1 else ''} but {found.count}"
        f" {'is' if found.count == 1 else 'are'} visible ({found.source}); to rehearse it"
        f' without GPUs: nox -s "{job_id}" -- --engine stub'
    )
