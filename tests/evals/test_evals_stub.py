"""The evals against the stub engine over real HTTP: accuracy in, accuracy out."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict
from pathlib import Path

import pytest

from sglang_ci.data import GSM8K_SAMPLE, HELLASWAG_SAMPLE
from sglang_ci.evals.data import GSM8K, HELLASWAG, load_lines
from sglang_ci.evals.gsm8k import run_gsm8k
from sglang_ci.evals.hellaswag import run_hellaswag
from sglang_ci.launch.http_client import make_session
from tests.conftest import StartStub, run_python

pytestmark = pytest.mark.real_process


@pytest.fixture
def big_key(tmp_path: Path) -> Path:
    """205 lines: 5 shots and 200 evaluated questions, as CI's GSM8K runs them."""
    path = tmp_path / "gsm8k205.jsonl"
    path.write_text("".join(
        json.dumps({"question": f"What is {i} plus {i + 7}?", "answer": f"#### {2 * i + 7:,}"})
        + "\n" for i in range(205)))  # fmt: skip
    return path


def gsm8k_score(start_stub: StartStub, key: Path, accuracy: str, *flags: str) -> list[dict]:  # type: ignore[type-arg]
    stub = start_stub(*flags, env={"SGLANG_CI_STUB_DATA": str(key),
                                   "SGLANG_CI_STUB_ACCURACY": accuracy})  # fmt: skip
    with make_session() as session:
        outcome = run_gsm8k(session, stub.url, load_lines(GSM8K, str(key), {}), threads=16,
                            stop=threading.Event())  # fmt: skip
    assert len(outcome.records) == 200
    return [asdict(record) | {"latency": None} for record in outcome.records]


def test_accuracy_one_scores_one(start_stub: StartStub, big_key: Path) -> None:
    records = gsm8k_score(start_stub, big_key, "1.0")
    assert all(record["correct"] for record in records)


def test_accuracy_half_scores_near_half(start_stub: StartStub, big_key: Path) -> None:
    records = gsm8k_score(start_stub, big_key, "0.5")
    score = sum(record["correct"] for record in records) / len(records)
    assert 0.35 <= score <= 0.65  # 200 draws at p = 0.5: std 0.035, so this is 4 std wide


def test_deterministic_runs_agree_sample_by_sample(start_stub: StartStub, big_key: Path) -> None:
    flag = "--enable-deterministic-inference"
    first = gsm8k_score(start_stub, big_key, "0.5", flag)
    second = gsm8k_score(start_stub, big_key, "0.5", flag)
    assert first == second
    assert gsm8k_score(start_stub, big_key, "0.5") != first  # without it, runs differ


def test_hellaswag_follows_accuracy(start_stub: StartStub) -> None:
    data = str(HELLASWAG_SAMPLE)
    for accuracy, expected in (("1.0", 1.0), ("0.0", 0.0)):
        stub = start_stub(env={"SGLANG_CI_STUB_DATA": data, "SGLANG_CI_STUB_ACCURACY": accuracy})
        with make_session() as session:
            outcome = run_hellaswag(session, stub.url, load_lines(HELLASWAG, data, {}),
                                    stop=threading.Event())  # fmt: skip
        assert outcome.score == expected
        assert len(outcome.records) == 45


def test_eval_cli_prints_and_writes_records(start_stub: StartStub, tmp_path: Path) -> None:
    stub = start_stub(env={"SGLANG_CI_STUB_DATA": str(GSM8K_SAMPLE),
                           "SGLANG_CI_STUB_ACCURACY": "1.0"})  # fmt: skip
    result = run_python("-m", "sglang_ci", "eval", "gsm8k", "--base-url", stub.url, "--data",
                        str(GSM8K_SAMPLE), "--num-examples", "20", "--num-shots", "3",
                        "--threads", "4", "--output", str(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "gsm8k: score 1.0000 (20/20 correct" in result.stdout
    lines = (tmp_path / "gsm8k.jsonl").read_text().splitlines()
    assert len(lines) == 20
    record = json.loads(lines[0])
    assert set(record) == {"index", "question", "output", "extracted", "gold", "correct",
                           "latency", "error", "error_kind"}  # fmt: skip
    assert json.loads((tmp_path / "gsm8k.json").read_text())["num_shots"] == 3


@pytest.mark.real_process
def test_a_failed_eval_leaves_no_empty_records_file(tmp_path: Path) -> None:
    result = run_python("-m", "sglang_ci", "eval", "gsm8k", "--base-url", "http://127.0.0.1:9",
                        "--data", str(GSM8K_SAMPLE), "--output", str(tmp_path))  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "is the server up?" in result.stderr
    assert list(tmp_path.iterdir()) == []
