"""stages.toml read into frozen dataclasses, with every rule checked once, up front.

The reader takes ``env`` instead of reading ``os.environ`` so tests and the noxfile decide
which file is read. Each rule fails with one line naming the key path; nothing is half
loaded: either the whole config is valid or a ConfigError says where it is not.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sglang_ci.config.axes import AXES, Params, expand, normalize_signature, signature
from sglang_ci.config.baselines import BASELINES_FILE, Baseline, check_known, load_baselines
from sglang_ci.config.checks import CHECKS, EvalOptions
from sglang_ci.config.deployment import PD_ROLES, Deployment, Env, place
from sglang_ci.config.errors import ConfigError, UsageError
from sglang_ci.config.server_args import Args, ArgValue, flag_problem, lookup, merge
from sglang_ci.config.toml_reader import Table, kind_name, load_toml, suggestion, type_name

CONFIG_ENV = "SGLANG_CI_CONFIG"
DEFAULT_CONFIG = "stages.toml"

_PARALLEL_FLAGS = ("tp-size", "pp-size", "dp-size")
_DEPLOYMENTS = ("single", "pd")


@dataclass(frozen=True)
class Role:
    name: str
    args: Args
    env: Env


@dataclass(frozen=True)
class Model:
    alias: str
    model_path: str
    args: Args
    env: Env
    roles: tuple[Role, ...]
    description: str = ""

    @property
    def speculative(self) -> bool:
        return bool(lookup(self.args, "speculative-algorithm"))

    @property
    def default_backend(self) -> str | None:
        value = lookup(self.args, "attention-backend")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    deployment: str
    axes: tuple[str, ...]
    score: str | None
    checks: tuple[str, ...]
    eval: EvalOptions | None
    thresholds: tuple[tuple[str, float], ...]
    verify: tuple[str, ...]
    est_time: float | None


@dataclass(frozen=True)
class Job:
    id: str
    where: str  # the key path that defined it, for messages about the job
    suite: Suite
    model: Model
    stage: str
    params: Params
    thresholds: tuple[tuple[str, float], ...]
    eval: EvalOptions | None
    est_time: float
    deployment: Deployment
    # Where the score's threshold comes from: "baseline" (derived from recorded runs),
    # "pinned" (typed in stages.toml), or "" for a suite without a score.
    threshold_origin: str = ""
    baseline: Baseline | None = None
    # Set only when loaded leniently (calibrate, the noxfile): the error this job would
    # raise for a score without a threshold. Such a job can be calibrated, not run.
    missing_threshold: str = ""

    @property
    def gpus(self) -> int:
        return self.deployment.gpus

    def threshold(self, check: str) -> float | None:
        return dict(self.thresholds).get(check)

    @property
    def launch_key(self) -> str:
        """Equal for jobs whose servers start identically (model, args, env per role):
        such jobs can run against one launch."""
        servers = tuple((s.role, s.args, s.env) for s in self.deployment.servers)
        return repr((self.deployment.model_path, servers))

    def evidence(self) -> dict[str, object]:
        """How the score's threshold was set: rule, observations, margin to the lowest."""
        score = self.suite.score
        if not score:
            return {}
        threshold = self.threshold(score)
        scores = self.baseline.scores if self.baseline else []
        lowest = min(scores) if scores else None
        rule = self.baseline.rule.describe() if self.baseline else ""
        return {
            "rule": "pinned" if self.threshold_origin == "pinned" else rule,
            "observations": len(scores),
            "lowest": lowest,
            "margin": round(lowest - threshold, 6) if lowest is not None and threshold else None,
        }


@dataclass(frozen=True)
class Stage:
    name: str
    gpus: int
    runner: str
    timeout_minutes: int
    after: tuple[str, ...]
    label: str | None
    jobs: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class Config:
    source: Path
    models: Mapping[str, Model]
    suites: Mapping[str, Suite]
    stages: Mapping[str, Stage]
    jobs: Mapping[str, Job] = field(default_factory=dict)

    def find_job(self, text: str) -> Job:
        """A job by its session signature, matched as nox matches (spacing, quotes)."""
        wanted = normalize_signature(text)
        for job in self.jobs.values():
            if normalize_signature(job.id) == wanted:
                return job
        raise UsageError(
            f"no job {text!r} in {self.source}.{suggestion(text, self.jobs)}"
            " List the jobs with: python -m sglang_ci list"
        )

    def stage_jobs(self, stage: str) -> list[Job]:
        if stage not in self.stages:
            raise UsageError(
                f"no stage {stage!r} in {self.source}.{suggestion(stage, self.stages)}"
            )
        return [self.jobs[job_id] for job_id in self.stages[stage].jobs]


