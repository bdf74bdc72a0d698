"""SGLang itself: the engine every CI job runs (needs NVIDIA GPUs and the model's weights)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# What pip's `sglang` console script runs (SGLang's pyproject: sglang = "sglang.cli.main:main").
SGLANG_ENTRY_POINT = "import sys; from sglang.cli.main import main; sys.exit(main())"
# PD roles, as SGLang's popen_launch_pd_server starts them.
LAUNCH_MODULE = "sglang.launch_server"


def sglang_program(python: str) -> list[str]:
    """The `sglang` console script of ``python``'s environment (its bin folder), so the
    server runs the SGLang that interpreter has; a bare name where the plan shows one.
    Where that environment has no script beside the interpreter (SGLang installed with
    ``pip --user`` or ``--target``), the script's own entry point through the interpreter:
    the same ``main()`` that `sglang` calls."""
    path = Path(python)
    if path.parent == Path():
        return ["sglang"]
    script = path.with_name("sglang")
    return [str(script)] if script.is_file() else [python, "-c", SGLANG_ENTRY_POINT]


@dataclass(frozen=True)
class SGLang:
    name: str = "sglang"
    rehearsal: bool = False
    uses_gpus: bool = True
    runs_registered_files: bool = True
    plan_note: str = ""

    def server_program(self, python: str, disaggregated: bool) -> list[str]:
        """A single server as popen_launch_server starts it (`sglang serve`, SGLang's CI
        since 0.5.10, e6da514c2c); PD roles as popen_launch_pd_server (``python3 -m
        sglang.launch_server``)."""
        if disaggregated:
            return [python, "-m", LAUNCH_MODULE]
        return [*sglang_program(python), "serve"]

    def ready_within(self, job_launch_timeout: float) -> float:
        return job_launch_timeout

    def launch_timeout_note(self, job_launch_timeout: str) -> str:
        return f"{job_launch_timeout} s (its SGLang test's popen_launch_server timeout)"

    def router_env(self) -> dict[str, str]:
        return {}

    def data_defaults(self, eval_envs: Mapping[str, str]) -> dict[str, str]:
        return {}  # the real datasets, or the files the environment names

    def names(self, recorded: str) -> bool:
        return recorded.strip().lower() == self.name


ENGINE = SGLang()
