"""The engine interface: everything the runner needs to know that differs per engine.
Anything else (the server's arguments, ports, checks, suites) is the same for every
engine, so that a rehearsal on one exercises the runner as the real one uses it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class Engine(Protocol):
    """One engine the runner can launch (``--engine NAME``)."""

    @property
    def name(self) -> str:
        """The --engine choice, and what result files record."""

    @property
    def rehearsal(self) -> bool:
        """A protocol stand-in: its scores rehearse the harness and are never evidence
        (no baseline, no calibration, no history verdict is drawn from them)."""

    @property
    def uses_gpus(self) -> bool:
        """GPUs are counted before a run and NVML is watched around each launch."""

    @property
    def runs_registered_files(self) -> bool:
        """SGLang's registered test files can run on it (they launch their own servers)."""

    @property
    def plan_note(self) -> str:
        """What a dry run and a stage table add after ``engine NAME`` ("" for none)."""

    def server_program(self, python: str, disaggregated: bool) -> list[str]:
        """The argv head of a server: the program, before --model-path and the rest."""

    def ready_within(self, job_launch_timeout: float) -> float:
        """How long a server may take to become ready, given the job's own timeout."""

    def launch_timeout_note(self, job_launch_timeout: str) -> str:
        """The dry run's words for that timeout."""

    def router_env(self) -> dict[str, str]:
        """What the PD router's environment adds for this engine's servers."""

    def data_defaults(self, eval_envs: Mapping[str, str]) -> dict[str, str]:
        """Environment defaults of a run on this engine (set only where unset): for a
        rehearsal, the shipped sample data. ``eval_envs`` maps an eval's name to the
        variable naming its local data file."""

    def names(self, recorded: str) -> bool:
        """Whether an engine string recorded in a result (its name, or the version the
        server reported about itself) is this engine's."""