def config_path(cli_path: str | None, env: Mapping[str, str], cwd: Path) -> Path:
    """--config wins, then $SGLANG_CI_CONFIG, then ./stages.toml."""
    chosen = cli_path or env.get(CONFIG_ENV) or DEFAULT_CONFIG
    path = Path(chosen)
    return path if path.is_absolute() else cwd / path


def load_config(
    cli_path: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    *,
    lenient_scores: bool = False,
) -> Config:
    """stages.toml, with baselines.toml beside it (when there is one).

    ``lenient_scores``: a scored job with neither a pinned threshold nor a baseline is
    kept (marked) instead of failing the whole file, so that it can be calibrated.
    """
    path = config_path(cli_path, os.environ if env is None else env, cwd or Path.cwd())
    data = load_toml(path)
    baselines = load_baselines(path.parent / BASELINES_FILE)
    return parse_config(data, path, baselines, lenient_scores=lenient_scores)


def parse_config(
    data: dict[str, Any],
    source: Path,
    baselines: Mapping[str, Baseline] | None = None,
    *,
    lenient_scores: bool = False,
) -> Config:
    baselines = baselines or {}
    root = Table(data, "", source.name, allowed=_ROOT_KEYS, required=_ROOT_KEYS)
    models_table = _section(root, "models")
    models = {
        alias: _read_model(
            models_table.child(alias, allowed=_MODEL_KEYS, required=("model-path",)), alias
        )
        for alias in models_table.data
    }
    suites_table = _section(root, "suites")
    suites = {
        name: _read_suite(suites_table.child(name, allowed=_SUITE_KEYS), name)
        for name in suites_table.data
    }
    stages_table = _section(root, "stages")
    stages: dict[str, Stage] = {}
    jobs: dict[str, Job] = {}
    for name in stages_table.data:
        table = stages_table.child(
            name, allowed=_STAGE_KEYS, required=("gpus", "runner", "timeout")
        )
        stage = Stage(
            name=name,
            gpus=table.positive("gpus", int),
            runner=table.need("runner", str),
            timeout_minutes=table.positive("timeout", int),
            after=table.string_list("after"),
            label=table.get("label", str, "") or None,
            jobs=(),
            description=table.get("description", str, ""),
        )
        stage_jobs = _read_stage_jobs(
            table, stage, models, suites, jobs, baselines, lenient=lenient_scores
        )
        stages[name] = replace(stage, jobs=tuple(job.id for job in stage_jobs))
    _check_stage_order(stages_table, stages)
    _check_name_clashes(root, models, suites, stages)
    check_known(dict(baselines), list(jobs), BASELINES_FILE)
    return Config(
        source,
        MappingProxyType(models),
        MappingProxyType(suites),
        MappingProxyType(stages),
        MappingProxyType(jobs),
    )


# Sessions the noxfile defines itself: a suite of the same name would take them over.
RESERVED_SESSIONS = frozenset(
    {"tests", "lint", "stage", "demo", "calibrate", "contract", "matrix", "report", "partition"}
)
MATRIX_TAG = "matrix"  # tags every job session, so `nox -l --json -t matrix` lists them all


