"""The GPUs the stub takes, read as SGLang reads them: ``--base-gpu-id`` and tp x dp x pp
GPUs counted within CUDA_VISIBLE_DEVICES (CUDA renumbers the visible set from 0). Asking
for more than are visible fails at start, as a real server would. The stub holds no GPU:
the set it would use is reported in /server_info (``stub_gpu_ids``, the physical names),
which lets tests check that packed jobs never shared a GPU."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def gpu_set(args: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """The physical GPU names this server would use; ValueError when they are not there."""
    need = int(args.get("tp_size", 1)) * int(args.get("pp_size", 1))
    if args.get("enable_dp_attention") is not True:  # else dp ranks share the tp GPUs
        need *= int(args.get("dp_size", 1))
    base = int(args.get("base_gpu_id", 0))
    mask = env.get("CUDA_VISIBLE_DEVICES")
    if mask is None:  # no mask: the machine's GPUs, which the stub cannot count
        return [str(index) for index in range(base, base + need)]
    visible = [entry.strip() for entry in mask.split(",") if entry.strip()]
    if base + need > len(visible):
        raise ValueError(
            f"--base-gpu-id {base} with {need} GPU(s) needs {base + need} visible GPUs, but"
            f" CUDA_VISIBLE_DEVICES={mask!r} shows {len(visible)}"
        )
    return visible[base : base + need]
