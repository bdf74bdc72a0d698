"""Visible-GPU counting and mapping (CUDA_VISIBLE_DEVICES semantics), NVML's open/close,
and the up-front refusal."""

from __future__ import annotations

import sys
import types

import pytest

from sglang_ci.launch import gpu_memory
from sglang_ci.launch.gpus import (
    GpuCount,
    count_gpus,
    nvml,
    physical_gpus,
    require_gpus,
    visible_gpus,
)
from sglang_ci.outcome.errors import GpuShortageError


def eight() -> GpuCount:
    return GpuCount(8, "NVML")


@pytest.mark.parametrize(
    ("mask", "count"),
    [
        (None, 8),
        ("", 0),
        ("0,1", 2),
        ("4,5,6,7", 4),
        ("0,-1,2", 1),
        ("0,9,1", 1),
        ("GPU-1a2b,GPU-3c4d", 2),
        ("0,1,2,3,4,5,6,7,0", 8),
    ],
)
def test_cuda_visible_devices(mask: str | None, count: int) -> None:
    env = {} if mask is None else {"CUDA_VISIBLE_DEVICES": mask}
    assert visible_gpus(env, eight).count == count


def test_no_driver_means_zero_whatever_the_mask() -> None:
    found = visible_gpus({"CUDA_VISIBLE_DEVICES": "0,1"}, lambda: GpuCount(0, "no NVIDIA driver"))
    assert found.count == 0


def test_shortage_message_points_to_the_stub() -> None:
    with pytest.raises(GpuShortageError) as caught:
        require_gpus("disagg(model='x')", 8, GpuCount(2, "NVML"))
    message = str(caught.value)
    assert message.startswith("disagg(model='x') needs 8 GPUs but 2 are visible (NVML)")
    assert "nox -s \"disagg(model='x')\" -- --engine stub" in message
    assert caught.value.return_code == 3


def test_enough_gpus_passes() -> None:
    require_gpus("j", 2, GpuCount(2, "NVML"))


@pytest.mark.parametrize(
    ("mask", "mapped"),
    [
        (None, ["0", "1", "2", "3"]),
        ("", []),
        ("4,5,6,7", ["4", "5", "6", "7"]),
        ("GPU-1a2b,GPU-3c4d", ["GPU-1a2b", "GPU-3c4d"]),
        # CUDA stops at the first entry it cannot use: so does the mapping to NVML ids.
        ("6,-1,7", ["6"]),
        ("6,,7", ["6"]),
    ],
)
def test_job_gpus_map_through_the_mask(mask: str | None, mapped: list[str]) -> None:
    env = {} if mask is None else {"CUDA_VISIBLE_DEVICES": mask}
    assert physical_gpus(range(4), env) == mapped
    # The launcher and calibrate reach it through gpu_memory: the same function.
    assert gpu_memory.physical_gpus(range(4), env) == mapped


class FakeNvml(types.ModuleType):
    """pynvml's calls the runner makes, counting inits and shutdowns."""

    class NVMLError(Exception):
        pass

    def __init__(self, devices: int, init_fails: bool = False) -> None:
        super().__init__("pynvml")
        self.devices, self.init_fails = devices, init_fails
        self.opened = self.closed = 0

    def nvmlInit(self) -> None:
        if self.init_fails:
            raise self.NVMLError("Driver Not Loaded")
        self.opened += 1

    def nvmlShutdown(self) -> None:
        self.closed += 1

    def nvmlDeviceGetCount(self) -> int:
        return self.devices


def test_nvml_counts_and_is_shut_down(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(4)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert count_gpus() == GpuCount(4, "NVML")
    assert (fake.opened, fake.closed) == (1, 1)
    with pytest.raises(RuntimeError), nvml() as lib:
        assert lib is fake
        raise RuntimeError("a caller failing inside the block")
    assert (fake.opened, fake.closed) == (2, 2)
    assert gpu_memory.nvml is nvml  # one helper for every NVML user


def test_unusable_nvml_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(4, init_fails=True)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    with nvml() as lib:
        assert lib is None
    assert fake.closed == 0  # never opened, never shut down
    assert gpu_memory.usage(["0"]) is None
