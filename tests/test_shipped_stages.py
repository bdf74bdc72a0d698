"""Every assertion about the shipped stages.toml (the project's own, at the repository
root), in this one file: a change to that file breaks these tests and no other.

Every other test reads the tests' fixture config (tests/fixtures/stages.toml): a command
given no --config reads it too (tests/conftest.py), and the last section here fails when a
test file but this one (and README's example, run on the shipped file by design) names
the shipped file. The shipped file is read through the ``shipped`` fixture, never at
import: a broken stages.toml fails these tests, not the collection of the suite.

SGLang's side of each comparison (the server commands, environments, floors and
registrations of the seed tests, each cited with its commit) is plain data in
tests/shipped_expectations.py.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from sglang_ci.cli import main_exit_code
from sglang_ci.config.checks import passes
from sglang_ci.config.model import load_config
from sglang_ci.config.schema import Config, Job
from sglang_ci.plan.commands import (
    HOST,
    env_added,
    ib_device,
    router_command,
    server_command,
    url,
)
from sglang_ci.plan.github_matrix import plan_stage
from sglang_ci.plan.policy import resolve
from sglang_ci.plan.workflow_file import WORKFLOW_PATH, current_pins, render_workflow
from tests.config.test_ci_semantics import sglang_size
from tests.config.test_renamed_flags import SPELLINGS
from tests.conftest import ROOT
from tests.plan.test_ci_plan import write_result
from tests.plan.test_report_workflow_input import report, workflow_needs
from tests.plan.test_seed_pd import flags
from tests.shipped_expectations import (
    COMPARATORS,
    DECODE_ARGS,
    FILE_EST_TIME,
    G26,
    G31,
    LAUNCH_TIMEOUTS,
    LB_ARGV,
    LLAMA,
    PD_JOB,
    PD_MODEL,
    PREFILL_ARGS,
    ROUTER_ENV,
    RUNS_ON,
    SANITY,
    SANITY_ENV,
    SANITY_JOBS,
    SEEDS,
    SERVER_ENV,
    SGLANG_SUITES,
    STANDALONE,
    TEST_RETRIES,
    TIME_LIMITS,
    Seed,
)

SHIPPED = ROOT / "stages.toml"
WORKFLOW = ROOT / WORKFLOW_PATH


@pytest.fixture(scope="module")
def shipped() -> Config:
    """The shipped stages.toml, with its baselines.toml, read when a test first asks."""
    return load_config(str(SHIPPED), {}, ROOT)


def shipped_as(release: str | None) -> Config:
    """The shipped file with its renamed flags spelt for ``release``."""
    return load_config(str(SHIPPED), {}, ROOT, sglang_release=release)


# ================================================================== the file itself


def test_shipped_config_has_every_seed_system(shipped: Config) -> None:
    """Valid, with every seed's job, in its stage, on its GPUs, at its floor."""
    assert set(shipped.stages) >= {"base-b", "extra-a", "extra-a-test-1-gpu-large",
                                   "stage-c-dsv4"}  # fmt: skip
    standalone = "extra-a-test-1-gpu-large"  # SGLang's runner_config "1-gpu-large"
    expected = {
        "spec(model='gemma4-31b', topk=3)": ("extra-a", 2, 0.775),
        # The seed's shared floor, derived in floating point as its test derives it.
        "spec(model='gemma4-26b-a4b', topk=1)": ("extra-a", 2, min(0.445, 0.440) - 0.03),
        "spec(model='gemma4-26b-a4b', topk=3)": ("extra-a", 2, min(0.445, 0.440) - 0.03),
        "spec(model='gemma4-e4b-frozen-kv', topk=3)": ("base-b", 1, 0.65),
        "spec(model='llama-standalone', topk=2)": (standalone, 1, 0.69),
        "spec(model='llama-standalone', topk=2, backend='flashinfer')": (standalone, 1, 0.69),
        "spec(model='llama-standalone', topk=2, backend='fa3')": (standalone, 1, 0.69),
        "disagg(model='dsv4-flash')": ("stage-c-dsv4", 8, 0.95),
    }
    for job_id, (stage, gpus, threshold) in expected.items():
        job = shipped.jobs[job_id]
        score = job.suite.score
        assert (job.stage, job.gpus, job.threshold(score or "")) == (stage, gpus, threshold)
    sanity = shipped.jobs["sanity(model='llama-eagle3')"]
    assert sanity.threshold("fwd-occupancy") == 97.0
    assert sanity.threshold("accept-length") == 1.8
    # accept-length only applies to speculative models.
    assert shipped.jobs["sanity(model='llama3-8b')"].threshold("accept-length") is None


