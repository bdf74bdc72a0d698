"""The servers one job starts and the GPUs each occupies.

A single-server job has one server on GPUs 0..need-1. A PD-disaggregation job has a
prefill and a decode server side by side: each role's ``--base-gpu-id`` is taken from the
config when given and otherwise placed right after the previous role, exactly as
SGLang's disaggregation tests place decode on GPUs 4-7 after a 4-GPU prefill.
"""

from __future__ import annotations

from dataclasses import dataclass

from sglang_ci.config.server_args import Args, GpuNeed, gpu_need, lookup, merge

Env = tuple[tuple[str, str], ...]

PD_ROLES = ("prefill", "decode")


@dataclass(frozen=True)
class Server:
    """One ``sglang.launch_server`` process of a job."""

    role: str  # "server" for a single-server job, else the PD role
    args: Args
    env: Env
    base_gpu_id: int
    need: GpuNeed

    @property
    def gpu_ids(self) -> range:
        return range(self.base_gpu_id, self.base_gpu_id + self.need.count)

    def gpu_span_text(self) -> str:
        ids = self.gpu_ids
        return f"GPU {ids[0]}" if len(ids) == 1 else f"GPUs {ids[0]}-{ids[-1]}"


@dataclass(frozen=True)
class Deployment:
    model_path: str
    servers: tuple[Server, ...]

    @property
    def disaggregated(self) -> bool:
        return len(self.servers) > 1

    @property
    def gpus(self) -> int:
        """GPUs the host must have: the servers' needs added up, or more when an explicit
        --base-gpu-id leaves a gap."""
        total = sum(server.need.count for server in self.servers)
        span = max(server.gpu_ids.stop for server in self.servers)
        return max(total, span)

    def gpu_formula(self) -> str:
        parts = [
            f"{server.role}: {server.need.formula}" if self.disaggregated else server.need.formula
            for server in self.servers
        ]
        text = " + ".join(parts)
        span = max(server.gpu_ids.stop for server in self.servers)
        if span > sum(server.need.count for server in self.servers):
            text += f"; --base-gpu-id places the last server up to GPU {span - 1}"
        return text

    def overlap(self) -> tuple[Server, Server] | None:
        """Two servers placed on a shared GPU, which SGLang would let fight over memory."""
        for index, first in enumerate(self.servers):
            for second in self.servers[index + 1 :]:
                if set(first.gpu_ids) & set(second.gpu_ids):
                    return first, second
        return None


def place(model_path: str, roles: list[tuple[str, Args, Env]]) -> Deployment:
    """Servers for the given (role, args, env) in launch order, with GPU offsets resolved."""
    servers: list[Server] = []
    next_free = 0
    for role, args, env in roles:
        need = gpu_need(args)
        explicit = lookup(args, "base-gpu-id")
        if explicit is None or isinstance(explicit, bool):
            base = next_free
            if base:
                # Written into the launch command so that what runs is what the plan shows.
                args = merge(args, [("base-gpu-id", base)])
        else:
            base = int(str(explicit))
        servers.append(Server(role, args, env, base, need))
        next_free = max(next_free, base + need.count)
    return Deployment(model_path, tuple(servers))
