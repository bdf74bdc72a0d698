"""Seed #25886 (basic sanity): the suite runs SGLang's kit tests in SGLang's order, and
the kits' fixed assertions fail when they should, on the fixture config's base-a. That
the shipped jobs launch what SGLang's tests launch is tests/test_shipped_stages.py's.

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
from sglang_ci.evals.probes import measure_fwd_occupancy
from sglang_ci.results.result_file import job_dir_name
from tests.conftest import FIXTURES, TAG_ENV, ConfigEdit, StartStub, run_python, tagged_processes

# The fixture's base-a: SGLang's two sanity files, one job each.
SEED_JOBS = ("sanity(model='llama3-8b')", "sanity(model='llama-eagle3')")

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


def test_occupancy_ranks_is_min_by_default_and_switches_to_sglangs_max(
    write_config: Callable[[ConfigEdit], Path],
) -> None:
    # The fixture sets no occupancy-ranks: "min", the labelled improvement, is the default.
    assert load_config(None, {}, FIXTURES).suites["sanity"].occupancy_ranks == "min"

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
@pytest.mark.long
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