# ================================================================== speculative seeds


def flag_groups(argv: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """``--a 1 --b`` -> [("--a", ("1",)), ("--b", ())]: how argparse sees the flags."""
    groups: list[tuple[str, tuple[str, ...]]] = []
    for token in argv:
        if token.startswith("--"):
            groups.append((token, ()))
        else:
            assert groups, f"value {token!r} before any flag"
            flag, values = groups[-1]
            groups[-1] = (flag, (*values, token))
    return groups


def server_argv(job: Job) -> list[str]:
    (server,) = job.deployment.servers
    return server_command("python", "sglang", job.deployment, server, "PORT")


@pytest.mark.parametrize("seed", SEEDS, ids=[seed.job for seed in SEEDS])
def test_server_command_is_the_seed_tests(shipped: Config, seed: Seed) -> None:
    job = shipped.jobs[seed.job]
    argv = server_argv(job)
    # popen_launch_server at the seed commits: `sglang serve --model-path M <other_args>
    # --device cuda --host H --port P` (device "auto" is cuda on NVIDIA GPUs).
    head = ["sglang", "serve", "--model-path", seed.model_path]
    assert argv[: len(head)] == head
    assert argv[-6:] == ["--device", "cuda", "--host", HOST, "--port", "PORT"]
    ours = flag_groups(argv[len(head) : -6])
    theirs = flag_groups(seed.other_args)
    assert len({flag for flag, _ in ours}) == len(ours), "a flag given twice"
    assert sorted(ours) == sorted(theirs), seed.source


@pytest.mark.parametrize("seed", SEEDS, ids=[seed.job for seed in SEEDS])
def test_server_env_is_the_seed_tests(shipped: Config, seed: Seed) -> None:
    (server,) = shipped.jobs[seed.job].deployment.servers
    assert dict(server.env) == seed.env, seed.source


@pytest.mark.parametrize("seed", SEEDS, ids=[seed.job for seed in SEEDS])
def test_checks_eval_and_registration_are_the_seed_tests(shipped: Config, seed: Seed) -> None:
    job = shipped.jobs[seed.job]
    stage = shipped.stages[job.stage]
    assert (job.threshold("gsm8k"), job.threshold("accept-length")) == (
        seed.gsm8k,
        seed.accept_length,
    ), seed.source
    assert job.eval == seed.eval
    assert (job.stage, stage.runner, stage.gpus, job.gpus) == (
        seed.stage,
        RUNS_ON[seed.runner_config],
        seed.gpus,
        seed.gpus,
    )
    assert job.est_time == seed.est_time


def test_est_times_sum_to_each_files_registration(shipped: Config) -> None:
    totals = dict.fromkeys(FILE_EST_TIME, 0.0)
    for seed in SEEDS:
        totals[seed.source] += shipped.jobs[seed.job].est_time
    assert totals == FILE_EST_TIME


def test_26b_topks_share_the_seeds_threshold(shipped: Config) -> None:
    """test_gemma4_mtp_26b_a4b_extra.py @ 621a79728c: one GSM8K_SCORE_THRESHOLD for both
    topks, min(0.445, 0.440) - 0.03, derived in floating point as the test derives it
    (0.41000000000000003, not the 0.41 the recorded runs' rounding rule gives); the runs
    stay as evidence."""
    topk1 = shipped.jobs[G26.format(1)]
    topk3 = shipped.jobs[G26.format(3)]
    assert (topk1.threshold_origin, topk3.threshold_origin) == ("pinned", "pinned")
    for job in (topk1, topk3):
        assert dict(job.threshold_derivations)["gsm8k"] == (
            "min(0.445, 0.44) - 0.03 = 0.41000000000000003"
        )
    assert topk1.baseline is not None and min(topk1.baseline.scores) == 0.445
    assert topk3.baseline is not None and min(topk3.baseline.scores) == 0.440


def test_26b_floor_is_the_float_sglang_compares_with(shipped: Config) -> None:
    """GSM8K_SCORE_THRESHOLD = min({1: 0.445, 3: 0.440}.values()) - 0.03 with
    assertGreaterEqual (621a79728c): 82/200 = 0.41 fails there, so it fails here."""
    sglang_floor = min({1: 0.445, 3: 0.440}.values()) - 0.03
    for topk in (1, 3):
        job = shipped.jobs[G26.format(topk)]
        assert job.threshold("gsm8k") == sglang_floor
        assert job.comparator("gsm8k") == ">="
        assert not passes(82 / 200, job.comparator("gsm8k"), job.threshold("gsm8k") or 0)
        assert passes(83 / 200, job.comparator("gsm8k"), job.threshold("gsm8k") or 0)
    for topk in (1, 3):  # test_gemma4_mtp_31b_extra.py @ 9040feebd8: {1: 0.805, 3: 0.805}
        assert shipped.jobs[G31.format(topk)].threshold("gsm8k") == 0.805 - 0.03


@pytest.mark.parametrize("stage", sorted({seed.stage for seed in SEEDS}))
def test_plan_shows_the_seed_commands(
    shipped: Config, stage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main_exit_code(["plan", "--stage", stage, "--config", str(SHIPPED)]) == 0
    out = capsys.readouterr().out
    for seed in (seed for seed in SEEDS if seed.stage == stage):
        line = shlex.join(server_argv(shipped.jobs[seed.job])).replace("PORT", "SERVER_PORT")
        assert seed.job in out and line in out


# ================================================================== the PD seed


@pytest.mark.parametrize(("role", "expected"), [("prefill", PREFILL_ARGS), ("decode", DECODE_ARGS)])
def test_pd_server_command_is_the_fixtures(
    shipped: Config, role: str, expected: dict[str, str]
) -> None:
    job = shipped.find_job(PD_JOB)
    (server,) = [s for s in job.deployment.servers if s.role == role]
    devices = ib_device({"SGLANG_CI_IB_DEVICE": "mlx5_0,mlx5_4"})
    argv = server_command("python3", "sglang", job.deployment, server, "PORT", "BOOTSTRAP", devices)
    assert argv[:5] == ["python3", "-m", "sglang.launch_server", "--model-path", PD_MODEL]
    assert flags(argv[5:]) == expected
    assert argv[-4:] == ["--host", "127.0.0.1", "--port", "PORT"]


def test_pd_env_of_each_process(shipped: Config) -> None:
    job = shipped.find_job(PD_JOB)
    for server in job.deployment.servers:
        assert env_added(job.deployment, server) == SERVER_ENV
    assert env_added(job.deployment) == ROUTER_ENV


def test_pd_router_is_launch_lb(shipped: Config) -> None:
    job = shipped.find_job(PD_JOB)
    assert job.model.pd_router == "mini-lb"
    argv = router_command(
        "python3", job.model.pd_router, url(30100), 30500, url(30200), 30000, None
    )
    assert argv == ["python3", *LB_ARGV]


# ================================================================== the sanity seed


@pytest.mark.parametrize("job_id", SANITY_JOBS)
def test_sanity_server_command_and_env_are_sglangs(shipped: Config, job_id: str) -> None:
    args, est_time, occupancy, accept = SANITY_JOBS[job_id]
    job = shipped.find_job(job_id)
    (server,) = job.deployment.servers
    argv = server_command("python", "sglang", job.deployment, server, "PORT")
    # popen_launch_server @ 1bd4f94598: sglang serve ... --device cuda --host H --port P.
    assert argv[:4] == ["sglang", "serve", "--model-path", LLAMA]
    assert argv[-6:-4] == ["--device", "cuda"]
    assert argv[4:-6] == args  # the same flags, in SGLang's order
    assert dict(server.env) == SANITY_ENV
    assert job.stage == "base-a" and job.est_time == est_time and job.gpus == 1
    assert job.threshold("fwd-occupancy") == occupancy
    assert job.threshold("accept-length") == accept
    assert job.threshold("hellaswag") == 0.60  # hellaswag_kit's threshold, not overridden
    options = job.eval
    assert options is not None  # test_programs.test_hellaswag_select: 200, 20-shot, 64 threads
    assert (options.num_examples, options.num_shots, options.threads) == (200, 20, 64)


def test_base_a_is_sglangs_stage(shipped: Config) -> None:
    stage = shipped.stages["base-a"]
    # scripts/ci/runner_configs.yml@6ed5780c4f: 1-gpu-small runs on 1-gpu-5090;
    # .github/workflows/pr-test.yml@6ed5780c4f: base-a-test-1-gpu-small run_timeout_minutes '10'.
    assert (stage.gpus, stage.runner, stage.timeout_minutes) == (1, "1-gpu-5090", 10)
    assert set(stage.jobs) == set(SANITY_JOBS)


def test_occupancy_ranks_is_the_labelled_improvement(shipped: Config) -> None:
    """ "min" (ours, labelled in stages.toml) where SGLang's kit takes "max"."""
    assert shipped.suites["sanity"].occupancy_ranks == "min"
    assert "IMPROVEMENT (not SGLang's)" in SHIPPED.read_text()


# ================================================================== how SGLang's CI runs them


def test_shipped_comparators_are_sglangs(shipped: Config) -> None:
    """Each seed job compares as its SGLang test asserts (assertGreater is ``>``,
    assertGreaterEqual ``>=``); the citations are in tests/shipped_expectations.py."""
    assert {job_id: dict(shipped.jobs[job_id].comparators) for job_id in COMPARATORS} == (
        COMPARATORS
    )


def test_shipped_stages_plan_as_sglang(shipped: Config) -> None:
    for name, stage in shipped.stages.items():
        plan = plan_stage(shipped, name, None, {})
        total = sum(job.est_time for job in shipped.stage_jobs(name))
        # base-a: compute_partitions.py _BASE_A_OVERRIDES pins it to one shard.
        want = 1 if name == "base-a" else sglang_size(total, stage.timeout_minutes)
        assert len(plan.partitions) == want, name
        assert plan.max_parallel == (want if name == "base-a" else max(want // 3, 1))


def test_shipped_stages_run_policy(shipped: Config) -> None:
    assert set(shipped.stages) == set(TIME_LIMITS)
    for name, stage in shipped.stages.items():
        policy = resolve(stage.policy)
        assert (policy.attempts, policy.time_limit, policy.fail_fast) == (
            1, TIME_LIMITS[name], True), name  # fmt: skip
        retried = resolve(stage.policy, enable_retry=True)
        assert (retried.attempts, retried.time_limit, retried.retry_wait) == (
            2, TIME_LIMITS[name] + 600, 60), name  # fmt: skip


def test_launch_timeout_is_each_tests(shipped: Config) -> None:
    assert {job_id: shipped.jobs[job_id].launch_timeout for job_id in LAUNCH_TIMEOUTS} == (
        LAUNCH_TIMEOUTS
    )


def test_per_test_retries_as_custom_test_case(shipped: Config) -> None:
    """CustomTestCase retries a test method once in CI; the Gemma and frozen-KV files loop
    over subTests inside one method under -f, which a retry cannot rescue."""
    assert {job_id: shipped.jobs[job_id].test_retries for job_id in TEST_RETRIES} == (TEST_RETRIES)


def test_sglang_steps_are_what_each_test_takes(shipped: Config) -> None:
    """The Gemma tests flush and read /server_info; sanity and DSV4 tests neither."""
    assert shipped.suites["spec"].sglang_steps == ("flush", "server-info")
    assert shipped.suites["sanity"].sglang_steps == ()
    assert shipped.suites["disagg"].sglang_steps == ()


def test_the_issues_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    """`job "spec(model='gemma4-26b-a4b', topk=1)" --dry-run`: the threshold as SGLang
    computes it, the launch timeout, and the time limit shared with topk 3."""
    assert main_exit_code(["job", G26.format(1), "--dry-run", "--config", str(SHIPPED)]) == 0
    out = capsys.readouterr().out
    assert "min(0.445, 0.44) - 0.03 = 0.41000000000000003" in out
    assert "launch timeout: 1800 s" in out
    limit = next(line for line in out.splitlines() if "time limit:" in line)
    assert "1200 s" in limit and G26.format(3) in limit
    assert "test/registered/spec/test_gemma4_mtp_26b_a4b_extra.py" in limit


def _plan_order(stage: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main_exit_code(["run", "--stage", stage, "--dry-run", "--config", str(SHIPPED)]) == 0
    lines = capsys.readouterr().out.splitlines()
    return [line for line in lines if line.startswith(("spec(", "sanity(", "disagg("))]


def test_a_stage_runs_in_run_suites_order(capsys: pytest.CaptureFixture[str]) -> None:
    """ci_register.py: a shard's files longest first (EAGLE3's 200 s before 160 s); inside
    the standalone file unittest's class order: Base (fa3), Flashinfer, Triton."""
    assert _plan_order("base-a", capsys) == list(SANITY)
    assert _plan_order("extra-a-test-1-gpu-large", capsys) == list(STANDALONE)
    # extra-a: the 26B and 31B files both 720 s: by file name, each file's topk 1 then 3.
    assert _plan_order("extra-a", capsys) == [G26.format(1), G26.format(3),
                                              G31.format(1), G31.format(3)]  # fmt: skip


def test_list_and_plan_name_sglangs_suite(capsys: pytest.CaptureFixture[str]) -> None:
    assert main_exit_code(["list", "--config", str(SHIPPED)]) == 0
    out = capsys.readouterr().out
    for ours, theirs in SGLANG_SUITES.items():
        assert f"{ours} (SGLang: {theirs})" in out
    assert main_exit_code(["plan", "--stage", "stage-c-dsv4", "--config", str(SHIPPED)]) == 0
    assert capsys.readouterr().out.startswith(
        "stage stage-c-dsv4 (SGLang: stage-c-test-dsv4-8-gpu-h200):"
    )


# ================================================================== renamed flags


@pytest.mark.parametrize(("release", "spelling"), SPELLINGS)
def test_each_release_gets_its_own_spelling_of_the_shipped_rename(
    release: str, spelling: str
) -> None:
    """The shipped [renamed-flags] is SGLang's own rename: --cuda-graph-max-bs is a
    deprecated alias of --cuda-graph-max-bs-decode from 0.5.14; the sanity seed's tests
    pass the old spelling."""
    job = shipped_as(release).jobs["sanity(model='llama3-8b')"]
    command = server_command("python", "sglang", job.deployment, job.deployment.servers[0], 1)
    assert command[command.index(f"--{spelling}") + 1] == "4"
    other = {"cuda-graph-max-bs", "cuda-graph-max-bs-decode"} - {spelling}
    assert f"--{other.pop()}" not in command


# ================================================================== the GPU workflow


def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def test_the_committed_workflow_is_what_stages_toml_generates(
    shipped: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    assert WORKFLOW.read_text() == render_workflow(shipped, current_pins(WORKFLOW.read_text()))
    assert main_exit_code(["workflow", "--check", "--config", str(SHIPPED)]) == 0
    assert "up to date" in capsys.readouterr().out


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def test_workflow_jobs_are_the_stages_of_stages_toml(shipped: Config) -> None:
    jobs = workflow()["jobs"]
    assert set(jobs) == {"gate", "plan", "report", *shipped.stages}
    assert set(jobs["plan"]["outputs"]) - {"gpu", "labels"} == {
        name.replace("-", "_") for name in shipped.stages}  # fmt: skip
    for name, stage in shipped.stages.items():
        assert set(_needs(jobs[name])) == {"plan", *stage.after}, name
        assert jobs[name]["runs-on"] == ["self-hosted", stage.runner]
        key = name.replace("-", "_")
        assert jobs[name]["strategy"]["matrix"]["include"] == (
            f"${{{{ fromJSON(needs.plan.outputs.{key}).include }}}}")  # fmt: skip
    assert set(shipped.stages) <= set(_needs(jobs["report"]))


def test_labelled_stages_run_beside_the_base_stages(shipped: Config) -> None:
    """pr-test-extra.yml @ 6ed5780c4f: its stages need only check-changes and the gate, so
    a failed base stage does not stop them (no `after`); the base stages follow each other
    as in pr-test.yml."""
    labelled = {name for name, stage in shipped.stages.items() if stage.label}
    assert labelled == {"extra-a", "extra-a-test-1-gpu-large"}
    assert all(not shipped.stages[name].after for name in labelled)
    assert shipped.stages["base-b"].after == ("base-a",)


def test_the_report_job_passes_on_the_shipped_plan(
    shipped: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report job's input as the committed workflow builds it from the shipped
    matrix: every job passed, every stage green."""
    needs = workflow_needs(capsys, "success", workflow(), SHIPPED)
    for stage in shipped.stages:
        for job in shipped.stage_jobs(stage):
            write_result(tmp_path / "results", job.id, stage, "passed")
    code = report(tmp_path, needs)
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    for stage in shipped.stages:
        jobs = len(shipped.stage_jobs(stage))
        assert f"### {stage}: {jobs}/{jobs} passed" in out


# ================================================================== who reads the shipped file

# The test files that may name the shipped file: this one, and README's partition example,
# which runs README's commands on a fresh clone's ./stages.toml by design.
MAY_READ_SHIPPED = ("tests/test_shipped_stages.py", "tests/e2e/test_readme_durations.py")
# How a test names the shipped stages.toml (or the baselines.toml beside it): a path from the
# repository root, load_config's default folder set to the root, a loop over both names,
# or undoing the fixture default that a command without --config reads (tests/conftest.py).
SHIPPED_REFERENCES = {
    "ROOT / stages.toml": r"\bROOT\s*/\s*[\"'](?:stages|baselines)\.toml[\"']",
    "ROOT.joinpath(stages.toml)": r"\bROOT\.joinpath\(\s*[\"'](?:stages|baselines)\.toml",
    "load_config(None, ..., ROOT)": r"load_config\(\s*None\s*,[^()]*\bROOT\s*[,)]",
    "ROOT / each config name": (r"for (\w+) in \(\s*[\"'](?:stages|baselines)\.toml[\"'][^)]*\)"
                                r"\s*:\s*\n[^\n]*\bROOT\s*/\s*\1\b"),
    "delenv(SGLANG_CI_CONFIG)": r"delenv\(\s*(?:CONFIG_ENV|[\"']SGLANG_CI_CONFIG[\"'])",
    "Path(stages.toml)": r"Path\(\s*[\"'](?:\./)?(?:stages|baselines)\.toml[\"']\s*\)",
}  # fmt: skip


def shipped_references(tests: Path) -> list[str]:
    """``file:line: what`` for each place under ``tests`` that names the shipped config,
    outside MAY_READ_SHIPPED."""
    found = []
    for path in sorted(tests.rglob("*.py")):
        name = path.relative_to(tests.parent).as_posix()
        if name in MAY_READ_SHIPPED:
            continue
        text = path.read_text(encoding="utf-8")
        for what, pattern in SHIPPED_REFERENCES.items():
            for match in re.finditer(pattern, text):
                found.append(f"{name}:{text.count(chr(10), 0, match.start()) + 1}: {what}")
    return found


def test_no_other_test_reads_the_shipped_config() -> None:
    found = shipped_references(ROOT / "tests")
    assert not found, (
        "only tests/test_shipped_stages.py asserts about the shipped stages.toml; read the"
        " fixture config (tests/fixtures/stages.toml, FIXTURE_TOML, write_config) instead:\n"
        + "\n".join(found)
    )


@pytest.mark.parametrize(
    "line",
    [
        "config = load_config(None, {}, ROOT)",
        'main_exit_code(["plan", "--config", str(ROOT / "stages.toml")])',
        "text = (ROOT / 'baselines.toml').read_text()",
        'path = ROOT.joinpath("stages.toml")',
        'for name in ("stages.toml", "baselines.toml"):\n    shutil.copy(ROOT / name, tmp / name)',
        "monkeypatch.delenv(CONFIG_ENV)",
        'load_config(str(Path("stages.toml")), {})',
    ],
)
def test_the_guard_sees_a_planted_reference(tmp_path: Path, line: str) -> None:
    tests = tmp_path / "tests"
    (tests / "plan").mkdir(parents=True)
    (tests / "plan" / "test_planted.py").write_text(f"x = 1\n{line}\n")
    (tests / "test_shipped_stages.py").write_text(f"{line}\n")  # the allowed file
    (tests / "plan" / "test_clean.py").write_text(
        'load_config(None, {}, FIXTURES)\npath = tmp_path / "stages.toml"\n'
    )
    (found,) = shipped_references(tests)
    assert found.startswith("tests/plan/test_planted.py:2: ")
