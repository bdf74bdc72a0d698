"""Visible-GPU counting (CUDA_VISIBLE_DEVICES semantics) and the up-front refusal."""

from __future__ import annotations

import pytest

from sglang_ci.config.errors import GpuShortageError
from sglang_ci.launch.gpus import GpuCount, require_gpus, visible_gpus


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
