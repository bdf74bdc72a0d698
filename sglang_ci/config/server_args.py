"""SGLang server arguments as stages.toml writes them, and what they imply.

stages.toml writes server flags as TOML keys without the leading ``--`` (``tp-size = 2``);
``true`` means the flag is present, ``false`` that it is absent (so a job can switch off a
flag its model sets). This module turns them into argv and computes a server's GPU need
the way SGLang does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

ArgValue = bool | int | float | str | tuple[str, ...]
Args = tuple[tuple[str, ArgValue], ...]

_FLAG_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

# Flags the runner itself sets for every server, so a config may not: the runner owns the
# address (ports are chosen so that jobs never collide), the model path comes from the
# model's own key and the PD role and bootstrap port from the deployment.
RUNNER_OWNED_FLAGS = {
    "model-path": "set the model's 'model-path' key instead",
    "host": "the runner binds every server to 127.0.0.1",
    "port": "the runner picks free ports so that jobs never collide",
    "disaggregation-mode": "it follows from the role name (roles.prefill / roles.decode)",
    "disaggregation-bootstrap-port": "the runner picks it per prefill server",
}

# The flags the GPU arithmetic reads, with SGLang's other spellings of each. SGLang also
# accepts any unambiguous argparse prefix (``--tp 4``); stages.toml allows only the name
# below, so that the arithmetic sees every value and a diff reads plainly.
GPU_FLAGS = {
    "tp-size": ("tensor-parallel-size",),
    "dp-size": ("data-parallel-size",),
    "pp-size": ("pipeline-parallel-size",),
    "enable-dp-attention": (),
    "base-gpu-id": (),
}


def _gpu_flag_spelling(flag: str) -> str | None:
    """The canonical GPU flag that ``flag`` is another spelling or a prefix of."""
    for canonical, aliases in GPU_FLAGS.items():
        for name in (canonical, *aliases):
            if flag != canonical and (flag == name or name.startswith(flag)):
                return canonical
    return None


def flag_problem(flag: str) -> str | None:
    """Why ``flag`` cannot appear as a server-arg key, or None when it can."""
    if flag.startswith("-"):
        return f"write the flag without its leading dashes: '{flag.lstrip('-')}'"
    if not _FLAG_RE.match(flag):
        return "a flag is lowercase words joined by '-', as in SGLang's --help"
    canonical = _gpu_flag_spelling(flag)
    if canonical:
        return f"write '{canonical}': the GPU count is computed from it, not from other spellings"
    if flag in RUNNER_OWNED_FLAGS:
        return f"the runner sets --{flag}: {RUNNER_OWNED_FLAGS[flag]}"
    return None


def merge(base: Args, override: Iterable[tuple[str, ArgValue]]) -> Args:
    """``base`` with ``override`` applied: replaced flags keep their place, new ones append."""
    merged = dict(base)
    merged.update(override)
    return tuple(merged.items())


def lookup(args: Args, flag: str) -> ArgValue | None:
    for name, value in args:
        if name == flag:
            return value
    return None


def to_argv(args: Args) -> list[str]:
    argv: list[str] = []
    for flag, value in args:
        if value is False:
            continue
        argv.append(f"--{flag}")
        if value is True:
            continue
        if isinstance(value, tuple):
            argv.extend(value)
        else:
            argv.append(str(value))
    return argv


def _int_arg(args: Args, flag: str, default: int = 1) -> int:
    value = lookup(args, flag)
    return default if value is None or isinstance(value, bool) else int(str(value))


@dataclass(frozen=True)
class GpuNeed:
    """How many GPUs one server occupies, with the arithmetic that produced the number."""

    count: int
    formula: str


def gpu_need(args: Args) -> GpuNeed:
    """tp x pp x dp GPUs, but tp x pp with --enable-dp-attention (DP ranks then share TP GPUs)."""
    tp, pp, dp = _int_arg(args, "tp-size"), _int_arg(args, "pp-size"), _int_arg(args, "dp-size")
    if lookup(args, "enable-dp-attention") is True:
        return GpuNeed(
            tp * pp, f"tp {tp} x pp {pp} = {tp * pp} (dp {dp} shares them: dp-attention)"
        )
    return GpuNeed(tp * pp * dp, f"tp {tp} x pp {pp} x dp {dp} = {tp * pp * dp}")
