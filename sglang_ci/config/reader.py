"""The tables of stages.toml read into schema dataclasses: models, suites, stages, and the
args, env, eval options and thresholds that models, suites and jobs all take.

Each function checks what one table can check on its own (key names, types, ranges);
what needs several tables at once is in ``rules``, and jobs are expanded in ``jobs``.
Generic, path-aware table access is ``toml_reader``'s job, not this module's.
"""

from __future__ import annotations

import re

from sglang_ci.config.axes import AXES
from sglang_ci.config.checks import CHECKS, COMPARATORS, EvalOptions
from sglang_ci.config.deployment import PD_ROLES, Env
from sglang_ci.config.derived import DERIVED_KEYS, Derived, read_derived
from sglang_ci.config.process_values import process_string_problem
from sglang_ci.config.releases import RELEASE, release_order
from sglang_ci.config.schema import (
    PD_ROUTERS,
    Model,
    Role,
    Suite,
)
from sglang_ci.config.server_args import Args, ArgValue, flag_problem
from sglang_ci.config.toml_reader import Table, kind_name, suggestion

ROOT_KEYS = ("models", "suites", "stages")
_MODEL_KEYS = ("model-path", "description", "args", "env", "roles", "pd-router", "min-sglang")
_SUITE_KEYS = (
    "description",
    "deployment",
    "axes",
    "score",
    "checks",
    "eval",
    "thresholds",
    "comparators",
    "verify",
    "est-time",
    "occupancy-ranks",
    "sglang-steps",
)
# How the fwd_occupancy probe combines the ranks of one scrape: "min" (ours: a degraded
# rank cannot hide) or "max" (SGLang's fwd_occupancy_kit at 1bd4f94598).
OCCUPANCY_RANKS = ("min", "max")
_EVAL_KEYS = ("num-examples", "num-shots", "threads")

_PARALLEL_FLAGS = ("tp-size", "pp-size", "dp-size")
_DEPLOYMENTS = ("single", "pd")

# Suite names become nox session names, so they must parse as Python names in a
# signature; aliases and stages appear in signatures, tags and CI job names.
_NAME_RULES = {
    "models": (re.compile(r"^[a-z0-9][a-z0-9-]*$"), "lowercase letters, digits and '-'"),
    "suites": (re.compile(r"^[a-z][a-z0-9_]*$"), "a lowercase Python identifier"),
    "stages": (re.compile(r"^[a-z0-9][a-z0-9-]*$"), "lowercase letters, digits and '-'"),
}


def section(root: Table, key: str) -> Table:
    """A top-level table whose keys are names (model aliases, suites, stages)."""
    value = root.need(key, dict)
    if not value:
        root.fail(f"'{key}' is empty: declare at least one", key)
    pattern, rule = _NAME_RULES[key]
    for name in value:
        if not pattern.match(name):
            root.fail(f"'{name}' is not a valid name: {rule}", key)
    return root.child(key, allowed=value)


# ---------------------------------------------------------------- models


def read_models(root: Table) -> dict[str, Model]:
    table = section(root, "models")
    return {
        alias: _read_model(table.child(alias, allowed=_MODEL_KEYS, required=("model-path",)), alias)
        for alias in table.data
    }


def _read_model(table: Table, alias: str) -> Model:
    args = read_args(table, "args")
    roles: list[Role] = []
    if "roles" in table:
        role_tables = table.child("roles", allowed=PD_ROLES, required=PD_ROLES)
        for role in PD_ROLES:
            role_table = role_tables.child(role, allowed=("args", "env"))
            roles.append(Role(role, read_args(role_table, "args"), read_env(role_table)))
    pd_router = table.get("pd-router", str, PD_ROUTERS[0])
    if pd_router not in PD_ROUTERS:
        table.fail(f"expected one of {', '.join(PD_ROUTERS)}, got {pd_router!r}", "pd-router")
    if "pd-router" in table and not roles:
        table.fail("only a PD model (one with roles) starts a router", "pd-router")
    model_path = table.need("model-path", str)
    if not model_path.strip():
        table.fail("must not be empty", "model-path")
    return Model(
        alias,
        model_path,
        args,
        read_env(table),
        tuple(roles),
        table.get("description", str, ""),
        pd_router,
        read_min_sglang(table, ""),
    )


def read_min_sglang(table: Table, model_min: str) -> str:
    """``min-sglang = "0.5.12"``: the oldest release a model or job claims to run on; a
    job may raise its model's, not lower it (the model's features need that release)."""
    value = table.get("min-sglang", str, model_min)
    if value and not RELEASE.match(value):
        table.fail(f'expected a release number such as "0.5.12", got {value!r}', "min-sglang")
    if model_min and release_order(value) < release_order(model_min):
        table.fail(f"{value} is older than its model's min-sglang {model_min}", "min-sglang")
    return value


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def read_env(table: Table, key: str = "env") -> Env:
    env = table.string_map(key)
    for name, value in env:
        if not _ENV_NAME.match(name):
            table.fail("not a valid environment variable name", f"{key}.{name}")
        problem = process_string_problem(value, f"{name}=")
        if problem:
            table.fail(problem, f"{key}.{name}")
    return env


