"""Eval data whose labels cannot be scored is refused (issue 20, item 2): one line, exit
2, before any process starts (the autouse guard fails any spawn), as SGLang's GSM8K code
asserts every label valid. Before, 40 answers of "It depends." scored 1.0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sglang_ci.cli import main_exit_code
from sglang_ci.config.errors import UsageError
from sglang_ci.data import GSM8K_SAMPLE, HELLASWAG_SAMPLE
from sglang_ci.evals import gsm8k, hellaswag
from tests.conftest import FIXTURE_TOML

GSM8K_JOB = "spec(model='gemma4-31b', topk=3)"  # scores gsm8k
HELLASWAG_JOB = "sanity(model='llama3-8b')"  # scores hellaswag


def sample(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def gsm8k_lines(answer: object, where: int = 7) -> list[dict[str, Any]]:
    lines = sample(GSM8K_SAMPLE)
    lines[where]["answer"] = answer
    return lines


def hellaswag_lines(**change: object) -> list[dict[str, Any]]:
    lines = sample(HELLASWAG_SAMPLE)
    lines[3].update(change)
    return lines


BAD = [
    ("SGLANG_CI_GSM8K_DATA", GSM8K_JOB,
     [dict(line, answer="It depends.") for line in sample(GSM8K_SAMPLE)][:40],
     "record 1: answer 'It depends.' has no number"),
    ("SGLANG_CI_GSM8K_DATA", GSM8K_JOB, gsm8k_lines(None), "record 8: answer is None, not text"),
    ("SGLANG_CI_GSM8K_DATA", GSM8K_JOB, gsm8k_lines("#### many"), "record 8: answer"),
    ("SGLANG_CI_HELLASWAG_DATA", HELLASWAG_JOB, hellaswag_lines(label=7),
     "record 4: label 7 does not name one of its 4 endings"),
    ("SGLANG_CI_HELLASWAG_DATA", HELLASWAG_JOB, hellaswag_lines(label=-1), "label -1"),
    ("SGLANG_CI_HELLASWAG_DATA", HELLASWAG_JOB, hellaswag_lines(endings=["only one"], label=0),
     "record 4: 1 ending(s), nothing to choose from"),
    ("SGLANG_CI_HELLASWAG_DATA", HELLASWAG_JOB, hellaswag_lines(label=None), "label None"),
]  # fmt: skip


@pytest.mark.parametrize(("variable", "job", "lines", "message"), BAD)
def test_bad_eval_data_is_one_line_before_anything_starts(
    variable: str, job: str, lines: list[dict[str, Any]], message: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(line) + "\n" for line in lines))
    monkeypatch.setenv(variable, str(data))
    results = tmp_path / "results"
    code = main_exit_code(["job", job, "--engine", "stub", "--config",
                           str(FIXTURE_TOML), "--results", str(results)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert message in err and f"{variable}={data}" in err and "fix or remove" in err
    assert not results.exists()  # nothing started, nothing written


def test_the_shipped_samples_pass_the_check() -> None:
    assert len(gsm8k.build_samples(sample(GSM8K_SAMPLE), 5, 200)) > 0
    assert len(hellaswag.build_samples(sample(HELLASWAG_SAMPLE), 5, 200)) > 0
    hub_style = [dict(line, label=str(line["label"])) for line in sample(HELLASWAG_SAMPLE)]
    assert hellaswag.build_samples(hub_style, 5, 200)  # the hub keeps labels as text


def test_a_bad_label_among_the_shots_is_refused_too() -> None:
    with pytest.raises(UsageError, match="record 2: answer is None"):
        gsm8k.build_samples(gsm8k_lines(None, where=1), 5, 3)


def test_records_past_the_evaluated_ones_are_not_judged() -> None:
    lines = gsm8k_lines("It depends.", where=-1)
    assert len(gsm8k.build_samples(lines, 5, 3)) == 3  # the last record is never used
