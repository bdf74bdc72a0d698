"""The machine's GPUs: NVML access, the physical count, and CUDA_VISIBLE_DEVICES.

Everything that opens NVML or reads CUDA_VISIBLE_DEVICES goes through this module, so the
mask is read one way (CUDA's) for counting, for placing a job on physical GPUs and for
NVML look-ups, and NVML is always shut down after use.

CUDA's reading of the mask: unset shows every GPU, an empty value hides every GPU, an
entry CUDA cannot use (negative, empty, an index past the last GPU) hides it and
everything after it. The physical count comes from NVML (nvidia-ml-py) when usable, else
from ``nvidia-smi -L``; no driver means zero GPUs.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sglang_ci.outcome.errors import GpuShortageError


@dataclass(frozen=True)
class GpuCount:
    count: int
    source: str  # how the count was found, for the error message


@contextlib.contextmanager
def nvml() -> Iterator[Any | None]:
    """pynvml, initialised for the block and shut down after, or None when NVML is not
    usable here (no nvidia-ml-py, no driver): callers then skip what needs it."""
    try:
        import pynvml  # nvidia-ml-py, present on GPU runners
    except ImportError:
        yield None
        return
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        yield None
        return
    try:
        yield pynvml
    finally:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()


def device_handle(lib: Any, gpu: str) -> Any:
    """NVML's handle for a GPU named as CUDA_VISIBLE_DEVICES names it (index or UUID)."""
    if gpu.isdigit():
        return lib.nvmlDeviceGetHandleByIndex(int(gpu))
    return lib.nvmlDeviceGetHandleByUUID(gpu)


def count_gpus() -> GpuCount:
    """The GPUs physically present, whatever CUDA_VISIBLE_DEVICES says."""
    with nvml() as lib:
        if lib is not None:
            try:
                return GpuCount(int(lib.nvmlDeviceGetCount()), "NVML")
            except lib.NVMLError as exc:
                return GpuCount(0, f"NVML: {exc}")
    # No usable NVML: nvidia-smi still tells a driver without nvidia-ml-py from none.
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


def visible_entries(env: Mapping[str, str], physical: int | None = None) -> list[str] | None:
    """CUDA_VISIBLE_DEVICES as CUDA reads it: the entries before the first one it cannot
    use (an index is checked against ``physical`` when that is known); None when unset."""
    mask = env.get("CUDA_VISIBLE_DEVICES")
    if mask is None:
        return None
    entries: list[str] = []
    for raw in mask.split(","):
        entry = raw.strip()
        past_the_end = physical is not None and entry.isdigit() and int(entry) >= physical
        if not entry or entry.startswith("-") or past_the_end:
            break
        entries.append(entry)
    return entries


def physical_gpus(job_gpus: Sequence[int], env: Mapping[str, str]) -> list[str]:
    """Map the job's GPU numbers (0-based, as --base-gpu-id counts) to the physical GPUs
    (index or UUID) NVML knows them by; numbers the mask does not reach are left out."""
    entries = visible_entries(env)
    if entries is None:
        return [str(gpu) for gpu in job_gpus]
    return [entries[gpu] for gpu in job_gpus if gpu < len(entries)]


def visible_gpus(env: Mapping[str, str], probe: Callable[[], GpuCount] | None = None) -> GpuCount:
    """How many GPUs a process started with ``env`` can use."""
    physical = (probe or count_gpus)()
    entries = visible_entries(env, physical.count)
    if entries is None or physical.count == 0:
        return physical
    mask = env["CUDA_VISIBLE_DEVICES"]
    return GpuCount(
        min(len(entries), physical.count), f"{physical.source}, CUDA_VISIBLE_DEVICES={mask!r}"
    )


def require_gpus(job_id: str, needed: int, found: GpuCount, rehearse: str | None = None) -> None:
    """Refuse a shortage, naming the command that rehearses the same work on the stub
    (``rehearse``; by default the job's own session): it must be one that exists."""
    if found.count >= needed:
        return
    rehearse = rehearse or f'nox -s "{job_id}" -- --engine stub'
    raise GpuShortageError(
        f"{job_id} needs {needed} GPU{'s' if needed != 1 else ''} but {found.count}"
        f" {'is' if found.count == 1 else 'are'} visible ({found.source}); to rehearse it"
        f" without GPUs: `{rehearse}`"  # quoted: nox ends the line with a period
    )
