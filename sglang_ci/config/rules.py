"""Rules that span tables: names that nox would confuse, the order stages wait in, and the
GPU arithmetic of a job against its stage and of its servers against each other.

A single table's own checks stay with its reader (``reader``, ``jobs``); the rules here
run once the tables they compare have been read, and fail with the same one-line,
key-path-naming ConfigError.
"""

from __future__ import annotations

from collections.abc import Mapping

from sglang_ci.config.deployment import Deployment
from sglang_ci.config.errors import ConfigError
from sglang_ci.config.schema import Job, Model, Stage, Suite
from sglang_ci.config.server_args import lookup
from sglang_ci.config.toml_reader import Table, suggestion

# Sessions the noxfile defines itself: a suite of the same name would take them over.
RESERVED_SESSIONS = frozenset(
    {"tests", "lint", "stage", "demo", "calibrate", "contract", "matrix", "report", "partition",
     "file"}
)  # fmt: skip
MATRIX_TAG = "matrix"  # tags every job session, so `nox -l --json -t matrix` lists them all


def check_name_clashes(
    root: Table,
    models: Mapping[str, Model],
    suites: Mapping[str, Suite],
    stages: Mapping[str, Stage],
) -> None:
    """Stage, suite and model names are all nox tags; one name must select one thing."""
    for name in suites:
        if name in RESERVED_SESSIONS:
            root.fail(
                f"'{name}' is a session of the noxfile itself; name the suite otherwise",
                f"suites.{name}",
            )
    owners: dict[str, str] = {MATRIX_TAG: "the tag of every job session"}
    for section, names in (("stages", stages), ("suites", suites), ("models", models)):
        for name in names:
            if name in owners:
                root.fail(
                    f"'{name}' is also {owners[name]}; nox tags must be unique, rename one",
                    f"{section}.{name}",
                )
            owners[name] = f"{section}.{name}"


def check_stage_order(stages_table: Table, stages: Mapping[str, Stage]) -> None:
    """Every ``after`` names a stage, and no stage waits on itself through others."""
    for stage in stages.values():
        for index, other in enumerate(stage.after):
            if other not in stages:
                stages_table.fail(
                    f"unknown stage '{other}'.{suggestion(other, stages)}",
                    f"{stage.name}.after[{index}]",
                )
    for stage in stages.values():
        seen: list[str] = []
        todo = list(stage.after)
        while todo:
            current = todo.pop()
            if current == stage.name:
                stages_table.fail(
                    "stages wait on each other in a cycle; drop one 'after'", f"{stage.name}.after"
                )
            if current not in seen:
                seen.append(current)
                todo.extend(stages[current].after)


def check_job_fits(table: Table, stage: Stage, job: Job) -> None:
    """A job's servers together need no more GPUs than its stage's runner has."""
    if job.gpus > stage.gpus:
        raise ConfigError(
            f"{table.source}: {job.where}: {job.id} needs {job.gpus} GPUs"
            f" ({job.deployment.gpu_formula()}) but stage '{stage.name}' has {stage.gpus}"
            + _dp_hint(job)
        )


def _dp_hint(job: Job) -> str:
    for server in job.deployment.servers:
        dp = lookup(server.args, "dp-size")
        if (
            isinstance(dp, int)
            and dp > 1
            and lookup(server.args, "enable-dp-attention") is not True
        ):
            return (
                "; with enable-dp-attention = true a server needs tp x pp GPUs,"
                " its dp ranks sharing them"
            )
    return ""


def check_gpu_overlap(deployment: Deployment, source: str, where: str, job_id: str) -> None:
    """The servers of one job (prefill and decode) must not be placed on the same GPUs."""
    clash = deployment.overlap()
    if clash:
        first, second = clash
        raise ConfigError(
            f"{source}: {where}: {job_id}: {first.role} ({first.gpu_span_text()}) and"
            f" {second.role} ({second.gpu_span_text()}) share GPUs; fix base-gpu-id"
        )
