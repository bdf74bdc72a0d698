"""The dry run: everything a job would do, resolved, without starting anything.

A contributor reads this to reproduce a CI job by hand, and a maintainer to review a
stages.toml change: the exact commands, the environment added to each, the endpoints
polled and checked, and the eval with its pass condition.
"""

from __future__ import annotations

import shlex

from sglang_ci.config.checks import CHECKS
from sglang_ci.config.schema import Config, Job, Stage
from sglang_ci.config.secrets import redacted, redacted_argv
from sglang_ci.config.server_args import lookup
from sglang_ci.config.text import number
from sglang_ci.engines import registry
from sglang_ci.plan.commands import (
    IB_DEVICE_ENV,
    env_added,
    readiness_endpoint,
    readiness_poll_s,
    router_command,
    server_command,
    url,
)
from sglang_ci.plan.file_budget import siblings
from sglang_ci.plan.file_plan import render_file_plan
from sglang_ci.plan.github_matrix import Policies, durations_for, plan_stage
from sglang_ci.plan.policy import resolve


def server_info_expectations(job: Job) -> list[str]:
    """What /server_info must report for the job's ``verify`` flags, per server."""
    lines = []
    for server in job.deployment.servers:
        expected = []
        for flag in job.suite.verify:
            key = flag.replace("-", "_")
            value = lookup(server.args, flag)
            if value is None or value is False:
                expected.append(f"{key} is false or unset")
            else:
                expected.append(f"{key} == {value!r}")
        if expected:
            prefix = f"{server.role}: " if job.deployment.disaggregated else ""
            lines.append(prefix + ", ".join(expected))
    return lines


def _env_text(env: dict[str, str]) -> str:
    shown = redacted(env)  # a secret-looking variable of stages.toml is shown as ***
    return " ".join(f"{key}={shlex.quote(value)}" for key, value in shown.items()) or "(none)"


def render_plan(
    job: Job, stage: Stage, engine: str, python: str = "python", limits: list[str] | None = None
) -> str:
    deployment = job.deployment
    suite = f", SGLang suite {stage.sglang_suite}" if stage.sglang_suite else ""
    out = [
        f"{job.id}",
        f"  stage {stage.name}{suite} (runner {stage.runner}), {job.gpus} GPU(s),"
        f" est {number(job.est_time)} s, engine {engine}"
        + (f" ({registry.engine(engine).plan_note})" if registry.engine(engine).plan_note else ""),
        *(limits or []),
        "",
        "launch:",
    ]
    ports = {server.role: f"{server.role.upper()}_PORT" for server in deployment.servers}
    for server in deployment.servers:
        command = server_command(
            python, engine, deployment, server, ports[server.role], "BOOTSTRAP_PORT",
            "IB_DEVICE",
        )  # fmt: skip
        out.append(f"  [{server.role}, {server.gpu_span_text()}]")
        out.append(f"  {shlex.join(redacted_argv(command))}")
        out.append(f"    env added: {_env_text(env_added(deployment, server))}")
    if deployment.disaggregated:
        kind = job.model.pd_router
        router = router_command(
            python, kind, url(ports["prefill"]), "BOOTSTRAP_PORT", url(ports["decode"]),
            "ROUTER_PORT", "ROUTER_METRICS_PORT" if kind == "rust" else None,
        )  # fmt: skip
        origin = "SGLang's PD fixture" if kind == "mini-lb" else "labelled option, not SGLang's"
        out += [f"  [router: pd-router = {kind!r}, {origin}]", f"  {shlex.join(router)}"]
        out.append(f"    env added: {_env_text(env_added(deployment))}")
        out.append(
            f"  (IB_DEVICE: ${IB_DEVICE_ENV} where set; else as SGLang's PD fixture picks it:"
            " with SGLANG_IS_IN_CI, $SGLANG_CI_RDMA_ALL_DEVICES, else the fast active devices"
            " of /sys/class/infiniband, else mlx5_roce0-7, the first and the middle one unless"
            " CUDA_VISIBLE_DEVICES names 4 GPUs or fewer; outside CI"
            " $SGLANG_TEST_PD_DISAGG_DEVICES, else the flag is left out)"
        )
    out.append("  (*_PORT: free ports picked at launch, so that parallel jobs never collide)")
    out += [f"  (renamed flag: {note})" for note in job.renamed_flags]

    out += ["", "ready when:"]
    roles = [server.role for server in deployment.servers]
    poll = number(readiness_poll_s(deployment))
    for role in [*roles, "router"] if deployment.disaggregated else roles:
        endpoint = readiness_endpoint(deployment, role)
        out.append(f"  {role}: GET {endpoint} answers 200 (polled every {poll} s)")

    out += ["", "checks (improvements, off under --sglang-sequence but for the steps the SGLang"
            " test takes):", "  POST /generate: one smoke generation through the entry point",
            "  POST /flush_cache (retried while it answers 400)"]  # fmt: skip
    for line in server_info_expectations(job):
        out.append(f"  GET /server_info: {line}")

    out += ["", "pass when:"]
    for check, threshold in job.thresholds:
        spec = CHECKS[check]
        options = job.eval if check == job.suite.score else None
        via = ", ".join(spec.endpoints)
        target = "router" if deployment.disaggregated else "server"
        described = spec.describe(job.comparator(check), threshold, options)
        out.append(f"  {described}  [{via} on the {target}]")
        derived = dict(job.threshold_derivations).get(check)
        if derived:  # the float SGLang's test compares with, not the rounded number above
            out.append(f"    threshold as SGLang's test derives it: {derived}")

    out += [
        "",
        "teardown: SIGTERM to each process group, SIGKILL after the grace period, then wait"
        " until every process is reaped and every port is free"
        + (" and NVML shows the GPUs released" if registry.engine(engine).uses_gpus else ""),
    ]
    return "\n".join(out)


