"""GSM8K and HellaSwag scoring rules, the metrics parser and settings verification,
against known inputs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from sglang_ci.config.errors import UsageError
from sglang_ci.evals import gsm8k, hellaswag
from sglang_ci.evals.data import GSM8K, load_lines
from sglang_ci.evals.probes import occupancy_values
from sglang_ci.evals.verify import mismatches

LINES = [{"question": f"q{i}?", "answer": f"step {i}\n#### {i * 10}"} for i in range(12)]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("The answer is 72.", 72.0),
        ("so she has -5 dollars left", -5),
        ("1,234,567 people", 1234567),
        ("costs 3.75 each, 7.5 in total", 7.5),
        ("first 12 then 3 then 48", 48),
        ("no number at all", gsm8k.INVALID),
        ("", gsm8k.INVALID),
        ("#### 1,000", 1000),
    ],
)
def test_answer_extraction(text: str, value: float) -> None:
    assert gsm8k.answer_value(text) == value


def test_trailing_dot_still_matches_an_integer_gold() -> None:
    assert gsm8k.answer_value("The answer is 880.") == 880  # 880.0 == 880, as in SGLang


def test_gsm8k_prompt_shots_and_exclusion() -> None:
    samples = gsm8k.build_samples(LINES, num_shots=5, num_examples=4)
    assert [s.question for s in samples] == ["q5?", "q6?", "q7?", "q8?"]
    prefix = "".join(f"Question: q{i}?\nAnswer: step {i}\n#### {i * 10}\n\n" for i in range(5))
    assert samples[0].prompt == prefix + "Question: q5?\nAnswer:"
    assert samples[0].gold == 50
    assert len(gsm8k.build_samples(LINES, num_shots=5, num_examples=200)) == 7  # capped


def test_gsm8k_stop_and_budget_match_sglang() -> None:
    assert gsm8k.STOP == ["Question", "Assistant:", "<|separator|>"]
    assert gsm8k.MAX_TOKENS == 512


def test_hellaswag_prompt() -> None:
    lines = [{"activity_label": f"A{i}", "ctx": f"c{i}", "endings": ["x", "y", "z", "w"],
              "label": str(i % 4)} for i in range(4)]  # fmt: skip
    samples = hellaswag.build_samples(lines, num_shots=2, num_examples=3)
    assert samples[0].prompt == "A0: c0 x\n\nA1: c1 y\n\nA0: c0 "
    assert [s.label for s in samples] == [0, 1, 2]  # string labels (hub data) become ints


def test_hellaswag_choice_is_length_normalized() -> None:
    # Ending 1 has the best mean logprob though ending 0 has the best sum.
    per_choice: list[list[list[Any]]] = [
        [[-0.5, 1, "a"], [-0.5, 2, "b"], [-0.5, 3, "c"], [-0.5, 4, "d"]],
        [[-0.4, 1, "a"], [-0.4, 5, "e"]],
        [[None, 1, "a"], [-2.0, 6, "f"]],
    ]
    assert hellaswag.choose("prefix ", per_choice, ["a", "b", "c"]) == 1
    assert hellaswag.normalized_logprob([[None, 1, "a"], [0.0, 2, "b"], [-1.0, 3, "c"]]) == -1.0


def test_hellaswag_token_healing_drops_the_prefix_token() -> None:
    # The first scored token ("x") ends the prefix: its logprob is removed from the mean.
    healed = [[-3.0, 1, "x"], [-0.1, 2, "y"]]
    plain = [[-0.1, 1, "q"], [-1.0, 2, "z"]]
    assert hellaswag.choose("the prefix ends with x", [plain, healed], ["p", "h"]) == 1
    assert hellaswag.choose("the prefix ends otherwise", [plain, healed], ["p", "h"]) == 0


EXPOSITION = """\
# HELP sglang:num_running_reqs The number of running requests.
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.0
# HELP sglang:fwd_occupancy Percent of wall time in forward passes.
# TYPE sglang:fwd_occupancy gauge
sglang:fwd_occupancy{model_name="meta-llama/Llama-3.1-8B-Instruct",tp_rank="0",dp_rank="0"} 98.5
sglang:fwd_occupancy{model_name="meta-llama/Llama-3.1-8B-Instruct",tp_rank="0",dp_rank="1"} NaN
sglang:fwd_occupancy{model_name="meta-llama/Llama-3.1-8B-Instruct",tp_rank="1",dp_rank="0"} 96.25
# HELP sglang:prompt_tokens_total Number of prefill tokens processed.
# TYPE sglang:prompt_tokens_total counter
sglang:prompt_tokens_total{model_name="meta-llama/Llama-3.1-8B-Instruct"} 8.128902e+06
"""


def test_occupancy_parsed_from_real_format_text() -> None:
    assert occupancy_values(EXPOSITION) == [98.5, 96.25]  # NaN dropped, labels ignored
    assert occupancy_values(EXPOSITION.replace("fwd_occupancy", "other_gauge")) is None
    all_nan = EXPOSITION.replace("98.5", "NaN").replace("96.25", "NaN")
    assert occupancy_values(all_nan) == []
    assert min(occupancy_values(EXPOSITION) or [math.nan]) == 96.25


@pytest.mark.parametrize(
    ("requested", "info", "problems"),
    [
        ({"speculative-eagle-topk": 3}, {"speculative_eagle_topk": 3}, []),
        (
            {"speculative-eagle-topk": 3},
            {"speculative_eagle_topk": 1},
            ["speculative_eagle_topk is 1, requested 3"],
        ),
        ({"speculative-algorithm": "NEXTN"}, {"speculative_algorithm": "EAGLE"}, []),
        (
            {"speculative-algorithm": "EAGLE3"},
            {"speculative_algorithm": "EAGLE"},
            ["speculative_algorithm is 'EAGLE', requested 'EAGLE3'"],
        ),
        ({}, {"disable_cuda_graph": True}, ["disable_cuda_graph is True, requested unset/false"]),
        ({}, {"disable_cuda_graph": False}, []),
    ],
)
def test_settings_verification(
    requested: dict[str, object], info: dict[str, object], problems: list[str]
) -> None:
    flags = ("speculative-eagle-topk",) if "speculative-eagle-topk" in requested else (
        ("speculative-algorithm",) if requested else ("disable-cuda-graph",))  # fmt: skip
    assert mismatches(flags, requested, info) == problems  # type: ignore[arg-type]


def test_offline_without_data_names_both_options() -> None:
    with pytest.raises(UsageError) as caught:
        load_lines(GSM8K, None, {"HF_HUB_OFFLINE": "1"})
    message = str(caught.value)
    assert "offline" in message and "--data PATH" in message and "SGLANG_CI_GSM8K_DATA" in message


def test_local_data_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "a"}\nnot json\n')
    with pytest.raises(UsageError, match=r"bad\.jsonl:2: not JSON"):
        load_lines(GSM8K, str(bad), {})
    with pytest.raises(UsageError, match="No such file"):
        load_lines(GSM8K, str(tmp_path / "missing.jsonl"), {})


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (b'{"question": "q"}\n', [], "gsm8k data, record 1: no answer field"),
        (
            b'{"activity_label": "a", "ctx": "c", "endings": ["x"], "label": 0}\n',
            [],
            "record 1: no question, answer field; expected question, answer (is it the other",
        ),
        (b'{"question": "\xff"}\n', [], "not UTF-8"),
        (
            b'{"question": "q", "answer": "#### 1"}\n',
            ["--num-examples", "0"],
            "--num-examples must be 1 or more, got 0",
        ),
        (
            b'{"question": "q", "answer": "#### 1"}\n',
            ["--threads", "0"],
            "--threads must be 1 or more",
        ),
        (
            b'{"question": "q", "answer": "#### 1"}\n',
            ["--num-shots", "5"],
            "5 shots leave none of the 1 lines to score",
        ),
    ],
)
def test_eval_cli_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, extra: list[str],
    message: str,
) -> None:  # fmt: skip
    from sglang_ci.cli import main_exit_code

    data = tmp_path / "data.jsonl"
    data.write_bytes(content)
    code = main_exit_code(["eval", "gsm8k", "--base-url", "http://127.0.0.1:9", "--data",
                           str(data), "--output", str(tmp_path / "out"), *extra])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err


def test_eval_cli_output_must_be_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sglang_ci.cli import main_exit_code

    taken = tmp_path / "a-file"
    taken.write_text("")
    code = main_exit_code(["eval", "gsm8k", "--base-url", "http://127.0.0.1:9",
                           "--output", str(taken)])  # fmt: skip
    assert code == 2 and "--output" in capsys.readouterr().err


def test_diff_refuses_records_without_correctness(tmp_path: Path) -> None:
    from sglang_ci.calibration.flips import load_records

    path = tmp_path / "r.jsonl"
    path.write_text('{"index": 0, "output": "x"}\n')
    with pytest.raises(UsageError, match=r"r\.jsonl:1: not a per-sample record"):
        load_records(path)
