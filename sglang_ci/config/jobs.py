"""A stage's job entries expanded into Jobs: one per cell of the suite's axes, each with
its id (the nox session signature), thresholds and their origin, and its deployment.

An entry may give an axis an array of values, so one entry can define several jobs;
every message about one of them names the job as well as the entry's key path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from sglang_ci.config.axes import AXES, Params, expand, signature
from sglang_ci.config.baselines import BASELINES_FILE, Baseline
from sglang_ci.config.checks import CHECKS
from sglang_ci.config.deployment import Deployment, place
from sglang_ci.config.errors import ConfigError
from sglang_ci.config.reader import (
    read_args,
    read_comparators,
    read_env,
    read_eval,
    read_min_sglang,
    read_threshold_rows,
)
from sglang_ci.config.rules import check_gpu_overlap, check_job_fits
from sglang_ci.config.schema import Job, Model, Role, Stage, Suite
from sglang_ci.config.server_args import ArgValue, merge
from sglang_ci.config.toml_reader import Table, kind_name, suggestion, type_name

_JOB_BASE_KEYS = (
    "suite", "thresholds", "comparators", "est-time", "eval", "args", "env", "min-sglang",
    "launch-timeout", "sglang-file", "test-retries",
)  # fmt: skip


def read_stage_jobs(
    table: Table,
    stage: Stage,
    models: Mapping[str, Model],
    suites: Mapping[str, Suite],
    jobs: dict[str, Job],
    baselines: Mapping[str, Baseline],
    *,
    lenient: bool,
) -> list[Job]:
    """The stage's jobs, in file order; each is also added to ``jobs`` (every stage's so
    far), so that an id defined twice anywhere in the file is caught here."""
    result: list[Job] = []
    for entry in table.tables("jobs", allowed=_all_job_keys(), required=("suite", "model")):
        suite_name = entry.need("suite", str)
        if suite_name not in suites:
            entry.fail(f"unknown suite '{suite_name}'.{suggestion(suite_name, suites)}", "suite")
        suite = suites[suite_name]
        # Re-check the keys against this suite's own axes: 'topk' on a sanity job is an error.
        entry = Table(entry.data, entry.path, entry.source, allowed=(*_JOB_BASE_KEYS, *suite.axes))
        cells = expand(_axis_values(entry, suite), suite.axes)
        for params in cells:
            job = _build_job(
                entry, stage.name, suite, models, params, baselines,
                several=len(cells) > 1, lenient=lenient, sglang_suite=stage.sglang_suite,
            )  # fmt: skip
            if job.id in jobs:
                entry.fail(f"duplicate job id {job.id}: already defined at {jobs[job.id].where}")
            jobs[job.id] = job
            result.append(job)
            check_job_fits(table, stage, job)
    return result


def _all_job_keys() -> tuple[str, ...]:
    return (*_JOB_BASE_KEYS, *AXES)


def _axis_values(entry: Table, suite: Suite) -> dict[str, object]:
    values: dict[str, object] = {}
    for axis_name in suite.axes:
        if axis_name not in entry:
            continue
        axis = AXES[axis_name]
        raw = entry.data[axis_name]
        items = raw if isinstance(raw, list) else [raw]
        if not items:
            entry.fail("an empty array gives no jobs", axis_name)
        for item in items:
            if type(item) is not axis.kind:
                entry.fail(
                    f"expected {type_name(axis.kind)} (or an array of them), got {kind_name(item)}",
                    axis_name,
                )
            if isinstance(item, int) and item < 1:
                entry.fail(f"must be 1 or more, got {item}", axis_name)
        if len(set(items)) != len(items):
            entry.fail("a value is listed twice", axis_name)
        values[axis_name] = raw
    return values


def _build_job(
    entry: Table,
    stage: str,
    suite: Suite,
    models: Mapping[str, Model],
    params: Params,
    baselines: Mapping[str, Baseline],
    *,
    several: bool,
    lenient: bool,
    sglang_suite: str = "",
) -> Job:
    values = dict(params)
    alias = str(values["model"])
    if alias not in models:
        entry.fail(f"unknown model '{alias}'.{suggestion(alias, models)}", "model")
    model = models[alias]
    if suite.deployment == "pd" and not model.roles:
        entry.fail(
            f"suite '{suite.name}' runs prefill and decode servers, but model '{alias}'"
            " declares no roles.prefill / roles.decode",
            "model",
        )
    if suite.deployment == "single" and model.roles:
        entry.fail(
            f"model '{alias}' is a PD deployment; suite '{suite.name}' starts one server", "model"
        )
    if "topk" in values and not model.speculative:
        entry.fail(f"model '{alias}' sets no speculative-algorithm, so it has no topk", "topk")
    if values.get("backend") == model.default_backend:
        # The default is never written in the signature (nox must see one name per job).
        params = tuple(p for p in params if p[0] != "backend")
    job_id = signature(suite.name, params)
    # One entry with array axes defines several jobs; name the one that a message is about.
    where = f"{entry.path} ({job_id})" if several else entry.path

    baseline = baselines.get(job_id)
    thresholds = _job_thresholds(entry, suite, model, job_id, baseline, lenient=lenient)

    est_time = entry.positive("est-time", float) if "est-time" in entry else suite.est_time
    if est_time is None:
        entry.fail(f"{job_id} has no est-time (seconds): set est-time on the job or its suite")

    deployment = _deploy(entry, model, params, where, job_id, suite.axes)
    return Job(
        id=job_id,
        where=where,
        suite=suite,
        model=model,
        stage=stage,
        params=params,
        thresholds=thresholds.ordered,
        eval=read_eval(
            entry, CHECKS[suite.score].eval_defaults if suite.score else None, suite.eval
        ),
        est_time=float(est_time),
        deployment=deployment,
        threshold_origin=thresholds.origin,
        baseline=baseline,
        comparators=thresholds.comparators,
        missing_threshold=f"{entry.source}: {where}: {thresholds.missing}"
        if suite.score and not thresholds.origin
        else "",
        min_sglang=read_min_sglang(entry, model.min_sglang),
        threshold_derivations=thresholds.derivations,
        launch_timeout=(
            entry.positive("launch-timeout", float)
            if "launch-timeout" in entry
            else Job.launch_timeout
        ),
        sglang_file=entry.get("sglang-file", str, ""),
        test_retries=_test_retries(entry),
        sglang_suite=sglang_suite,
    )


def _test_retries(entry: Table) -> int:
    retries = entry.get("test-retries", int, Job.test_retries)
    if retries < 0:
        entry.fail(f"must be 0 or more, got {retries}", "test-retries")
    return retries


class _Thresholds(NamedTuple):
    ordered: tuple[tuple[str, float], ...]  # score first, then the checks
    origin: str  # Job.threshold_origin
    missing: str  # the error of a scored job with no threshold, kept when lenient
    comparators: tuple[tuple[str, str], ...]  # one per check in ``ordered``
    derivations: tuple[tuple[str, str], ...]  # the job's own derived thresholds, described


def _job_thresholds(
    entry: Table,
    suite: Suite,
    model: Model,
    job_id: str,
    baseline: Baseline | None,
    *,
    lenient: bool,
) -> _Thresholds:
    """The job's own thresholds over its suite's; the score's from its baseline unless
    pinned; checks that need speculative decoding dropped for a model without it."""
    suite_checks = suite.checks_scored
    rows = read_threshold_rows(entry, suite_checks)  # read once: derived ones say how
    own = {check: value for check, value, _ in rows}
    derivations = tuple((check, derived.describe()) for check, _, derived in rows if derived)
    own_comparators = dict(read_comparators(entry, suite_checks))
    thresholds = {**dict(suite.thresholds), **own}
    origin, missing = "", ""
    if suite.score:
        if suite.score in own:
            origin = "pinned"
        elif baseline is not None:
            origin = "baseline"
            thresholds[suite.score] = baseline.threshold()
        else:
            missing = (
                f"{job_id}: a scored job '{suite.score}' has no threshold: record its runs in"
                f" {BASELINES_FILE} (calibrate --write) or pin thresholds.{suite.score}"
            )
            if not lenient:
                entry.fail(missing)
    for check in suite_checks:
        if CHECKS[check].needs_speculative and not model.speculative:
            for key, values in (("thresholds", own), ("comparators", own_comparators)):
                if check in values:
                    entry.fail(
                        f"model '{model.alias}' runs no speculative decoding,"
                        f" so {check} does not apply",
                        f"{key}.{check}",
                    )
            thresholds.pop(check, None)
        elif check not in thresholds and not (check == suite.score and missing):
            entry.fail(
                f"{job_id}: check '{check}' has no threshold; set thresholds.{check}"
                " on the job or the suite"
            )
    # Score first, then the checks, as the suite lists them: the order every report uses.
    ordered = tuple((check, thresholds[check]) for check in suite_checks if check in thresholds)
    comparators = {**dict(suite.comparators), **own_comparators}
    resolved = tuple(
        (check, comparators.get(check, CHECKS[check].comparator)) for check, _ in ordered
    )
    for (check, value), (_, comparator) in zip(ordered, resolved, strict=True):
        problem = CHECKS[check].threshold_problem(comparator, value)
        if problem and check == suite.score and origin == "baseline" and baseline:
            # Derived, not typed: name the rule that made it, the knob to turn.
            raise ConfigError(
                f'{BASELINES_FILE}: jobs."{job_id}": {check} threshold derived by'
                f" {baseline.rule.describe()} from {len(baseline.scores)} runs: {problem}"
            )
        if problem:
            # The suite's own pair was checked when the suite was read, so one of the
            # pair is the job's: name that key.
            key = "thresholds" if check in own else "comparators"
            entry.fail(problem, f"{key}.{check}")
    return _Thresholds(ordered, origin, missing, resolved, derivations)


def _deploy(
    entry: Table,
    model: Model,
    params: Params,
    where: str,
    job_id: str,
    suite_axes: tuple[str, ...],
) -> Deployment:
    """The job's servers: model args, then the role's, then the job's, then its axes."""
    axis_args: list[tuple[str, ArgValue]] = [
        (flag, value) for axis, value in params if (flag := AXES[axis].flag)
    ]
    job_args = read_args(entry, "args")
    for flag, _ in job_args:
        owner = next((a for a in suite_axes if AXES[a].flag == flag), None)
        if owner:
            entry.fail(
                f"set the '{owner}' axis instead: it is part of the job's id", f"args.{flag}"
            )
    job_env = read_env(entry)
    roles = model.roles or (Role("server", (), ()),)
    servers = [
        (
            role.name,
            merge(merge(merge(model.args, role.args), job_args), axis_args),
            tuple({**dict(model.env), **dict(role.env), **dict(job_env)}.items()),
        )
        for role in roles
    ]
    deployment = place(model.model_path, servers)
    check_gpu_overlap(deployment, entry.source, where, job_id)
    return deployment
