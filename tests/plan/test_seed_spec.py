"""Each speculative seed job of the project's stages.toml is the job SGLang's test runs.

Every expected value below is written from a reading of the seed test in SGLang's
repository (file and commit cited at each), never from this runner's output: the
server's arguments (``other_args``, compared as flag -> values since argparse does not
care about order), its environment (the env dict given to ``popen_launch_server``, or
what ``envs.X.set(...)`` writes into ``os.environ``), the checks' floors, the eval's
options, and the CI registration (est_time split over the file's launches, runner).

``popen_launch_server`` (python/sglang/test/test_utils.py @ 9040feebd8 and dbac464726)
also appends ``--device <auto_config_device()>``; ServerArgs resolves an absent
``--device`` with the same ``get_device()``, so the runner leaves it out and so do these
expectations.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from sglang_ci.cli import main_exit_code
from sglang_ci.config.checks import EvalOptions
from sglang_ci.config.model import load_config
from sglang_ci.config.schema import Config, Job
from sglang_ci.plan.commands import HOST, server_command
from tests.conftest import ROOT

# scripts/ci/runner_configs.yml @ 6ed5780c4f: runner_config -> runs_on label.
RUNS_ON = {"1-gpu-large": "1-gpu-h100", "2-gpu-large": "2-gpu-h100"}


@dataclass(frozen=True)
class Seed:
    job: str
    source: str  # SGLang file @ commit the values below were read from
    stage: str  # the stage of stages.toml that holds it
    runner_config: str  # register_cuda_ci(runner_config=...)
    gpus: int
    model_path: str
    other_args: tuple[str, ...]
    env: dict[str, str]
    gsm8k: float
    accept_length: float
    eval: EvalOptions
    est_time: float


def gemma_mtp_args(assistant: str, topk: int, common: Sequence[str]) -> tuple[str, ...]:
    """_server_args(topk) of the three Gemma4 MTP files (test/registered/spec/
    test_gemma4_mtp_*_extra.py, test_frozen_kv_mtp.py @ 9040feebd8): the speculative flags,
    DRAFT_TOKENS_BY_TOPK = {1: 6, 3: 12}, then _common_server_args()."""
    return (
        "--speculative-algorithm", "NEXTN",
        "--speculative-draft-model-path", assistant,
        "--speculative-num-steps", "5",
        "--speculative-eagle-topk", str(topk),
        "--speculative-num-draft-tokens", str({1: 6, 3: 12}[topk]),
        *common,
    )  # fmt: skip


# _common_server_args() of the three Gemma4 MTP files @ 9040feebd8.
GEMMA_COMMON = (
    "--attention-backend", "triton",
    "--dtype", "bfloat16",
    "--mem-fraction-static", "0.55",
    "--max-running-requests", "16",
    "--context-length", "2048",
    "--max-total-tokens", "32768",
    "--skip-server-warmup",
)  # fmt: skip
# test_gemma4_mtp_26b_a4b_extra.py @ 621a79728c adds deterministic inference;
# TENSOR_PARALLEL_SIZE = 2 adds --tp-size 2 (also in the 31B file @ 9040feebd8).
GEMMA_26B_COMMON = (*GEMMA_COMMON, "--enable-deterministic-inference", "--tp-size", "2")
GEMMA_31B_COMMON = (*GEMMA_COMMON, "--tp-size", "2")

# run_eval SimpleNamespace of the Gemma4 files: num_examples 200, num_threads 128,
# num_shots 5 (max_tokens 512, completion API).
GEMMA_EVAL = EvalOptions(num_examples=200, num_shots=5, threads=128)


def gemma_26b(topk: int) -> Seed:
    # test/registered/spec/test_gemma4_mtp_26b_a4b_extra.py @ 621a79728c:
    # register_cuda_ci(est_time=720, stage="extra-a", runner_config="2-gpu-large"), one
    # launch per topk in (1, 3); GSM8K_SCORE_THRESHOLD = min({1: 0.445, 3: 0.440}) - 0.03,
    # shared by both topks; ACCEPT_LENGTH_THRESHOLD = 1.5; env SGLANG_ENABLE_SPEC_V2=0.
    return Seed(
        job=f"spec(model='gemma4-26b-a4b', topk={topk})",
        source="test/registered/spec/test_gemma4_mtp_26b_a4b_extra.py@621a79728c",
        stage="extra-a", runner_config="2-gpu-large", gpus=2,
        model_path="google/gemma-4-26B-A4B-it",
        other_args=gemma_mtp_args("google/gemma-4-26B-A4B-it-assistant", topk, GEMMA_26B_COMMON),
        env={"SGLANG_ENABLE_SPEC_V2": "0"},
        gsm8k=min({1: 0.445, 3: 0.440}.values()) - 0.03, accept_length=1.5, eval=GEMMA_EVAL,
        est_time=720 / 2,
    )  # fmt: skip


def gemma_31b(topk: int) -> Seed:
    # test/registered/spec/test_gemma4_mtp_31b_extra.py @ 9040feebd8: est_time=720,
    # extra-a, 2-gpu-large; threshold min({1: 0.805, 3: 0.805}) - 0.03 = 0.775.
    return Seed(
        job=f"spec(model='gemma4-31b', topk={topk})",
        source="test/registered/spec/test_gemma4_mtp_31b_extra.py@9040feebd8",
        stage="extra-a", runner_config="2-gpu-large", gpus=2,
        model_path="google/gemma-4-31B-it",
        other_args=gemma_mtp_args("google/gemma-4-31B-it-assistant", topk, GEMMA_31B_COMMON),
        env={"SGLANG_ENABLE_SPEC_V2": "0"},
        gsm8k=0.775, accept_length=1.5, eval=GEMMA_EVAL, est_time=720 / 2,
    )  # fmt: skip


def frozen_kv(topk: int) -> Seed:
    # test/registered/spec/test_frozen_kv_mtp.py @ 9040feebd8: est_time=300, base-b,
    # 1-gpu-large; GSM8K >= 0.65 and accept length >= 1.5; env SGLANG_ENABLE_SPEC_V2=0,
    # SGLANG_ENABLE_ASYNC_ASSERT=1; no --tp-size.
    return Seed(
        job=f"spec(model='gemma4-e4b-frozen-kv', topk={topk})",
        source="test/registered/spec/test_frozen_kv_mtp.py@9040feebd8",
        stage="base-b", runner_config="1-gpu-large", gpus=1,
        model_path="google/gemma-4-E4B-it",
        other_args=gemma_mtp_args("google/gemma-4-E4B-it-assistant", topk, GEMMA_COMMON),
        env={"SGLANG_ENABLE_SPEC_V2": "0", "SGLANG_ENABLE_ASYNC_ASSERT": "1"},
        gsm8k=0.65, accept_length=1.5, eval=GEMMA_EVAL, est_time=300 / 2,
    )  # fmt: skip


def standalone(backend: str, deterministic: bool, est_time: float) -> Seed:
    # python/sglang/test/server_fixtures/standalone_fixture.py @ dbac464726,
    # get_server_args() with the classes of test/registered/spec/
    # test_spec_standalone_extra.py @ dbac464726 (topk 2, 7 draft tokens, num_steps left
    # at 4, enable_spec_v2 = False; the triton class adds enable_deterministic_inference).
    # setUpClass sets envs.SGLANG_JIT_DEEPGEMM_PRECOMPILE / SGLANG_ENABLE_JIT_DEEPGEMM /
    # SGLANG_ENABLE_SPEC_V2 to False: EnvField.set writes str(False) into os.environ
    # (python/sglang/srt/environ.py @ dbac464726), which popen_launch_server passes on.
    # accuracy_threshold 0.69, spec_decode_threshold 3.6; run_eval num_examples 100,
    # num_threads 128, num_shots 4. register_cuda_ci(est_time=406, stage="extra-a",
    # runner_config="1-gpu-large") for the file's three launches.
    suffix = "" if backend == "triton" else f", backend='{backend}'"
    return Seed(
        job=f"spec(model='llama-standalone', topk=2{suffix})",
        source="python/sglang/test/server_fixtures/standalone_fixture.py@dbac464726",
        stage="extra-a-test-1-gpu-large", runner_config="1-gpu-large", gpus=1,
        model_path="meta-llama/Llama-3.1-8B-Instruct",
        other_args=(
            "--trust-remote-code",
            "--cuda-graph-max-bs", "8",
            "--speculative-algorithm", "STANDALONE",
            "--speculative-draft-model-path", "meta-llama/Llama-3.2-1B-Instruct",
            "--speculative-num-steps", "4",
            "--speculative-eagle-topk", "2",
            "--speculative-num-draft-tokens", "7",
            "--mem-fraction-static", "0.7",
            "--attention-backend", backend,
            *(("--enable-deterministic-inference",) if deterministic else ()),
        ),
        env={
            "SGLANG_JIT_DEEPGEMM_PRECOMPILE": "False",
            "SGLANG_ENABLE_JIT_DEEPGEMM": "False",
            "SGLANG_ENABLE_SPEC_V2": "False",
        },
        gsm8k=0.69, accept_length=3.6,
        eval=EvalOptions(num_examples=100, num_shots=4, threads=128), est_time=est_time,
    )  # fmt: skip


SEEDS = [
    frozen_kv(1), frozen_kv(3),
    gemma_26b(1), gemma_26b(3),
    gemma_31b(1), gemma_31b(3),
    # 406 s over three launches, split 136 + 135 + 135.
    standalone("fa3", False, 135), standalone("triton", True, 136),
    standalone("flashinfer", False, 135),
]  # fmt: skip

# register_cuda_ci(est_time=...) of each seed file, which its jobs' est-times sum to.
FILE_EST_TIME = {
    "test/registered/spec/test_frozen_kv_mtp.py@9040feebd8": 300,
    "test/registered/spec/test_gemma4_mtp_26b_a4b_extra.py@621a79728c": 720,
    "test/registered/spec/test_gemma4_mtp_31b_extra.py@9040feebd8": 720,
    "python/sglang/test/server_fixtures/standalone_fixture.py@dbac464726": 406,
}


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(None, {}, ROOT)


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
def test_server_command_is_the_seed_tests(config: Config, seed: Seed) -> None:
    job = config.jobs[seed.job]
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
def test_server_env_is_the_seed_tests(config: Config, seed: Seed) -> None:
    (server,) = config.jobs[seed.job].deployment.servers
    assert dict(server.env) == seed.env, seed.source


@pytest.mark.parametrize("seed", SEEDS, ids=[seed.job for seed in SEEDS])
def test_checks_eval_and_registration_are_the_seed_tests(config: Config, seed: Seed) -> None:
    job = config.jobs[seed.job]
    stage = config.stages[job.stage]
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


def test_est_times_sum_to_each_files_registration(config: Config) -> None:
    totals = dict.fromkeys(FILE_EST_TIME, 0.0)
    for seed in SEEDS:
        totals[seed.source] += config.jobs[seed.job].est_time
    assert totals == FILE_EST_TIME


def test_26b_topks_share_the_seeds_threshold(config: Config) -> None:
    """test_gemma4_mtp_26b_a4b_extra.py @ 621a79728c: one GSM8K_SCORE_THRESHOLD for both
    topks, min(0.445, 0.440) - 0.03, derived in floating point as the test derives it
    (0.41000000000000003, not the 0.41 the recorded runs' rounding rule gives); the runs
    stay as evidence."""
    topk1 = config.jobs["spec(model='gemma4-26b-a4b', topk=1)"]
    topk3 = config.jobs["spec(model='gemma4-26b-a4b', topk=3)"]
    assert (topk1.threshold_origin, topk3.threshold_origin) == ("pinned", "pinned")
    for job in (topk1, topk3):
        assert dict(job.threshold_derivations)["gsm8k"] == (
            "min(0.445, 0.44) - 0.03 = 0.41000000000000003"
        )
    assert topk1.baseline is not None and min(topk1.baseline.scores) == 0.445
    assert topk3.baseline is not None and min(topk3.baseline.scores) == 0.440


@pytest.mark.parametrize("stage", sorted({seed.stage for seed in SEEDS}))
def test_plan_shows_the_seed_commands(
    config: Config, stage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main_exit_code(["plan", "--stage", stage, "--config", str(ROOT / "stages.toml")]) == 0
    out = capsys.readouterr().out
    for seed in (seed for seed in SEEDS if seed.stage == stage):
        line = shlex.join(server_argv(config.jobs[seed.job])).replace("PORT", "SERVER_PORT")
        assert seed.job in out and line in out