def render_stage_plan(
    config: Config, stage_name: str, engine: str, options: Policies | None = None
) -> str:
    """Every job's dry run, after a header with what SGLang's rules give the stage: its
    shards and their throttle, and each job's attempts, time limit and fail-fast."""
    jobs = config.stage_jobs(stage_name)
    files = config.stage_files(stage_name)
    stage = config.stages[stage_name]
    plan = plan_stage(config, stage_name, None, durations_for(config, None))
    runs = options.policy(stage.policy) if options else resolve(stage.policy)
    shards = len(plan.partitions)
    est_total = sum(job.est_time for job in jobs) + sum(file.est_time for file in files)
    header = (
        f"stage {stage.name}"
        + (f" (SGLang: {stage.sglang_suite})" if stage.sglang_suite else "")
        + f": {_count(stage)} on runner {stage.runner} ({stage.gpus} GPUs),"
        f" timeout {stage.timeout_minutes} min, est total {number(est_total)} s"
        f"\n  {shards} shard{'s' if shards > 1 else ''}"
        f" ({'pinned' if stage.policy.partitions else '0.75 x timeout each'}, at most"
        f" {plan.max_parallel} at once); each job: {runs.describe()}"
    )
    units = [unit for part in plan.partitions for unit in part.ids]
    return "\n\n".join(
        [header, *(render_unit(config, unit, engine, runs.time_limit) for unit in units)]
    )


def _count(stage: Stage) -> str:
    source = stage.registered
    files = (
        f"{len(stage.files)} files registered for SGLang's"
        f"{' nightly' if source.nightly else ''} suite {source.suite}"
        f" ({source.disabled} disabled left out; checkout {source.checkout})"
        if source is not None
        else ""
    )
    jobs = f"{len(stage.jobs)} jobs" if stage.jobs or not files else ""
    return " and ".join(part for part in (jobs, files) if part)


def render_unit(config: Config, unit: str, engine: str, time_limit: float) -> str:
    """One unit of a stage's plan: a job's dry run, or a registered file's."""
    if unit in config.files:
        file = config.files[unit]
        return render_file_plan(file, config.stages[file.stage], time_limit)
    job = config.jobs[unit]
    return render_plan(job, config.stages[job.stage], engine, limits=limits_text(
        config, job, engine, time_limit))  # fmt: skip


def limits_text(config: Config, job: Job, engine: str, time_limit: float) -> list[str]:
    """The job's launch timeout and time limit, the limit shared with the other jobs of
    its SGLang file (plan.file_budget), as run_suite.py limits the file."""
    launch = registry.engine(engine).launch_timeout_note(number(job.launch_timeout))
    shared = [other for other in siblings(config, job.id) if other != job.id]
    limit = f"{number(time_limit)} s"
    if shared:
        limit += (f", one limit for the {len(shared) + 1} jobs of {job.sglang_file}, run in"
                  f" this order: {', '.join(siblings(config, job.id))} (shared with"
                  f" {', '.join(shared)})")  # fmt: skip
    elif job.sglang_file:
        limit += f", the limit of {job.sglang_file}"
    return [f"  launch timeout: {launch}", f"  time limit: {limit}"]


def render_calibration_plan(job: Job, stage: Stage, engine: str, runs: int,
                            relaunch: bool) -> str:  # fmt: skip
    """`calibrate --dry-run`: the job's launch plan, then the runs it would make."""
    launches = f"{runs} launches" if relaunch else "one launch, cache flushed between runs"
    return (f"{render_plan(job, stage, engine)}\ncalibrate: {runs} {job.suite.score} evals"
            f" of {job.id} ({launches}); nothing started")  # fmt: skip
