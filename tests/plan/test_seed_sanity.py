"""Seed #25886 (basic sanity): the jobs launch what SGLang's tests launch, the suite runs
SGLang's kit tests in SGLang's order, and the kits' fixed assertions fail when they should.

Expected values are read from SGLang at 1bd4f94598 (the seed) unless another commit is
named: test/registered/core/test_basic_sanity.py, test_basic_sanity_eagle3.py,
python/sglang/test/kits/*.py, python/sglang/test/test_utils.py.
"""

from __future__ import annotations

import itertools
import json
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import tomlkit

from sglang_ci.config.errors import ConfigError
from sglang_ci.config.model import load_config
from sglang_ci.config.schema import Config
from sglang_ci.evals.probes import measure_fwd_occupancy
from sglang_ci.plan.commands import server_command
from sglang_ci.results.result_file import job_dir_name
from tests.conftest import ROOT, TAG_ENV, ConfigEdit, StartStub, run_python, tagged_processes

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
ENV = {"SGLANG_ENABLE_METRICS_DEVICE_TIMER": "1"}  # both files

# job -> (argv after the model path, est_time, fwd_occupancy_threshold, accept-length floor):
# register_cuda_ci(est_time=160 / 200, stage="base-a", runner_config="1-gpu-small");
# both set fwd_occupancy_threshold = 97.0; the kit's spec_accept_length_threshold is 1.8
# and applies only where /server_info reports an accept length (EAGLE3).
SEED_JOBS = {
    "sanity(model='llama3-8b')": (SANITY_ARGS, 160.0, 97.0, None),
    "sanity(model='llama-eagle3')": (EAGLE3_ARGS, 200.0, 97.0, 1.8),
}

# unittest runs a class's test methods sorted by name: the kits' 18 tests
# (api contract 6, decode correctness 7, scheduler stress 3, fwd_occupancy 1, hellaswag 1).
SGLANG_ORDER = [
    "test_accuracy_floor", "test_ascii_ratio", "test_basic_math", "test_capital_france",
    "test_color_completion", "test_concurrent_requests", "test_determinism_temp_zero",
    "test_fwd_occupancy", "test_get_model_info", "test_get_server_info", "test_health",
    "test_health_generate", "test_long_prompt", "test_max_token_one",
    "test_no_repetition_blowup", "test_openai_chat_completion", "test_openai_completion",
    "test_streaming_response",
]  # fmt: skip


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(None, {}, ROOT)


@pytest.mark.parametrize("job_id", SEED_JOBS)
def test_server_command_and_env_are_sglangs(config: Config, job_id: str) -> None:
    args, est_time, occupancy, accept = SEED_JOBS[job_id]
    job = config.find_job(job_id)
    (server,) = job.deployment.servers
    argv = server_command("python", "sglang", job.deployment, server, "PORT")
    # popen_launch_server @ 1bd4f94598: sglang serve ... --device cuda --host H --port P.
    assert argv[:4] == ["sglang", "serve", "--model-path", LLAMA]
    assert argv[-6:-4] == ["--device", "cuda"]
    assert argv[4:-6] == args  # the same flags, in SGLang's order
    assert dict(server.env) == ENV
    assert job.stage == "base-a" and job.est_time == est_time and job.gpus == 1
    assert job.threshold("fwd-occupancy") == occupancy
    assert job.threshold("accept-length") == accept
    assert job.threshold("hellaswag") == 0.60  # hellaswag_kit's threshold, not overridden
    options = job.eval
    assert options is not None  # test_programs.test_hellaswag_select: 200, 20-shot, 64 threads
    assert (options.num_examples, options.num_shots, options.threads) == (200, 20, 64)


def test_base_a_is_sglangs_stage(config: Config) -> None:
    stage = config.stages["base-a"]
    # scripts/ci/runner_configs.yml@6ed5780c4f: 1-gpu-small runs on 1-gpu-5090;
    # .github/workflows/pr-test.yml@6ed5780c4f: base-a-test-1-gpu-small run_timeout_minutes '10'.
    assert (stage.gpus, stage.runner, stage.timeout_minutes) == (1, "1-gpu-5090", 10)
    assert set(stage.jobs) == set(SEED_JOBS)


def test_occupancy_ranks_is_min_by_default_and_switches_to_sglangs_max(
    config: Config, write_config: Callable[[ConfigEdit], Path]
) -> None:
    assert config.suites["sanity"].occupancy_ranks == "min"  # the labelled improvement

    def switch(value: str) -> ConfigEdit:
        def edit(doc: tomlkit.TOMLDocument) -> None:
            doc["suites"]["sanity"]["occupancy-ranks"] = value

        return edit

    path = write_config(switch("max"))
    assert load_config(str(path), {}, path.parent).suites["sanity"].occupancy_ranks == "max"
    with pytest.raises(ConfigError) as caught:
        path = write_config(switch("mean"))
        load_config(str(path), {}, path.parent)
    assert caught.value.return_code == 2
    assert "occupancy-ranks" in str(caught.value) and "min, max" in str(caught.value)