def _check_name_clashes(
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


def _section(root: Table, key: str) -> Table:
    """A top-level table whose keys are names (model aliases, suites, stages)."""
    value = root.need(key, dict)
    if not value:
        root.fail(f"'{key}' is empty: declare at least one", key)
    pattern, rule = _NAME_RULES[key]
    for name in value:
        if not pattern.match(name):
            root.fail(f"'{name}' is not a valid name: {rule}", key)
    return root.child(key, allowed=value)


# Suite names become nox session names, so they must parse as Python names in a
# signature; aliases and stages appear in signatures, tags and CI job names.
_NAME_RULES = {
    "models": (re.compile(r"^[a-z0-9][a-z0-9-]*$"), "lowercase letters, digits and '-'"),
    "suites": (re.compile(r"^[a-z][a-z0-9_]*$"), "a lowercase Python identifier"),
    "stages": (re.compile(r"^[a-z0-9][a-z0-9-]*$"), "lowercase letters, digits and '-'"),
}


_ROOT_KEYS = ("models", "suites", "stages")
_MODEL_KEYS = ("model-path", "description", "args", "env", "roles")
_SUITE_KEYS = (
    "description",
    "deployment",
    "axes",
    "score",
    "checks",
    "eval",
    "thresholds",
    "verify",
    "est-time",
)
_STAGE_KEYS = ("description", "gpus", "runner", "timeout", "after", "label", "jobs")
_EVAL_KEYS = ("num-examples", "num-shots", "threads")


# ---------------------------------------------------------------- models


def _read_model(table: Table, alias: str) -> Model:
    args = _read_args(table, "args")
    roles: list[Role] = []
    if "roles" in table:
        role_tables = table.child("roles", allowed=PD_ROLES, required=PD_ROLES)
        for role in PD_ROLES:
            role_table = role_tables.child(role, allowed=("args", "env"))
            roles.append(Role(role, _read_args(role_table, "args"), _read_env(role_table)))
    model_path = table.need("model-path", str)
    if not model_path.strip():
        table.fail("must not be empty", "model-path")
    return Model(
        alias,
        model_path,
        args,
        _read_env(table),
        tuple(roles),
        table.get("description", str, ""),
    )


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _read_env(table: Table, key: str = "env") -> Env:
    env = table.string_map(key)
    for name, _ in env:
        if not _ENV_NAME.match(name):
            table.fail("not a valid environment variable name", f"{key}.{name}")
    return env


def _read_args(table: Table, key: str) -> Args:
    values = table.get(key, dict, {})
    result: list[tuple[str, ArgValue]] = []
    for flag, value in values.items():
        where = f"{key}.{flag}"
        problem = flag_problem(flag)
        if problem:
            table.fail(problem, where)
        result.append((flag, _arg_value(table, where, flag, value)))
    return tuple(result)


def _arg_value(table: Table, where: str, flag: str, value: object) -> ArgValue:
    if flag in (*_PARALLEL_FLAGS, "base-gpu-id"):
        low = 0 if flag == "base-gpu-id" else 1
        if type(value) is not int or value < low:
            table.fail(f"expected an integer >= {low}, got {value!r}", where)
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list) and all(isinstance(item, (int, float, str)) for item in value):
        return tuple(str(item) for item in value)
    table.fail(
        f"expected true/false, a number, a string or an array of them, got {kind_name(value)}",
        where,
    )


# ---------------------------------------------------------------- suites


def _read_suite(table: Table, name: str) -> Suite:
    deployment = table.get("deployment", str, "single")
    if deployment not in _DEPLOYMENTS:
        table.fail(f"expected one of {', '.join(_DEPLOYMENTS)}, got {deployment!r}", "deployment")
    axes = table.string_list("axes") or ("model",)
    for index, axis in enumerate(axes):
        if axis not in AXES:
            table.fail(f"unknown axis '{axis}'.{suggestion(axis, AXES)}", f"axes[{index}]")
    if axes[0] != "model":
        table.fail("the first axis must be 'model' (every job runs one model)", "axes")
    score = table.get("score", str, "") or None
    checks = table.string_list("checks")
    for index, check in enumerate((score, *checks) if score else checks):
        if check not in CHECKS:
            where = "score" if score and index == 0 else f"checks[{index - (1 if score else 0)}]"
            table.fail(f"unknown check '{check}'.{suggestion(check, CHECKS)}", where)
    if score and CHECKS[score].eval_defaults is None:
        table.fail(f"'{score}' is a probe, not an eval; list it under checks", "score")
    for index, check in enumerate(checks):
        if check == score or check in checks[:index]:
            table.fail(f"'{check}' is listed twice", f"checks[{index}]")
        if CHECKS[check].eval_defaults is not None:
            table.fail(f"'{check}' is an eval: make it the suite's score", f"checks[{index}]")
    thresholds = _read_thresholds(table, (score, *checks) if score else checks)
    if score and score in dict(thresholds):
        table.fail(
            f"a suite may default the thresholds of its checks, not its score '{score}':"
            " each job states (later: derives) its own",
            f"thresholds.{score}",
        )
    est_time = table.positive("est-time", float) if "est-time" in table else None
    return Suite(
        name=name,
        description=table.get("description", str, ""),
        deployment=deployment,
        axes=axes,
        score=score,
        checks=checks,
        eval=_read_eval(table, CHECKS[score].eval_defaults if score else None, None),
        thresholds=thresholds,
        verify=_read_verify(table),
        est_time=est_time,
    )


def _read_verify(table: Table) -> tuple[str, ...]:
    flags = table.string_list("verify")
    for index, flag in enumerate(flags):
        problem = flag_problem(flag)
        if problem and flag not in ("model-path", "disaggregation-mode"):
            table.fail(problem, f"verify[{index}]")
    return flags


