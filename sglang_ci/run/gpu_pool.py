"""The GPUs a packed run may use, which are free, and which were taken out.

The pool holds the runner's GPUs as CUDA_VISIBLE_DEVICES names them (index or UUID; all
of them when it is unset), or N stand-ins for a stub rehearsal (``run --gpus N``). A
job's GPUs come back to the pool only when NVML shows no process on them and their
memory back at the run's starting level (launch.gpu_memory's release rule), so one job's
leak is never charged to the next; a GPU not released in time is taken out for the rest
of the run and named in the report, instead of failing every later job placed on it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sglang_ci.launch import gpu_memory
from sglang_ci.launch.gpu_memory import GpuUse, read_use
from sglang_ci.launch.gpus import count_gpus, nvml, visible_entries

# What NVML shows of some GPUs now; None where NVML is not usable (the checks are skipped).
Probe = Callable[[Sequence[str]], "list[GpuUse] | None"]
RELEASE_S = 60.0  # as the launcher waits for its own GPUs after teardown
POLL_S = 0.25


def nvml_probe(gpus: Sequence[str]) -> list[GpuUse] | None:
    with nvml() as lib:
        if lib is None:
            return None
        return [read_use(lib, gpu) for gpu in gpus]


def no_probe(_gpus: Sequence[str]) -> list[GpuUse] | None:
    """Stand-in GPUs of a stub rehearsal: nothing to ask NVML about."""
    return None


def runner_gpus(env: Mapping[str, str], stand_ins: int | None) -> tuple[list[str], Probe]:
    """The GPU names a packed run may use, and how to watch them."""
    if stand_ins is not None:
        return [str(index) for index in range(stand_ins)], no_probe
    physical = count_gpus().count
    entries = visible_entries(env, physical)
    names = entries if entries is not None else [str(index) for index in range(physical)]
    return names, nvml_probe


@dataclass
class GpuPool:
    names: list[str]
    probe: Probe = no_probe
    release_s: float = RELEASE_S
    free: set[int] = field(init=False)
    removed: dict[str, str] = field(default_factory=dict)  # name -> why, in removal order
    baseline: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.free = set(range(len(self.names)))
        uses = self.probe(self.names)
        self.baseline = {use.index: use.used_mib for use in uses or []}

    @property
    def size(self) -> int:
        """GPUs still in the pool (free or busy)."""
        return len(self.names) - len(self.removed)

    def free_indices(self) -> list[int]:
        with self._lock:
            return sorted(self.free)

    def take(self, indices: Sequence[int]) -> None:
        with self._lock:
            missing = set(indices) - self.free
            if missing:
                raise AssertionError(f"GPUs {sorted(missing)} are not free")
            self.free -= set(indices)

    def give_back(self, indices: Sequence[int], stop: threading.Event) -> list[str]:
        """Wait (up to release_s, or until ``stop``) for the GPUs' release; those released
        return to the pool, the others are taken out. Returns the names taken out."""
        names = [self.names[index] for index in indices]
        started = time.monotonic()
        held: list[GpuUse] = []
        while True:
            uses = self.probe(names)
            held = gpu_memory.held(uses, self.baseline) if uses is not None else []
            if not held or time.monotonic() - started >= self.release_s or stop.is_set():
                break
            time.sleep(POLL_S)
        held_names = {use.index: use.describe() for use in held}
        with self._lock:
            for index, name in zip(indices, names, strict=True):
                if name in held_names:
                    self.removed[name] = (f"not released {time.monotonic() - started:.0f} s"
                                          f" after its job: {held_names[name]}")  # fmt: skip
                else:
                    self.free.add(index)
        return list(held_names)

    def removed_lines(self) -> list[str]:
        return [f"GPU {name} taken out of the pool: {why}" for name, why in self.removed.items()]
