"""The shape of a loaded stages.toml: frozen dataclasses and their small derived values.

Nothing here reads TOML or checks a rule: ``reader`` and ``jobs`` build these from the
file, ``rules`` checks them against each other, and ``model`` is the entry that does all
of it. Every other package takes a Config or a Job from here, never a raw table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from sglang_ci.config.axes import Params, normalize_signature, signature_suggestion
from sglang_ci.config.baselines import Baseline
from sglang_ci.config.checks import CHECKS, EvalOptions
from sglang_ci.config.deployment import Deployment, Env
from sglang_ci.config.errors import UsageError
from sglang_ci.config.registered_env import TIMEOUT_PER_FILE_S
from sglang_ci.config.releases import FlagRename, spelled_for
from sglang_ci.config.server_args import Args, lookup
from sglang_ci.config.text import number
from sglang_ci.config.toml_reader import suggestion


@dataclass(frozen=True)
class Role:
    name: str
    args: Args
    env: Env


# How a PD model's router starts: "mini-lb" is SGLang's PD fixture (sglang_router's Python
# MiniLoadBalancer); "rust" is sglang-router's Rust router, our labelled option.
PD_ROUTERS = ("mini-lb", "rust")


@dataclass(frozen=True)
class Model:
    alias: str
    model_path: str
    args: Args
    env: Env
    roles: tuple[Role, ...]
    description: str = ""
    pd_router: str = PD_ROUTERS[0]
    # The oldest SGLang release the model's features need ("" = any): the contract checks
    # its jobs only against releases at least this new.
    min_sglang: str = ""

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
    # Only the checks whose SGLang test compares differently from the check's default.
    comparators: tuple[tuple[str, str], ...] = ()
    occupancy_ranks: str = "min"  # reader.OCCUPANCY_RANKS
    # Which of the runner's steps before the suite its SGLang tests take too ("flush",
    # "server-info"): under --sglang-sequence only these run (reader.SGLANG_STEPS).
    sglang_steps: tuple[str, ...] = ()

    @property
    def checks_scored(self) -> tuple[str, ...]:
        """The score (if any), then the checks: every check a threshold may name."""
        return (self.score, *self.checks) if self.score else self.checks


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
    # Every check in ``thresholds``: how its value is compared (">" or ">="), resolved
    # from the job, its suite and the check's default, in that order.
    comparators: tuple[tuple[str, str], ...] = ()
    # Set only when loaded leniently (calibrate, the noxfile): the error this job would
    # raise for a score without a threshold. Such a job can be calibrated, not run.
    missing_threshold: str = ""
    # The job's own min-sglang, else its model's ("" = any release).
    min_sglang: str = ""
    # One line per renamed flag the job passes: the spelling used and for which release.
    renamed_flags: tuple[str, ...] = ()
    # Thresholds SGLang's test derives, with the derivation (config.derived):
    # ``("gsm8k", "min(0.445, 0.44) - 0.03 = 0.41000000000000003")``.
    threshold_derivations: tuple[tuple[str, str], ...] = ()
    # Seconds a server may take to become ready: the ``timeout=`` the job's SGLang test
    # passes to popen_launch_server (DEFAULT_TIMEOUT_FOR_SERVER_LAUNCH, 600 s, or a
    # multiple of it).
    launch_timeout: float = 600.0
    # The SGLang test file the job reproduces (``sglang-file``): jobs of one file share
    # one time limit, in the file's order, as run_suite.py limits a file.
    sglang_file: str = ""
    # How often a failing test of the job's suite is tried again, as SGLang's
    # CustomTestCase retries a test method in CI (1); 0 where the SGLang test loops over
    # subTests under ``-f``, which a retry cannot rescue.
    test_retries: int = 1
    # Its stage's SGLang suite name (Stage.sglang_suite), carried into its result.json.
    sglang_suite: str = ""

    @property
    def gpus(self) -> int:
        return self.deployment.gpus

    def spelt_for(self, renames: tuple[FlagRename, ...], release: str | None) -> Job:
        """The job with every renamed flag it passes or verifies spelt as ``release``
        knows it (as written when the release is unknown), and a note on each."""
        flags = {flag for server in self.deployment.servers for flag, _ in server.args}
        used = [r for r in renames if {r.old, r.new} & flags]
        if not used:
            return self
        notes = []
        for rename in used:
            if release:
                shown = f"--{rename.spelling(release)}, spelt for the installed sglang {release}"
            else:
                written = rename.old if rename.old in flags else rename.new
                shown = f"--{written} as written (no SGLang release installed here)"
            notes.append(f"{shown}; SGLang spells it --{rename.old} before {rename.since},"
                         f" --{rename.new} from {rename.since} on")  # fmt: skip
        servers = tuple(
            replace(server, args=spelled_for(server.args, used, release))
            for server in self.deployment.servers
        )
        verify = spelled_for(tuple((flag, True) for flag in self.suite.verify), used, release)
        return replace(
            self,
            deployment=replace(self.deployment, servers=servers),
            suite=replace(self.suite, verify=tuple(flag for flag, _ in verify)),
            renamed_flags=tuple(notes),
        )

    def threshold(self, check: str) -> float | None:
        return dict(self.thresholds).get(check)

    def comparator(self, check: str) -> str:
        return dict(self.comparators).get(check) or CHECKS[check].comparator

    def pass_when(self, check: str) -> str:
        """``> 0.95``: the check's comparator and threshold as every report prints them."""
        threshold = self.threshold(check)
        return "" if threshold is None else f"{self.comparator(check)} {number(threshold)}"

    @property
    def launch_key(self) -> str:
        """Equal for jobs whose servers start identically (model, args, env per role):
        such jobs can run against one launch."""
        servers = tuple((s.role, s.args, s.env) for s in self.deployment.servers)
        return repr((self.deployment.model_path, servers, self.model.pd_router))

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


