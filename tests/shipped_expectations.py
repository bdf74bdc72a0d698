"""SGLang's side of every seed job of the shipped stages.toml: what SGLang's own tests run,
read from SGLang's sources at the commits cited beside each value, never from this
runner's output. Plain data: tests/test_shipped_stages.py compares the shipped file's jobs
with it.

Speculative seeds (test/registered/spec/*): the server's arguments (``other_args``,
compared as flag -> values since argparse does not care about order), its environment
(the env dict given to ``popen_launch_server``, or what ``envs.X.set(...)`` writes into
``os.environ``), the checks' floors, the eval's options, and the CI registration (est_time
split over the file's launches, runner). ``popen_launch_server``
(python/sglang/test/test_utils.py @ 9040feebd8 and dbac464726) also appends ``--device
<auto_config_device()>``; ServerArgs resolves an absent ``--device`` with the same
``get_device()``, so the runner leaves it out and so do these expectations.

The PD seed (#24973), read at 5227b07669:
- test/registered/distributed/test_disaggregation_dsv4.py: start_prefill/start_decode
  argv, DSV4_FLASH_ENV, the /health waits of setUpClass;
- python/sglang/test/server_fixtures/disaggregation_fixture.py: the bootstrap port on both
  roles, transfer backend + RDMA devices appended to both, MC_TCP_ENABLE_CONNECTION_POOL
  set in os.environ (inherited by prefill, decode and router), launch_lb's argv;
- python/sglang/test/test_utils.py popen_launch_pd_server: ``python3 -m
  sglang.launch_server --model-path M <other_args> --host H --port P``.

The basic-sanity seed (#25886), read at 1bd4f94598: test/registered/core/
test_basic_sanity.py, test_basic_sanity_eagle3.py, python/sglang/test/kits/*.py,
python/sglang/test/test_utils.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sglang_ci.config.checks import EvalOptions

# ------------------------------------------------------------------ speculative seeds

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


# ------------------------------------------------------------------ the PD seed

PD_JOB = "disagg(model='dsv4-flash')"
PD_MODEL = "sgl-project/DeepSeek-V4-Flash-FP8"
DEEPEP_CONFIG = '{"normal_dispatch":{"num_sms":96},"normal_combine":{"num_sms":96}}'
# start_prefill's other_args, in the test's order; "--tp"/"--dp" are argparse prefixes
# of --tp-size/--dp-size, so they are written here under the full names we pass.
PREFILL_ARGS = {
    "--trust-remote-code": None,
    "--disaggregation-mode": "prefill",
    "--disaggregation-bootstrap-port": "BOOTSTRAP",
    "--tp-size": "4",
    "--dp-size": "4",
    "--enable-dp-attention": None,
    "--moe-a2a-backend": "deepep",
    "--deepep-config": DEEPEP_CONFIG,
    "--cuda-graph-max-bs": "128",
    "--max-running-requests": "256",
    "--mem-fraction-static": "0.7",
    "--speculative-algorithm": "EAGLE",
    "--speculative-num-steps": "1",
    "--speculative-eagle-topk": "1",
    "--speculative-num-draft-tokens": "2",
    # cls.transfer_backend + cls.rdma_devices (in CI: mooncake and the runner's devices)
    "--disaggregation-transfer-backend": "mooncake",
    "--disaggregation-ib-device": "mlx5_0,mlx5_4",
    "--host": "127.0.0.1",
    "--port": "PORT",
}
DECODE_ARGS = {**PREFILL_ARGS, "--disaggregation-mode": "decode", "--base-gpu-id": "4"}
SERVER_ENV = {
    "SGLANG_DSV4_FP4_EXPERTS": "0",
    "SGLANG_DEEPEP_NUM_MAX_DISPATCH_TOKENS_PER_RANK": "256",
    "MC_TCP_ENABLE_CONNECTION_POOL": "true",
}
ROUTER_ENV = {"MC_TCP_ENABLE_CONNECTION_POOL": "true"}
LB_ARGV = [  # launch_lb, after "python3"
    "-m", "sglang_router.launch_router", "--pd-disaggregation", "--mini-lb",
    "--prefill", "http://127.0.0.1:30100", "--decode", "http://127.0.0.1:30200",
    "--host", "127.0.0.1", "--port", "30000",
]  # fmt: skip


# ------------------------------------------------------------------ the sanity seed

# test_basic_sanity.py@1bd4f94598: popen_launch_server(DEFAULT_MODEL_NAME_FOR_TEST, ...,
# other_args=[...], env={...}); DEFAULT_MODEL_NAME_FOR_TEST in test_utils.py@1bd4f94598.
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
SANITY_ARGS = ["--cuda-graph-max-bs", "4", "--mem-fraction-static", "0.7", "--enable-metrics"]
# test_basic_sanity_eagle3.py@1bd4f94598 (DEFAULT_TARGET_MODEL_EAGLE3 = the same Llama,
# DEFAULT_DRAFT_MODEL_EAGLE3 = lmsys/sglang-EAGLE3-LLaMA3.1-Instruct-8B).
EAGLE3_ARGS = [
    "--dtype", "float16", "--attention-backend", "triton",
    "--speculative-algorithm", "EAGLE3",
    "--speculative-draft-model-path", "lmsys/sglang-EAGLE3-LLaMA3.1-Instruct-8B",
    "--speculative-num-steps", "3", "--speculative-eagle-topk", "1",
    "--speculative-num-draft-tokens", "4",
    "--cuda-graph-max-bs", "4", "--mem-fraction-static", "0.7", "--enable-metrics",
]  # fmt: skip
SANITY_ENV = {"SGLANG_ENABLE_METRICS_DEVICE_TIMER": "1"}  # both files

# job -> (argv after the model path, est_time, fwd_occupancy_threshold, accept-length floor):
# register_cuda_ci(est_time=160 / 200, stage="base-a", runner_config="1-gpu-small");
# both set fwd_occupancy_threshold = 97.0; the kit's spec_accept_length_threshold is 1.8
# and applies only where /server_info reports an accept length (EAGLE3).
SANITY_JOBS = {
    "sanity(model='llama3-8b')": (SANITY_ARGS, 160.0, 97.0, None),
    "sanity(model='llama-eagle3')": (EAGLE3_ARGS, 200.0, 97.0, 1.8),
}


# ------------------------------------------------------------------ how SGLang's CI runs them

G26 = "spec(model='gemma4-26b-a4b', topk={})"
G31 = "spec(model='gemma4-31b', topk={})"
E4B = "spec(model='gemma4-e4b-frozen-kv', topk={})"
STANDALONE = ("spec(model='llama-standalone', topk=2, backend='fa3')",
              "spec(model='llama-standalone', topk=2, backend='flashinfer')",
              "spec(model='llama-standalone', topk=2)")  # fmt: skip
SANITY = ("sanity(model='llama-eagle3')", "sanity(model='llama3-8b')")

# How each seed job compares with its floors (assertGreater is ">", assertGreaterEqual ">="),
# read at the seed commits in the bytedance-iaas/sglang fork.
GEMMA_COMPARATORS = {"gsm8k": ">=", "accept-length": ">="}
# python/sglang/test/server_fixtures/standalone_fixture.py@dbac464726 line 112:
# assertGreaterEqual(score, 0.69); line 119: assertGreater(accept length, 3.6).
STANDALONE_COMPARATORS = {"gsm8k": ">=", "accept-length": ">"}
COMPARATORS = {
    # test/registered/spec/test_gemma4_mtp_31b_extra.py@9040feebd8 lines 170-176,
    # test_gemma4_mtp_26b_a4b_extra.py@621a79728c lines 174-176 and
    # test_frozen_kv_mtp.py@9040feebd8 lines 150-152: assertGreaterEqual for both.
    **{model.format(k): GEMMA_COMPARATORS for model in (G31, G26, E4B) for k in (1, 3)},
    **dict.fromkeys(STANDALONE, STANDALONE_COMPARATORS),
    # python/sglang/test/kits/hellaswag_kit.py@1bd4f94598 line 25 and
    # fwd_occupancy_kit.py@1bd4f94598 lines 183 (median) and 203 (accept length):
    # assertGreater; test_basic_sanity*.py there mix these kits in unchanged.
    "sanity(model='llama3-8b')": {"hellaswag": ">", "fwd-occupancy": ">"},
    "sanity(model='llama-eagle3')": {
        "hellaswag": ">", "fwd-occupancy": ">", "accept-length": ">",
    },
    # test/registered/distributed/test_disaggregation_dsv4.py@5227b07669 line 136:
    # assertGreater(metrics["score"], 0.95).
    PD_JOB: {"gsm8k": ">"},
}  # fmt: skip

# Per-file limits from pr-test.yml / pr-test-extra.yml @ 6ed5780c4f (timeout_per_file, else
# run_suite.py's 1200) and pr-test.yml@5227b07669 for the DSV4 stage (--timeout-per-file 1800).
TIME_LIMITS = {"base-a": 1200, "base-b": 1800, "extra-a": 1200,
               "extra-a-test-1-gpu-large": 1800, "stage-c-dsv4": 1800}  # fmt: skip

# test_utils.py @ 9040feebd8 / 6ed5780c4f: DEFAULT_TIMEOUT_FOR_SERVER_LAUNCH = 600; the Gemma
# files and the frozen-KV file wait 3 x that; the standalone fixture and the DSV4 PD test
# 600; base-a's 5090 is Blackwell, where test_utils.py raises the default to 3000.
LAUNCH_TIMEOUTS = {
    **{G26.format(k): 1800.0 for k in (1, 3)}, **{G31.format(k): 1800.0 for k in (1, 3)},
    **{E4B.format(k): 1800.0 for k in (1, 3)}, **dict.fromkeys(STANDALONE, 600.0),
    **dict.fromkeys(SANITY, 3000.0), PD_JOB: 600.0,
}  # fmt: skip

# CustomTestCase (test_utils.py @ 6ed5780c4f) retries a failing test method once in CI; the
# Gemma and frozen-KV files loop over subTests inside one method under -f: no retry.
TEST_RETRIES = {
    **dict.fromkeys((*STANDALONE, *SANITY, PD_JOB), 1),
    **{model.format(k): 0 for model in (G26, G31, E4B) for k in (1, 3)},
}

# Our stage -> SGLang's suite (ci_register.py @ 6ed5780c4f names a suite
# f"{stage}-test-{runner_config}"; the DSV4 one is pr-test.yml@5227b07669's job).
SGLANG_SUITES = {
    "base-a": "base-a-test-1-gpu-small",
    "base-b": "base-b-test-1-gpu-large",
    "extra-a": "extra-a-test-2-gpu-large",
    "stage-c-dsv4": "stage-c-test-dsv4-8-gpu-h200",
}