def read_args(table: Table, key: str) -> Args:
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
    texts = [str(item) for item in value] if isinstance(value, list) else [str(value)]
    for text in texts:
        problem = process_string_problem(text)
        if problem:
            table.fail(problem, where)
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list) and all(isinstance(item, (int, float, str)) for item in value):
        return tuple(str(item) for item in value)
    table.fail(
        f"expected true/false, a number, a string or an array of them, got {kind_name(value)}",
        where,
    )


# ---------------------------------------------------------------- suites


def read_suites(root: Table) -> dict[str, Suite]:
    table = section(root, "suites")
    return {name: _read_suite(table.child(name, allowed=_SUITE_KEYS), name) for name in table.data}


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
    thresholds = read_thresholds(table, (score, *checks) if score else checks)
    if score and score in dict(thresholds):
        table.fail(
            f"a suite may default the thresholds of its checks, not its score '{score}':"
            " each job states (later: derives) its own",
            f"thresholds.{score}",
        )
    comparators = read_comparators(table, (score, *checks) if score else checks)
    own = dict(comparators)
    for check, value in thresholds:
        problem = CHECKS[check].threshold_problem(own.get(check, CHECKS[check].comparator), value)
        if problem:
            table.fail(problem, f"thresholds.{check}")
    est_time = table.positive("est-time", float) if "est-time" in table else None
    ranks = table.get("occupancy-ranks", str, OCCUPANCY_RANKS[0])
    if ranks not in OCCUPANCY_RANKS:
        table.fail(
            f"expected one of {', '.join(OCCUPANCY_RANKS)}, got {ranks!r}", "occupancy-ranks"
        )
    return Suite(
        name=name,
        description=table.get("description", str, ""),
        deployment=deployment,
        axes=axes,
        score=score,
        checks=checks,
        eval=read_eval(table, CHECKS[score].eval_defaults if score else None, None),
        thresholds=thresholds,
        verify=_read_verify(table),
        est_time=est_time,
        comparators=comparators,
        occupancy_ranks=ranks,
        sglang_steps=_read_sglang_steps(table),
    )


# The runner's steps between launch and suite that an SGLang test may also take.
SGLANG_STEPS = ("flush", "server-info")


def _read_sglang_steps(table: Table) -> tuple[str, ...]:
    steps = table.string_list("sglang-steps")
    for index, step in enumerate(steps):
        if step not in SGLANG_STEPS:
            table.fail(f"unknown step {step!r}; expected one of {', '.join(SGLANG_STEPS)}"
                       f"{suggestion(step, SGLANG_STEPS)}", f"sglang-steps[{index}]")  # fmt: skip
    return steps


def _read_verify(table: Table) -> tuple[str, ...]:
    flags = table.string_list("verify")
    for index, flag in enumerate(flags):
        problem = flag_problem(flag)
        if problem and flag not in ("model-path", "disaggregation-mode"):
            table.fail(problem, f"verify[{index}]")
    return flags


def read_eval(
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


def read_thresholds(table: Table, allowed: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    """``thresholds = { gsm8k = 0.65 }``, or a value derived as SGLang's test derives it:
    ``{ observed = [0.445, 0.440], margin = 0.03 }`` is ``min(observed) - margin`` in
    floating point (config.derived)."""
    return tuple((check, value) for check, value, _ in read_threshold_rows(table, allowed))


def read_threshold_rows(
    table: Table, allowed: tuple[str, ...]
) -> tuple[tuple[str, float, Derived | None], ...]:
    """Each threshold with how it was derived (None: typed as a number)."""
    if "thresholds" not in table:
        return ()
    values = table.child("thresholds", allowed=allowed)
    result = []
    for check in values.data:
        derived = None
        if isinstance(values.data[check], dict):
            derived = read_derived(values.child(check, allowed=DERIVED_KEYS,
                                                required=DERIVED_KEYS))  # fmt: skip
            value = derived.value
        else:
            value = values.need(check, float)
        spec = CHECKS[check]
        if value < spec.low or (spec.high is not None and value > spec.high):
            values.fail(f"{value:g} is outside {check}'s range {spec.range_text()}", check)
        result.append((check, value, derived))
    return tuple(result)


def read_comparators(table: Table, allowed: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """``comparators = { gsm8k = ">" }``: how a check compares where the SGLang test this
    suite or job reproduces differs from the check's default (``checks.CHECKS``)."""
    if "comparators" not in table:
        return ()
    values = table.child("comparators", allowed=allowed)
    result = []
    for check in values.data:
        comparator = values.need(check, str)
        if comparator not in COMPARATORS:
            values.fail(
                f"unknown comparator {comparator!r}; expected one of "
                + ", ".join(f'"{known}"' for known in COMPARATORS),
                check,
            )
        result.append((check, comparator))
    return tuple(result)