def _read_eval(
    table: Table, defaults: EvalOptions | None, base: EvalOptions | None
) -> EvalOptions | None:
    if "eval" not in table:
        return base or defaults
    if defaults is None:
        table.fail("only a suite with a score (an eval) takes eval options", "eval")
    start = base or defaults
    options = table.child("eval", allowed=_EVAL_KEYS)
    return EvalOptions(
        num_examples=options.positive("num-examples", int)
        if "num-examples" in options
        else start.num_examples,
        num_shots=_non_negative(options, "num-shots", start.num_shots),
        threads=options.positive("threads", int) if "threads" in options else start.threads,
    )


def _non_negative(table: Table, key: str, default: int) -> int:
    value = table.get(key, int, default)
    if value < 0:
        table.fail(f"must be 0 or more, got {value}", key)
    return value


def _read_thresholds(table: Table, allowed: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    if "thresholds" not in table:
        return ()
    values = table.child("thresholds", allowed=allowed)
    result = []
    for check in values.data:
        value = values.need(check, float)
        spec = CHECKS[check]
        if value < spec.low or (spec.high is not None and value > spec.high):
            bounds = f"{spec.low:g}..{spec.high:g}" if spec.high is not None else f">= {spec.low:g}"
            values.fail(f"{value:g} is outside {check}'s range {bounds}", check)
        result.append((check, value))
    return tuple(result)


# ---------------------------------------------------------------- stages and jobs


_JOB_BASE_KEYS = ("suite", "thresholds", "est-time", "eval", "args", "env")


def _read_stage_jobs(
    table: Table,
    stage: Stage,
    models: Mapping[str, Model],
    suites: Mapping[str, Suite],
    jobs: dict[str, Job],
    baselines: Mapping[str, Baseline],
    *,
    lenient: bool,
) -> list[Job]:
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
                several=len(cells) > 1, lenient=lenient,
            )  # fmt: skip
            if job.id in jobs:
                entry.fail(f"duplicate job id {job.id}: already defined at {jobs[job.id].where}")
            jobs[job.id] = job
            result.append(job)
            if job.gpus > stage.gpus:
                raise ConfigError(
                    f"{table.source}: {job.where}: {job.id} needs {job.gpus} GPUs"
                    f" ({job.deployment.gpu_formula()}) but stage '{stage.name}' has {stage.gpus}"
                    + _dp_hint(job)
                )
    return result


def _all_job_keys() -> tuple[str, ...]:
    return (*_JOB_BASE_KEYS, *AXES)


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

    suite_checks = (suite.score, *suite.checks) if suite.score else suite.checks
    own = dict(_read_thresholds(entry, suite_checks))
    thresholds = {**dict(suite.thresholds), **own}
    baseline = baselines.get(job_id)
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
            if check in own:
                entry.fail(
                    f"model '{alias}' runs no speculative decoding, so {check} does not apply",
                    f"thresholds.{check}",
                )
            thresholds.pop(check, None)
        elif check not in thresholds and not (check == suite.score and missing):
            entry.fail(
                f"{job_id}: check '{check}' has no threshold; set thresholds.{check}"
                " on the job or the suite"
            )
    # Score first, then the checks, as the suite lists them: the order every report uses.
    ordered = tuple((check, thresholds[check]) for check in suite_checks if check in thresholds)

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
        thresholds=ordered,
        eval=_read_eval(
            entry, CHECKS[suite.score].eval_defaults if suite.score else None, suite.eval
        ),
        est_time=float(est_time),
        deployment=deployment,
        threshold_origin=origin,
        baseline=baseline,
        missing_threshold=f"{entry.source}: {where}: {missing}"
        if suite.score and not origin
        else "",
    )


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
    job_args = _read_args(entry, "args")
    for flag, _ in job_args:
        owner = next((a for a in suite_axes if AXES[a].flag == flag), None)
        if owner:
            entry.fail(
                f"set the '{owner}' axis instead: it is part of the job's id", f"args.{flag}"
            )
    job_env = _read_env(entry)
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
    clash = deployment.overlap()
    if clash:
        first, second = clash
        raise ConfigError(
            f"{entry.source}: {where}: {job_id}: {first.role} ({first.gpu_span_text()}) and"
            f" {second.role} ({second.gpu_span_text()}) share GPUs; fix base-gpu-id"
        )
    return deployment


def _check_stage_order(stages_table: Table, stages: Mapping[str, Stage]) -> None:
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
