"""`pack-plan`: the schedule a packed run of a stage would follow on one runner with G
GPUs, from measured durations (else est_time), and how it compares with running the
same work the other ways: one job at a time, one job at a time on each of G / stage-GPUs
runners, and SGLang's own sharding (compute_partitions.py's shard count)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sglang_ci.config.errors import UsageError
from sglang_ci.config.schema import Config
from sglang_ci.plan.packing import PackJob, Placement, lower_bound, makespan, simulate
from sglang_ci.plan.partition import shard_count, split, units_of


def pack_jobs(config: Config, ids: Sequence[str], measured: Mapping[str, float]) -> list[PackJob]:
    """Each unit with its GPU count (tp x dp x pp, both PD roles; a registered file the
    stage's) and its predicted seconds."""
    jobs = []
    for unit in ids:
        jobs.append(PackJob(unit, config.unit(unit).gpus, config.seconds_of(unit, measured)))
    return jobs


@dataclass(frozen=True)
class PackPlan:
    stage: str
    gpu_count: int
    max_concurrent: int | None
    jobs: list[PackJob]
    placements: list[Placement]

    @property
    def makespan(self) -> float:
        return makespan(self.placements)

    @property
    def bound(self) -> float:
        return lower_bound(self.jobs, self.gpu_count)

    @property
    def serial(self) -> float:
        return sum(job.seconds for job in self.jobs)


def pack_plan(
    config: Config, stage: str, gpu_count: int, measured: Mapping[str, float],
    ids: Sequence[str] | None = None,
) -> PackPlan:  # fmt: skip
    """The stage's (or ``ids``') packed schedule; a job needing more than G GPUs fails here."""
    config.stage_jobs(stage)  # an unknown stage is a one-line error
    units = list(ids if ids is not None else config.stages[stage].units)
    jobs = pack_jobs(config, units, measured)
    cap = config.stages[stage].policy.max_concurrent
    return PackPlan(stage, gpu_count, cap, jobs, simulate(jobs, gpu_count, cap))


def alternatives(config: Config, plan: PackPlan) -> list[str]:
    """Lines comparing the packed makespan with the unpacked ways to run the same work."""
    stage = config.stages[plan.stage]
    seconds = {job.id: job.seconds for job in plan.jobs}
    ids = [job.id for job in plan.jobs]
    lines = [f"one at a time on one runner: {plan.serial:.0f} s"]
    per_runner = max(1, stage.gpus)
    runners = max(1, plan.gpu_count // per_runner)
    if runners > 1 and len(ids) >= runners:
        spread = max(p.seconds for p in split(ids, seconds, runners))
        lines.append(f"{runners} runners of {per_runner} GPU(s), one job at a time each:"
                     f" {spread:.0f} s")  # fmt: skip
    try:
        shards = shard_count(
            plan.stage, plan.serial, len(units_of(ids, seconds)), stage.timeout_minutes,
            coeff=stage.policy.fit_coeff, bias=stage.policy.fit_bias,
            pinned=stage.policy.partitions,
        )  # fmt: skip
    except UsageError as error:  # a stage SGLang's sizing cannot shard: say why
        lines.append(f"SGLang's sharding: {error}")
        return lines
    longest = max(p.seconds for p in split(ids, seconds, shards.size))
    lines.append(
        f"SGLang's sharding: {shards.size} runner(s) of {per_runner} GPU(s), at most"
        f" {shards.max_parallel} at once, longest shard {longest:.0f} s"
    )
    return lines


def render_text(config: Config, plan: PackPlan) -> str:
    cap = f", at most {plan.max_concurrent} at once" if plan.max_concurrent else ""
    rows = [f"stage {plan.stage} packed on {plan.gpu_count} GPU(s){cap}: {len(plan.jobs)} jobs"]
    width = max((len(p.id) for p in plan.placements), default=2)
    for placement in plan.placements:
        gpus = ",".join(str(g) for g in placement.gpus)
        rows.append(f"  {placement.id:<{width}}  GPUs {gpus:<15}"
                    f" {placement.start:8.0f} s -> {placement.end:8.0f} s")  # fmt: skip
    ratio = plan.makespan / plan.bound if plan.bound else 1.0
    rows.append(f"predicted makespan: {plan.makespan:.0f} s (lower bound {plan.bound:.0f} s,"
                f" ratio {ratio:.3f})")  # fmt: skip
    rows += alternatives(config, plan)
    return "\n".join(rows)


def render_json(plan: PackPlan) -> str:
    return json.dumps({
        "stage": plan.stage,
        "gpu_count": plan.gpu_count,
        "jobs": [{"id": p.id, "gpus": list(p.gpus), "start": round(p.start, 3),
                  "end": round(p.end, 3)} for p in plan.placements],
        "makespan": round(plan.makespan, 3),
        "lower_bound": round(plan.bound, 3),
        "serial": round(plan.serial, 3),
    }, indent=2)  # fmt: skip


def add_pack_plan_parser(command: Callable[..., argparse.ArgumentParser]) -> None:
    pack = command("pack-plan", "the schedule and predicted makespan of a stage packed on one"
                   " runner with G GPUs, from durations (no GPU needed)")  # fmt: skip
    pack.add_argument("--stage", required=True)
    pack.add_argument("--gpus", type=int, required=True, metavar="G", help="the runner's GPUs")
    pack.add_argument("--json", action="store_true", help="print JSON: jobs (id, gpus, start,"
                      " end) and makespan")  # fmt: skip
    pack.add_argument("--durations", metavar="FILE", help="measured durations {id: seconds}"
                      " (default: durations.json beside stages.toml)")  # fmt: skip


def pack_plan_command(config: Config, args: argparse.Namespace) -> int:
    """`pack-plan`: the schedule, its makespan and the alternatives, or --json."""
    from sglang_ci.plan.github_matrix import durations_for

    packed = pack_plan(config, args.stage, args.gpus, durations_for(config, args.durations))
    print(render_json(packed) if args.json else render_text(config, packed))
    return 0