# The longest time limit, wait or timeout anything accepts: threading's waits refuse more
# than TIMEOUT_MAX (about 292 years) with an OverflowError; no CI job runs a week.
MAX_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class StagePolicy:
    """How a stage's jobs run, as SGLang's CI runs a suite (test/run_suite.py and
    ci_utils.run_unittest_files @ 6ed5780c4f); every value a stage may set in
    stages.toml, defaults SGLang's."""

    # run_suite.py --timeout-per-file (default 1200 s); pr-test.yml passes 1800 to some
    # stages (timeout_per_file).
    timeout_per_job: float = TIMEOUT_PER_FILE_S
    # --enable-retry is off: _pr-test-stage.yml never passes it, so CUDA PR CI runs each
    # file once. The rest applies only with retries on: --max-attempts 2,
    # --retry-wait-seconds 60, --retry-timeout-increase 600.
    enable_retry: bool = False
    max_attempts: int = 2
    retry_wait: float = 60.0
    retry_timeout_increase: float = 600.0
    # --continue-on-error: off on PRs (stop at the first failing job), on for
    # scheduled runs (_pr-test-check-changes.yml set-continue-on-error).
    continue_on_error: bool = False
    # A pinned shard count (compute_partitions.py _BASE_A_OVERRIDES: base-a is 1 shard,
    # max_parallel = size); None = sized from the stage timeout.
    partitions: int | None = None
    # compute_partitions.py's per-suite fit of wall time on est time (default 1, 0).
    fit_coeff: float = 1.0
    fit_bias: float = 0.0
    # Ours, off by default (SGLang runs a runner's files one at a time): ``pack = true``
    # runs the stage's jobs side by side on disjoint GPUs of one runner (run.packed),
    # ``pack = N`` at most N at once. ``pack-fail-fast = "end"`` ends running jobs at the
    # first failure instead of letting them finish.
    packed: bool = False
    max_concurrent: int | None = None
    pack_ends_running: bool = False


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
    policy: StagePolicy = StagePolicy()
    # The registered SGLang files this stage runs after its jobs (``registered = {...}``),
    # by id (the file's path in the checkout), and where they come from.
    files: tuple[str, ...] = ()
    registered: RegisteredSource | None = None
    # SGLang's name of the suite this stage runs (ci_register.py: f"{stage}-test-
    # {runner_config}"), shown beside ours so a job can be found on SGLang's dashboards.
    sglang_suite: str = ""

    @property
    def units(self) -> tuple[str, ...]:
        """Everything the stage runs, in order: its jobs, then its files."""
        return (*self.jobs, *self.files)


