"""The options of a run, declared once: default, help, validation and the argv that
reproduces them. The CLI builds its parser from these declarations, and the nox
sessions parse what follows ``--`` with the same declarations (as nox declares each
option once in ``_option_set.py``), so no option is known in two places.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sglang_ci.config.errors import UsageError
from sglang_ci.config.registered_env import TIMEOUT_PER_FILE_S
from sglang_ci.config.schema import MAX_SECONDS, StagePolicy
from sglang_ci.config.text import number
from sglang_ci.engines.registry import DEFAULT_ENGINE, ENGINES, engine
from sglang_ci.evals.defaults import SGLANG_REQUEST_TIMEOUT_S
from sglang_ci.plan.partition import parse_partition
from sglang_ci.plan.policy import RunPolicy, resolve
from sglang_ci.results.job_folder import KEEP_EARLIER

DEFAULT_RESULTS = "results"

Check = Callable[[Any], str | None]


def positive_seconds(value: float | None) -> str | None:
    if value is None or (math.isfinite(value) and 0 < value <= MAX_SECONDS):
        return None
    if math.isfinite(value) and value > 0:
        return f"must be at most {MAX_SECONDS} seconds (7 days), got {value:g}"
    return f"must be a positive number of seconds, got {value:g}"


def at_least_one(value: int | None) -> str | None:
    return None if value is None or value >= 1 else f"must be 1 or more, got {value}"


def zero_or_more(value: float | None) -> str | None:
    if value is None or (math.isfinite(value) and 0 <= value <= MAX_SECONDS):
        return None
    if math.isfinite(value) and value > 0:
        return f"must be at most {MAX_SECONDS} seconds (7 days), got {value:g}"
    return f"must be 0 or more seconds, got {value:g}"


def a_folder(value: str) -> str | None:
    return None if value.strip() else "must name a folder (an empty path would write here)"


def option(
    default: Any, help: str, *, metavar: str | None = None, choices: Sequence[str] = (),
    check: Check | None = None,
) -> Any:  # fmt: skip
    """A dataclass field that also carries its command-line declaration."""
    meta = {"help": help, "metavar": metavar, "choices": tuple(choices), "check": check}
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class LaunchOptions:
    """What every command that launches servers accepts."""

    engine: str = option(
        DEFAULT_ENGINE,
        "sglang (default, needs GPUs) or stub (the protocol stand-in, for rehearsals)",
        choices=tuple(ENGINES),
    )  # fmt: skip
    results: str = option(
        DEFAULT_RESULTS, f"results folder; each job writes DIR/<job>/ (default: {DEFAULT_RESULTS})",
        metavar="DIR", check=a_folder,
    )  # fmt: skip
    keep_earlier: int = option(
        KEEP_EARLIER, "earlier runs of a job kept as DIR/<job>-earlier-*; older ones are"
        f" deleted, each named (default: {KEEP_EARLIER})", metavar="N", check=at_least_one,
    )  # fmt: skip
    launch_timeout: float | None = option(
        None, "how long a server may take to become ready (default: the job's launch-timeout,"
        " as its SGLang test waits, else 600; stub: 60)",
        metavar="SECONDS", check=positive_seconds,
    )  # fmt: skip
    request_timeout: float = option(
        SGLANG_REQUEST_TIMEOUT_S, "how long one request to a server may take (default:"
        " SGLang's eval client's 3600)",
        metavar="SECONDS", check=positive_seconds,
    )  # fmt: skip
    sglang_sequence: bool = option(
        False, "run SGLang's sequence exactly: none of the runner's improvements (the smoke"
        " /generate, a cache flush and /server_info read where the SGLang test takes neither,"
        " connection retries of those requests and the suites'); see README"
        " 'Improvements over SGLang's sequence'",
    )  # fmt: skip

    def ready_within(self, job_launch_timeout: float) -> float:
        """The command line's launch timeout, else the engine's for this job: SGLang waits
        as long as each job's test does (Job.launch_timeout), the stub a minute."""
        if self.launch_timeout:
            return self.launch_timeout
        return engine(self.engine).ready_within(job_launch_timeout)


@dataclasses.dataclass(frozen=True)
class PolicyOptions:
    """How jobs run (plan.policy): what `plan` and `matrix` show and `job`/`run` do."""

    enable_retry: bool = option(
        False,
        "retry a job whose failure is retriable (accuracy or check assertions, time"
        " limits; never crashes, OOM, import or config errors), as run_suite.py"
        " --enable-retry (default: the stage's enable-retry, off as in SGLang's PR CI)",
    )
    max_attempts: int | None = option(
        None, "attempts of a job with retries on, the first included (default: the stage's,"
        " else 2)", metavar="N", check=at_least_one,
    )  # fmt: skip
    retry_wait: float | None = option(
        None, "seconds between attempts (default: the stage's, else 60)", metavar="SECONDS",
        check=zero_or_more,
    )  # fmt: skip
    retry_timeout_increase: float | None = option(
        None, "seconds added to the time limit with retries on (default: the stage's, else"
        " 600)", metavar="SECONDS", check=zero_or_more,
    )  # fmt: skip
    timeout: float | None = option(
        None, "a job's time limit, run_suite.py's --timeout-per-file (default: the stage's"
        f" timeout-per-job, else {number(TIMEOUT_PER_FILE_S)})", metavar="SECONDS",
        check=positive_seconds,
    )  # fmt: skip
    continue_on_error: bool = option(
        False,
        "run the remaining jobs after a failure (default: the stage's; scheduled CI"
        " runs set it); without it the first failure stops the run and the rest are skipped",
    )

    def policy(self, stage: StagePolicy) -> RunPolicy:
        """Attempts, time limit, wait and fail-fast of a job of ``stage`` in this run."""
        return resolve(
            stage, timeout=self.timeout, enable_retry=self.enable_retry,
            max_attempts=self.max_attempts, retry_wait=self.retry_wait,
            retry_timeout_increase=self.retry_timeout_increase,
            continue_on_error=self.continue_on_error,
        )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class RunOptions(LaunchOptions, PolicyOptions):
    """Options of `job` and `run`, and what a job or stage session takes after ``--``."""

    dry_run: bool = option(False, "print the resolved commands, env, endpoints and eval plan;"
                           " start nothing")  # fmt: skip


