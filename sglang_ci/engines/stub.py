"""The stub engine (sglang_ci/stub/): a protocol stand-in for SGLang's HTTP server that
rehearses the runner without GPUs. Chosen explicitly, never a fallback, never evidence."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from sglang_ci.data import GSM8K_SAMPLE, HELLASWAG_SAMPLE

# The environment variable through which the runner hands the stub its answer key: the
# runner sets it for a rehearsal, the stub reads it; both name it from here.
STUB_DATA_ENV = "SGLANG_CI_STUB_DATA"
# How the stub names itself in /server_info and /v1/models, and so in what it leaves
# behind (result files, calibrations).
STUB_ENGINE_NAME = "sglang-ci-stub"
STUB_LAUNCH_TIMEOUT = 60.0  # it is ready in about a second; a minute is a hung stub


@dataclass(frozen=True)
class Stub:
    name: str = "stub"
    rehearsal: bool = True
    uses_gpus: bool = False
    # A registered SGLang file launches its own servers: the stub cannot stand in.
    runs_registered_files: bool = False
    plan_note: str = "protocol stand-in, not a model"

    def server_program(self, python: str, disaggregated: bool) -> list[str]:
        return [python, "-m", "sglang_ci.stub"]

    def ready_within(self, job_launch_timeout: float) -> float:
        return STUB_LAUNCH_TIMEOUT

    def launch_timeout_note(self, job_launch_timeout: str) -> str:
        return f"the stub's ({STUB_LAUNCH_TIMEOUT:.0f} s unless --launch-timeout)"

    def router_env(self) -> dict[str, str]:
        return {"HF_HUB_OFFLINE": "1"}  # the stub's model path is no hub repository

    def data_defaults(self, eval_envs: Mapping[str, str]) -> dict[str, str]:
        """The shipped sample data as the stub's answer key and as the evals' data."""
        samples = {"gsm8k": GSM8K_SAMPLE, "hellaswag": HELLASWAG_SAMPLE}
        return {
            STUB_DATA_ENV: os.pathsep.join(str(path) for path in samples.values()),
            **{eval_envs[name]: str(path) for name, path in samples.items() if name in eval_envs},
        }

    def names(self, recorded: str) -> bool:
        name = recorded.strip().lower()
        return name == self.name or STUB_ENGINE_NAME in name


ENGINE = Stub()
