"""`job` and `run --stage`: a dry run, or the jobs handed to the orchestrator. Kept apart
from the orchestrator so that a dry run imports nothing that starts processes (psutil,
requests): it works on a bare Python where the project is not installed."""

from __future__ import annotations

from collections.abc import Mapping

from sglang_ci.config.errors import UsageError
from sglang_ci.config.model import Config
from sglang_ci.plan.dry_run import render_stage_plan, render_unit
from sglang_ci.plan.file_budget import sglang_order
from sglang_ci.plan.github_matrix import durations_for, plan_stage
from sglang_ci.plan.partition import parse_partition
from sglang_ci.run.options import RunOptions, StageOptions


def job_command(config: Config, unit: str, options: RunOptions, env: Mapping[str, str]) -> int:
    """`job`: a job's or a registered file's dry run, or the unit run to its verdict."""
    if options.dry_run:
        stage = config.unit(unit).stage
        limit = options.policy(config.stages[stage].policy).time_limit
        print(render_unit(config, unit, options.engine, limit))
        return 0
    from sglang_ci.run.orchestrator import run_jobs

    return run_jobs(config, [unit], options, env)


def stage_units(config: Config, options: StageOptions) -> list[str]:
    """The jobs and files of one CI job (stage, partition), in the order CI runs them."""
    stage, partition = options.stage or "", options.partition
    config.stage_jobs(stage)  # an unknown stage is a one-line error
    if partition:
        index, count = parse_partition(partition)
        plan = plan_stage(config, stage, count, durations_for(config, options.durations))
        return list(plan.partitions[index].ids)
    # SGLang's order: one block per SGLang file, longest first (plan.file_budget)
    seconds = durations_for(config, options.durations)
    units = config.stages[stage].units
    return sglang_order(config, units, {u: config.seconds_of(u, seconds) for u in units})


def stage_command(config: Config, options: StageOptions, env: Mapping[str, str]) -> int:
    """`run --stage`: the jobs of one CI job (stage, partition) in the order CI runs them."""
    stage, partition = options.stage, options.partition
    if not stage:
        raise UsageError("run: --stage NAME is required (`python -m sglang_ci list` shows them)")
    ids = stage_units(config, options)
    title = f"stage {stage}" + (f", partition {partition}" if partition else "")
    if options.dry_run:
        if not partition:
            print(render_stage_plan(config, stage, options.engine, options))
            return 0
        limit = options.policy(config.stages[stage].policy).time_limit
        plans = [render_unit(config, unit, options.engine, limit) for unit in ids]
        print(f"{title}: {len(ids)} jobs\n")
        print("\n\n".join(plans))
        return 0
    from sglang_ci.run.console import say
    from sglang_ci.run.orchestrator import run_jobs

    if config.stages[stage].policy.packed:  # ours (pack = ...): side by side on one runner
        from sglang_ci.run.packed import run_packed

        return run_packed(config, stage, ids, options, env, title)
    if options.gpus is not None:
        raise UsageError(f"--gpus: stage {stage} is not packed (pack = true in stages.toml)")
    say(f"{title}: {len(ids)} jobs: {', '.join(ids)}")
    return run_jobs(config, ids, options, env, title=title)
