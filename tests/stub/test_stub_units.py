"""The stub's pure parts: argument reading, faults, the answer key, accept length."""

from __future__ import annotations

from pathlib import Path

import pytest

from sglang_ci.stub.args import parse_server_args, server_info_args, settings_from
from sglang_ci.stub.faults import Faults, FaultSpecError, parse_faults
from sglang_ci.stub.model import StubModel, accept_length, load_answer_key, question_of


def test_server_args_are_flattened_like_sglang() -> None:
    args = parse_server_args(
        ["--model-path", "m", "--port", "30000", "--tp-size", "2", "--enable-metrics",
         "--mem-fraction-static", "0.55", "--json-model-override-args", "a", "b"]
    )  # fmt: skip
    assert args == {
        "model_path": "m", "port": 30000, "tp_size": 2, "enable_metrics": True,
        "mem_fraction_static": 0.55, "json_model_override_args": ["a", "b"],
    }  # fmt: skip
    settings = settings_from(args)
    assert (settings.tp_size, settings.enable_metrics, settings.deterministic) == (2, True, False)


def test_nextn_is_reported_as_eagle_as_sglang_does() -> None:
    info = server_info_args({"speculative_algorithm": "NEXTN"})
    assert info["speculative_algorithm"] == "EAGLE"
    assert info["disable_cuda_graph"] is False


def test_server_args_need_model_and_port() -> None:
    with pytest.raises(ValueError, match="--model-path and --port are required"):
        settings_from(parse_server_args(["--tp-size", "2"]))


def test_faults_parse() -> None:
    faults = parse_faults("slow_start=1.5, crash_after=3,never_healthy,orphans=2")
    assert faults == Faults(slow_start=1.5, crash_after=3, never_healthy=True, orphans=2)
    assert faults.active() == ["slow_start", "never_healthy", "crash_after", "orphans"]
    assert parse_faults("") == Faults()


@pytest.mark.parametrize("text", ["slow_start", "crash_after=x", "explode=1", "error_rate=2"])
def test_bad_faults_are_refused(text: str) -> None:
    with pytest.raises((FaultSpecError, ValueError)):
        parse_faults(text)


def test_question_is_the_last_of_the_few_shot_prompt() -> None:
    prompt = "Question: a?\nAnswer: 1\n\nQuestion: What is 2+3?\nAnswer:"
    assert question_of(prompt) == "What is 2+3?"


def test_answer_key_and_accuracy(tmp_path: Path) -> None:
    data = tmp_path / "key.jsonl"
    data.write_text(
        "\n".join(
            f'{{"question": "q{i}?", "answer": "work\\n#### {i * 1000:,}"}}' for i in range(200)
        )
    )
    key = load_answer_key([data])
    assert key.gsm8k["q7?"] == "7000"  # thousands separator removed, as GSM8K golds need
    perfect = StubModel(key, 1.0, "deterministic")
    assert all(f"The answer is {i * 1000}." in perfect.complete(f"Question: q{i}?\nAnswer:")
               for i in range(200))  # fmt: skip
    half = StubModel(key, 0.5, "deterministic")
    right = sum(f"The answer is {i * 1000}." in half.complete(f"Question: q{i}?\nAnswer:")
                for i in range(200))  # fmt: skip
    assert 70 <= right <= 130
    assert "no answer key entry" in perfect.complete("Question: unknown?\nAnswer:")


def test_accept_length_follows_the_speculative_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SGLANG_CI_STUB_ACCEPT_LENGTH", raising=False)
    short = accept_length(1, 2, "s", deterministic=True)
    long = accept_length(5, 12, "s", deterministic=True)
    assert short < long
    assert short == pytest.approx(1.7)