class TwoRanks(requests.Session):
    """The one seam: /metrics with a healthy rank and a degraded one (no sockets)."""

    EXPOSITION = (
        "# TYPE sglang:fwd_occupancy gauge\n"
        'sglang:fwd_occupancy{dp_rank="0"} 99.0\nsglang:fwd_occupancy{dp_rank="1"} 61.0\n'
    )

    def get(self, url: str | bytes, **kwargs: Any) -> requests.Response:
        return _answer(self.EXPOSITION)

    def post(  # type: ignore[override]
        self, url: str | bytes, json: Any = None, **kwargs: Any
    ) -> requests.Response:
        # The kit's requests: the story prompt, temperature 0, no ignore_eos.
        params = json["sampling_params"]
        assert json["text"].endswith("Write a long, detailed, multi-paragraph story about ")
        assert params == {"temperature": 0.0, "max_new_tokens": params["max_new_tokens"]}
        if params["max_new_tokens"] == 2048:
            time.sleep(0.2)
        return _answer("{}")


def _answer(text: str) -> requests.Response:
    answer = requests.Response()
    answer.status_code, answer._content, answer.encoding = 200, text.encode(), "utf-8"
    return answer


@pytest.mark.parametrize(("ranks", "median"), [("min", 61.0), ("max", 99.0)])
def test_occupancy_ranks_combine(ranks: str, median: float) -> None:
    # fwd_occupancy_kit.py@1bd4f94598 _scrape_fwd_occupancy: max over the labels ("max");
    # "min" lets the degraded rank show.
    result = measure_fwd_occupancy(TwoRanks(), "http://x", aggregate=ranks, interval=0.02,
                                   min_samples=1, settle=0)  # fmt: skip
    assert result.median == median


# ------------------------------------------------------------------ on the stub


@pytest.mark.real_process
def test_stub_streams_generate_and_answers_chat(start_stub: StartStub) -> None:
    stub = start_stub("--enable-metrics")
    body = {"text": "Q: What is the capital of France?\nA:", "stream": True,
            "sampling_params": {"temperature": 0.0, "max_new_tokens": 64}}  # fmt: skip
    with requests.post(stub.url + "/generate", json=body, stream=True, timeout=10) as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        lines = [line for line in response.iter_lines(decode_unicode=True) if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[len("data: ") :]) for line in lines[:-1]]
    texts = [chunk["text"] for chunk in chunks]
    assert len(chunks) > 1 and all(b.startswith(a) for a, b in itertools.pairwise(texts))
    assert "Paris" in texts[-1] and chunks[-1]["meta_info"]["finish_reason"] is not None
    assert requests.get(stub.url + "/health", timeout=5).status_code == 200  # keep-alive ok

    chat = requests.post(stub.url + "/v1/chat/completions", timeout=10, json={
        "model": "org/model", "messages": [{"role": "user", "content": "Say hi in one word."}],
        "temperature": 0.0, "max_tokens": 16})  # fmt: skip
    answer = chat.json()
    assert chat.status_code == 200 and answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["role"] == "assistant"
    assert answer["choices"][0]["message"]["content"] and "usage" in answer


def _run(tmp_path: Path, tag: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = run_python(
        "-m", "sglang_ci", *args, "--engine", "stub", "--results", str(tmp_path),
        env={TAG_ENV: tag, "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks"), **(env or {})},
        timeout=240,
    )  # fmt: skip
    assert tagged_processes(tag) == []
    return f"{result.returncode}\n{result.stdout}{result.stderr}"


@pytest.mark.real_process
def test_base_a_rehearsal_runs_the_kits_in_sglangs_order(tmp_path: Path, tag: str) -> None:
    output = _run(tmp_path, tag, "run", "--stage", "base-a")
    assert output.startswith("0\n"), output
    for job_id in SEED_JOBS:
        out = tmp_path / job_dir_name(job_id)
        assert json.loads((out / "result.json").read_text())["status"] == "passed"
        root = ElementTree.parse(out / "junit.xml").getroot()
        names = [case.get("name") for case in root.iter("testcase")]
        ours = {"test_server_runs_the_requested_settings", "test_accept_length"}
        assert [name for name in names if name not in ours] == SGLANG_ORDER
        assert names.index("test_accept_length") == names.index("test_fwd_occupancy") + 1
        summary = json.loads((out / "hellaswag.json").read_text())
        assert summary["passes"] == 2 and summary["num_examples"] > 0  # HellaSwag ran twice
        assert abs(summary["second_pass_score"] - summary["score"]) < 0.1


@pytest.mark.real_process
@pytest.mark.parametrize(
    ("fault", "failure"),
    [
        # basic_decode_correctness_kit.py@1bd4f94598: ratio > 0.85, and < 0.25 for the top
        # 5-gram of an answer of 50 characters or more.
        ("gibberish", "test_ascii_ratio: output looks like gibberish (printable ASCII ratio=0."),
        # Under `python3 FILE -f` the first failing test method ends the file: for a loop
        # that is test_basic_math (no 391 in the answer), before test_no_repetition_blowup.
        ("looping", "test_basic_math: "),
    ],
)
def test_broken_output_fails_the_kits_checks(
    tmp_path: Path, tag: str, fault: str, failure: str
) -> None:
    job_id = "sanity(model='llama3-8b')"
    output = _run(tmp_path, tag, "job", job_id, env={"SGLANG_CI_STUB_FAULTS": fault})
    assert output.startswith("1\n"), output
    record = json.loads((tmp_path / job_dir_name(job_id) / "result.json").read_text())
    assert record["failure_kind"] == "check failed"
    assert failure in record["reason"]
    # -f: the tests after the first failure do not run (test_capital_france would fail too).
    assert "test_capital_france" not in record["reason"]
    # CustomTestCase in CI: the failing test method was tried once more, and failed again.
    first = failure.split(":")[0]
    assert [(row["test"], row["try"]) for row in record["test_retries"]] == [(first, 1)]