def a_partition(value: str | None) -> str | None:
    if value is not None:
        parse_partition(value)  # its own one-line error
    return None


@dataclasses.dataclass(frozen=True)
class StageOptions(RunOptions):
    """Options of `run`, the stage sessions and the demo: a stage, or one CI job of it."""

    stage: str | None = option(None, "the stage to run (a stage session names its own)",
                               metavar="NAME")  # fmt: skip
    partition: str | None = option(None, "the CI job to reproduce, e.g. 2/4", metavar="K/N",
                                   check=a_partition)  # fmt: skip
    durations: str | None = option(
        None, "measured durations {id: seconds} (default: durations.json beside stages.toml)",
        metavar="FILE",
    )  # fmt: skip
    gpus: int | None = option(
        None, "a packed stage's GPUs as N stand-ins (stub rehearsals only; the real engine"
        " uses the runner's own)", metavar="N", check=at_least_one,
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class CalibrateOptions(LaunchOptions):
    """Options of `calibrate`, and what a calibrate session takes after ``--``."""

    runs: int = option(20, "how many evals (default 20)", check=at_least_one)
    dry_run: bool = option(False, "print the job's launch plan and the calibration's runs;"
                           " start nothing")  # fmt: skip
    relaunch: bool = option(
        False, "a fresh server launch per run (default: one launch, cache flushed between runs)"
    )
    write: bool = option(
        False, "record the runs in baselines.toml beside stages.toml (comments are kept)"
    )


@dataclasses.dataclass(frozen=True)
class RunFileOptions:
    """What `run-file` accepts after the checkout and the file."""

    timeout: float = option(
        TIMEOUT_PER_FILE_S, "per-file time limit in seconds (run_suite's --timeout-per-file;"
        f" default {number(TIMEOUT_PER_FILE_S)})", metavar="SECONDS", check=positive_seconds,
    )  # fmt: skip
    results: str = option(
        DEFAULT_RESULTS, f"where <file>/result.json and output.log go (default: {DEFAULT_RESULTS})",
        metavar="DIR", check=a_folder,
    )  # fmt: skip
    suite: str | None = option(
        None, "the suite the file runs in (base-a turns off SGLANG_ENABLE_ASYNC_ASSERT, as the"
        " stage workflow does)",
    )  # fmt: skip
    no_ci_env: bool = option(
        False, "this shell's environment alone, without the stage workflow's"
        " SGLANG_IS_IN_CI=true and the rest",
    )  # fmt: skip


Options = TypeVar(
    "Options", PolicyOptions, RunOptions, StageOptions, CalibrateOptions, RunFileOptions
)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, kind: type[object]) -> None:
    """Declare every field of ``kind`` on ``parser``."""
    for field in dataclasses.fields(kind):  # type: ignore[arg-type]
        meta = field.metadata
        if field.type in (bool, "bool"):
            parser.add_argument(_flag(field.name), action="store_true", help=meta["help"])
            continue
        annotation = str(field.type)
        convert = int if annotation.startswith("int") else (
            float if annotation.startswith("float") else str)  # fmt: skip
        parser.add_argument(
            _flag(field.name), type=convert, default=field.default, help=meta["help"],
            metavar=meta["metavar"], choices=meta["choices"] or None,
        )  # fmt: skip


def from_namespace(kind: type[Options], namespace: argparse.Namespace) -> Options:
    """The options of ``kind`` found in ``namespace``, validated (one line, exit 2)."""
    values = {f.name: getattr(namespace, f.name) for f in dataclasses.fields(kind)}
    options = kind(**values)
    validate(options)
    return options


def validate(options: object) -> None:
    for field in dataclasses.fields(options):  # type: ignore[arg-type]
        check = field.metadata.get("check")
        problem = check(getattr(options, field.name)) if check else None
        if problem:
            raise UsageError(f"{_flag(field.name)} {problem}")


class OneLineParser(argparse.ArgumentParser):
    """argparse that raises a one-line UsageError instead of printing its usage and
    exiting: bad input is one line, exit 2, everywhere (``--help`` still prints it all)."""

    def error(self, message: str) -> Any:
        raise UsageError(f"{self.prog}: {message}")


def options_help(kind: type[Options], prog: str) -> str:
    """What ``--help`` after a session's ``--`` prints: the options of ``kind``."""
    parser = argparse.ArgumentParser(prog=prog, add_help=False, allow_abbrev=False,
                                     description=kind.__doc__)  # fmt: skip
    add_arguments(parser, kind)
    return parser.format_help()


def parse(kind: type[Options], argv: Sequence[str], prog: str) -> Options:
    """Options of ``kind`` from an argv (what a nox session got after ``--``)."""
    parser = OneLineParser(prog=prog, add_help=False, allow_abbrev=False)
    add_arguments(parser, kind)
    return from_namespace(kind, parser.parse_args(list(argv)))


def to_argv(options: LaunchOptions) -> list[str]:
    """The flags that reproduce ``options`` (defaults left out)."""
    argv: list[str] = []
    for field in dataclasses.fields(options):
        value = getattr(options, field.name)
        if value == field.default:
            continue
        argv += [_flag(field.name)] if value is True else [_flag(field.name), str(value)]
    return argv
