"""``--disaggregation-ib-device`` for a PD job, chosen as SGLang's PD fixture chooses it
(server_fixtures/disaggregation_fixture.py @ 5227b07669, PDDisaggregationServerBase).

In CI (``SGLANG_IS_IN_CI``) the fixture always passes it, from get_rdma_devices_args():
the devices are ``SGLANG_CI_RDMA_ALL_DEVICES``, else the fast active RDMA devices in
sysfs, else mlx5_roce0-7; with no usable CUDA_VISIBLE_DEVICES (unset, more than 4 GPUs,
or more devices than GPUs) the first and the middle device, else the devices of the
visible GPUs' group. Both roles get the same value. Outside CI it passes
``SGLANG_TEST_PD_DISAGG_DEVICES`` and leaves the flag out without it. Our own
``SGLANG_CI_IB_DEVICE``, where set, wins over all of it (a runner that knows better).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

SYSFS_INFINIBAND = Path("/sys/class/infiniband")
FALLBACK_DEVICES = tuple(f"mlx5_roce{i}" for i in range(8))
MIN_RATE_GBPS = 100  # the fixture's cut: slower ports are plain Ethernet NICs


def in_ci(env: Mapping[str, str]) -> bool:
    """SGLang's is_in_ci(): get_bool_env_var("SGLANG_IS_IN_CI")."""
    return env.get("SGLANG_IS_IN_CI", "false").lower() in ("true", "1")


def sysfs_devices(root: Path = SYSFS_INFINIBAND) -> list[str]:
    """The fixture's _get_available_ib_devices(): sorted names, without 'eth' in them, port
    1 ACTIVE, rate >= 100 Gbps where the rate can be read."""
    if not root.is_dir():
        return []
    found = []
    for name in sorted(entry.name for entry in root.iterdir()):
        port = root / name / "ports" / "1"
        if not port.is_dir() or "eth" in name.lower():
            continue
        state = _read(port / "state") or "unknown"
        try:
            rate = int((_read(port / "rate") or "").split()[0])
        except (ValueError, IndexError):
            rate = -1
        if "ACTIVE" in state.upper() and not 0 <= rate < MIN_RATE_GBPS:
            found.append(name)
    return found


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _listed(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def ci_devices(env: Mapping[str, str], root: Path = SYSFS_INFINIBAND) -> str:
    """get_rdma_devices_args(): the comma-joined devices for CUDA_VISIBLE_DEVICES. The GPU
    count is what torch.cuda.device_count() sees: the visible GPUs (8 when unknown)."""
    devices = (_listed(env.get("SGLANG_CI_RDMA_ALL_DEVICES")) or sysfs_devices(root)
               or list(FALLBACK_DEVICES))  # fmt: skip
    pair = ",".join([devices[0], devices[len(devices) // 2]])
    try:
        gpus = [int(index) for index in _listed(env.get("CUDA_VISIBLE_DEVICES"))]
    except ValueError:
        return pair
    if not gpus or len(gpus) > 4 or len(devices) > len(gpus):
        return pair
    per_device = max(1, len(gpus) // len(devices))
    base = min(gpus)
    chosen = [devices[min((gpu - base) // per_device, len(devices) - 1)] for gpu in gpus]
    return ",".join(dict.fromkeys(chosen))


def pd_ib_device(env: Mapping[str, str], override_env: str, root: Path = SYSFS_INFINIBAND
                 ) -> str | None:  # fmt: skip
    """The value both PD roles get, or None to leave the flag out."""
    override = env.get(override_env, "").strip()
    if override:
        return override
    if in_ci(env):
        return ci_devices(env, root)
    return env.get("SGLANG_TEST_PD_DISAGG_DEVICES", "").strip() or None
