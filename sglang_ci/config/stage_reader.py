"""A stage's table of stages.toml read into schema's Stage and StagePolicy: its own keys,
its run policy (SGLang's defaults where it sets none) and how it packs; its jobs are
expanded in ``jobs``."""

from __future__ import annotations

from typing import Any

from sglang_ci.config.schema import MAX_SECONDS, Stage, StagePolicy
from sglang_ci.config.text import number
from sglang_ci.config.toml_reader import Table

_STAGE_KEYS = (
    "description", "gpus", "runner", "timeout", "after", "label", "jobs", "timeout-per-job",
    "enable-retry", "max-attempts", "retry-wait", "retry-timeout-increase",
    "continue-on-error", "partitions", "partition-fit", "registered", "sglang-suite", "pack",
    "pack-fail-fast",
)  # fmt: skip


def read_stage(stages: Table, name: str) -> tuple[Stage, Table]:
    """A stage's own keys, with no jobs yet, and its table, from which ``jobs`` reads
    them: a job needs the stage (its GPU count) and the stage its jobs' ids."""
    table = stages.child(name, allowed=_STAGE_KEYS, required=("gpus", "runner", "timeout"))
    stage = Stage(
        name=name,
        gpus=table.positive("gpus", int),
        runner=table.need("runner", str),
        timeout_minutes=table.positive("timeout", int),
        after=table.string_list("after"),
        label=table.get("label", str, "") or None,
        jobs=(),
        description=table.get("description", str, ""),
        policy=read_policy(table),
        sglang_suite=table.get("sglang-suite", str, ""),
    )
    return stage, table


def read_policy(table: Table) -> StagePolicy:
    """A stage's run policy (schema.StagePolicy): SGLang's defaults where it sets none."""
    default = StagePolicy()

    def seconds(key: str, fallback: float) -> float:
        value = table.get(key, float, fallback)
        if value < 0:
            table.fail(f"must be 0 or more seconds, got {number(value)}", key)
        return at_most_max(key, value)

    def at_most_max(key: str, value: float) -> float:
        # Waits and timers take at most threading.TIMEOUT_MAX; no CI job runs a week.
        if value > MAX_SECONDS:
            table.fail(f"must be at most {MAX_SECONDS} seconds (7 days), got {number(value)}",
                       key)  # fmt: skip
        return value

    fit = (table.child("partition-fit", allowed=("coeff", "bias"))
           if "partition-fit" in table else None)  # fmt: skip
    return StagePolicy(
        timeout_per_job=(at_most_max("timeout-per-job", table.positive("timeout-per-job", float))
                         if "timeout-per-job" in table else default.timeout_per_job),
        enable_retry=table.get("enable-retry", bool, default.enable_retry),
        max_attempts=(table.positive("max-attempts", int) if "max-attempts" in table
                      else default.max_attempts),
        retry_wait=seconds("retry-wait", default.retry_wait),
        retry_timeout_increase=seconds("retry-timeout-increase", default.retry_timeout_increase),
        continue_on_error=table.get("continue-on-error", bool, default.continue_on_error),
        partitions=table.positive("partitions", int) if "partitions" in table else None,
        fit_coeff=fit.get("coeff", float, default.fit_coeff) if fit else default.fit_coeff,
        fit_bias=fit.get("bias", float, default.fit_bias) if fit else default.fit_bias,
        **read_pack(table),
    )  # fmt: skip


def read_pack(table: Table) -> dict[str, Any]:
    """``pack = true`` (as many jobs at once as fit) or ``pack = N`` (at most N at once),
    and ``pack-fail-fast = "finish" | "end"``; absent: one job at a time, as SGLang."""
    value = table.data.get("pack", False)
    if isinstance(value, bool):
        packed, cap = value, None
    elif isinstance(value, int) and value >= 1:
        packed, cap = True, value
    else:
        table.fail(f"must be true, false or a number of jobs (1 or more), got {value!r}", "pack")
    mode = table.data.get("pack-fail-fast", "finish")
    if mode not in ("finish", "end"):
        table.fail(f'must be "finish" (running jobs go on) or "end", got {mode!r}',
                   "pack-fail-fast")  # fmt: skip
    return {"packed": packed, "max_concurrent": cap, "pack_ends_running": mode == "end"}
