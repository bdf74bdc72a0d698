"""Where and with what a job ran, recorded in its result.json and shown in the report, so a
maintainer can trace a score to the runner, SGLang build, host and GPUs that produced it.

Everything here is read without starting a process: git's files for the runner's commit,
package metadata for versions, NVML for the GPUs. A field that cannot be read is None:
provenance never fails a job.
"""

from __future__ import annotations

import json
import platform
import re
import socket
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from sglang_ci.launch.gpus import device_handle, nvml, physical_gpus

# The checkout the runner was imported from (an editable install or a clone on sys.path).
_CHECKOUT = Path(__file__).resolve().parents[2]
_SHA = re.compile(r"[0-9a-f]{40}")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def git_commit(checkout: Path = _CHECKOUT) -> str | None:
    """HEAD's commit, read from git's files: a worktree's ``.git`` file, loose refs and
    packed-refs. None outside a git checkout (an installed wheel)."""
    dot_git = checkout / ".git"
    git_dir = dot_git
    if dot_git.is_file():  # a worktree or submodule: "gitdir: <path>"
        pointer = _read(dot_git) or ""
        if not pointer.startswith("gitdir:"):
            return None
        git_dir = (checkout / pointer.removeprefix("gitdir:").strip()).resolve()
    head = _read(git_dir / "HEAD")
    if head is None:
        return None
    if _SHA.fullmatch(head):  # detached HEAD
        return head
    if not head.startswith("ref:"):
        return None
    ref = head.removeprefix("ref:").strip()
    # A worktree's branches live in the main repository's folder ("commondir").
    common = _read(git_dir / "commondir")
    roots = [git_dir] + ([(git_dir / common).resolve()] if common else [])
    for root in roots:
        loose = _read(root / ref)
        if loose and _SHA.fullmatch(loose):
            return loose
    for root in roots:
        for line in (_read(root / "packed-refs") or "").splitlines():
            sha, _, name = line.partition(" ")
            if name == ref and _SHA.fullmatch(sha):
                return sha
    return None


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def package_commit(name: str) -> str | None:
    """The commit a package was installed from (``pip install git+...``, PEP 610's
    direct_url.json); None for a release from an index."""
    try:
        text = metadata.distribution(name).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    try:
        commit = json.loads(text or "{}").get("vcs_info", {}).get("commit_id")
    except (ValueError, AttributeError):
        return None
    return str(commit) if commit else None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def gpu_facts(env: Mapping[str, str]) -> dict[str, Any]:
    """GPU model(s), driver and the driver's CUDA version from NVML; empty without it."""
    with nvml() as lib:
        if lib is None:
            return {}
        facts: dict[str, Any] = {}
        try:
            facts["driver"] = _text(lib.nvmlSystemGetDriverVersion())
            cuda = int(lib.nvmlSystemGetCudaDriverVersion())  # 12040 means 12.4
            facts["cuda"] = f"{cuda // 1000}.{cuda % 1000 // 10}"
            count = int(lib.nvmlDeviceGetCount())
            # The GPUs this process can use, as CUDA_VISIBLE_DEVICES names them.
            names = [_text(lib.nvmlDeviceGetName(device_handle(lib, gpu)))
                     for gpu in physical_gpus(range(count), env)]  # fmt: skip
            facts["gpus"] = names
        except lib.NVMLError:
            pass
        return facts


def collect_provenance(env: Mapping[str, str]) -> dict[str, Any]:
    """The provenance block of result.json (None where a fact cannot be read)."""
    gpu = gpu_facts(env)
    return {
        "runner_version": package_version("sglang-ci"),
        "runner_commit": git_commit(),
        "sglang_version": package_version("sglang"),
        "sglang_commit": package_commit("sglang"),
        "sgl_kernel_version": package_version("sgl-kernel"),
        "sglang_router_version": package_version("sglang-router"),
        "host": socket.gethostname(),
        "gpus": gpu.get("gpus"),
        "driver": gpu.get("driver"),
        "cuda": gpu.get("cuda"),
        "cuda_visible_devices": env.get("CUDA_VISIBLE_DEVICES"),
        "python": platform.python_version(),
        # Which CI run this was (history keys a run by it; None outside GitHub Actions).
        "github_run_id": env.get("GITHUB_RUN_ID"),
        "github_run_attempt": env.get("GITHUB_RUN_ATTEMPT"),
    }


# Report labels, in the order shown.
_LABELS = {
    "runner": "runner",
    "sglang": "SGLang",
    "sgl_kernel_version": "sgl-kernel",
    "host": "host",
    "gpus": "GPU",
    "driver": "driver",
    "cuda": "CUDA",
    "cuda_visible_devices": "CUDA_VISIBLE_DEVICES",
    "python": "Python",
}


def _with_commit(version: object, commit: object) -> str | None:
    if version is None:
        return None
    return f"{version} ({str(commit)[:12]})" if commit else str(version)


def _facts(block: Mapping[str, Any]) -> dict[str, str | None]:
    gpus = block.get("gpus")
    return {
        "runner": _with_commit(block.get("runner_version"), block.get("runner_commit")),
        "sglang": _with_commit(block.get("sglang_version"), block.get("sglang_commit")),
        "gpus": ", ".join(f"{n} x {name}" for name, n in _counted(gpus)) if gpus else None,
        **{key: (None if block.get(key) is None else str(block[key]))
           for key in ("sgl_kernel_version", "host", "driver", "cuda",
                       "cuda_visible_devices", "python")},
    }  # fmt: skip


def _counted(names: Sequence[str]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return list(counts.items())


def render_provenance(
    blocks: Sequence[Mapping[str, Any]], started: Sequence[str], finished: Sequence[str]
) -> str:
    """One line for a stage: each fact's distinct values (jobs of one stage may run on
    several hosts), then the first start and last end (UTC). Empty when nothing is known."""
    parts = []
    values: dict[str, list[str]] = {key: [] for key in _LABELS}
    for block in blocks:
        for key, value in _facts(block).items():
            if value is not None and value not in values[key]:
                values[key].append(value)
    for key, label in _LABELS.items():
        if values[key]:
            parts.append(f"{label} {' / '.join(values[key])}")
    if started:
        parts.append(f"from {min(started)} to {max(finished) if finished else '(unfinished)'}")
    return "ran with: " + "; ".join(parts) if parts else ""