@dataclass(frozen=True)
class RegisteredSource:
    """A stage's ``registered = { suite, checkout, nightly }``: SGLang's own files."""

    suite: str
    checkout: Path
    nightly: bool
    disabled: int  # the suite's files registered with disabled=..., left out


@dataclass(frozen=True)
class FileJob:
    """One registered SGLang test file, run as run_suite.py runs it (``run-file``)."""

    id: str  # the path relative to the checkout, e.g. test/registered/core/test_x.py
    stage: str
    suite: str
    checkout: Path
    est_time: float
    gpus: int  # the stage's: the file picks its GPUs itself

    @property
    def session(self) -> str:
        """Its nox session, in the signature form of the jobs' sessions."""
        return file_session(self.id)

    @property
    def sglang_suite(self) -> str:
        """SGLang's name of the suite it is registered in, as a job carries its stage's."""
        return self.suite


# ``file(path='test/registered/x.py')`` with either quote, spaces as nox allows them.
_FILE_SESSION = re.compile(r"\s*file\(\s*path\s*=\s*(['\"])(.*)\1\s*\)\s*")


def unit_of_session(name: str) -> str:
    """A registered file's id from its session name; any other name as it is."""
    session = _FILE_SESSION.fullmatch(name)
    return session.group(2) if session else name.strip()


def file_session(path: str) -> str:
    return f"file(path={path!r})"


@dataclass(frozen=True)
class Config:
    source: Path
    models: Mapping[str, Model]
    suites: Mapping[str, Suite]
    stages: Mapping[str, Stage]
    jobs: Mapping[str, Job] = field(default_factory=dict)
    files: Mapping[str, FileJob] = field(default_factory=dict)
    # [renamed-flags]: each job already carries the installed release's spelling.
    renamed_flags: tuple[FlagRename, ...] = ()

    def find_job(self, text: str) -> Job:
        """A job by its session signature, matched as nox matches (spacing, quotes)."""
        wanted = normalize_signature(text)
        for job in self.jobs.values():
            if normalize_signature(job.id) == wanted:
                return job
        raise UsageError(
            f"no job {text!r} in {self.source}.{signature_suggestion(text, list(self.jobs))}"
            " List the jobs with: python -m sglang_ci list"
        )

    def find_unit(self, text: str) -> str:
        """A job's id, or a registered file's, from its id or its nox session name."""
        path = unit_of_session(text)
        if path in self.files:
            return path
        if not self.files:
            return self.find_job(text).id
        try:
            return self.find_job(text).id
        except UsageError:
            hint = signature_suggestion(path, [*self.jobs, *self.files])
            raise UsageError(
                f"no job or registered file {text!r} in {self.source}.{hint}"
                " List them with: python -m sglang_ci list"
            ) from None

    def stage_jobs(self, stage: str) -> list[Job]:
        if stage not in self.stages:
            raise UsageError(
                f"no stage {stage!r} in {self.source}.{suggestion(stage, self.stages)}"
            )
        return [self.jobs[job_id] for job_id in self.stages[stage].jobs]

    def stage_files(self, stage: str) -> list[FileJob]:
        self.stage_jobs(stage)  # an unknown stage is the same one-line error
        return [self.files[file_id] for file_id in self.stages[stage].files]

    def unit(self, unit: str) -> Job | FileJob:
        """One of a stage's units by its id: a registered file's, else a job's."""
        return self.files[unit] if unit in self.files else self.jobs[unit]

    def session_of(self, unit: str) -> str:
        """The nox session that runs one of a stage's units (a job id or a file id)."""
        return self.files[unit].session if unit in self.files else unit

    def seconds_of(self, unit: str, measured: Mapping[str, float]) -> float:
        """A unit's planned seconds: measured where known, else its est-time."""
        return measured.get(unit, self.unit(unit).est_time)
