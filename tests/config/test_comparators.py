"""Comparators: each check passes as SGLang's test asserts it (``>`` for assertGreater,
``>=`` for assertGreaterEqual), set per check, suite and job; every report shows it.

The config errors of comparators and threshold ranges are here rather than in
test_config.py, which is at the 400-line limit; they use the same fixture config."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from sglang_ci.cli import main_exit_code
from sglang_ci.config.checks import CHECKS, passes
from sglang_ci.config.errors import ConfigError
from sglang_ci.config.model import load_config
from sglang_ci.outcome.verdict import Status
from sglang_ci.plan.dry_run import render_plan
from sglang_ci.results.report import render
from sglang_ci.results.result_file import JobResult
from sglang_ci.results.summary import stage_table
from tests.config.test_config import error_for, load
from tests.conftest import FIXTURE_TOML, FIXTURES, ConfigEdit
from tests.e2e.test_suites import run_job

WriteConfig = Callable[[ConfigEdit], Path]


def test_each_check_defaults_to_sglangs_comparator() -> None:
    """The comparator of SGLang's shared test code for each kind of check (kits at 1bd4f94598)."""
    expected = {
        # python/sglang/test/kits/eval_accuracy_kit.py@1bd4f94598 line 64 (GSM8KMixin):
        # assertGreaterEqual(metrics["score"], self.gsm8k_accuracy_thres).
        "gsm8k": ">=",
        # python/sglang/test/kits/hellaswag_kit.py@1bd4f94598 line 25: assertGreater.
        "hellaswag": ">",
        # fwd_occupancy_kit.py@1bd4f94598 line 203, eval_accuracy_kit.py line 21 and
        # spec_decoding_kit.py line 31: assertGreater on the accept length.
        "accept-length": ">",
        # fwd_occupancy_kit.py@1bd4f94598 line 183: assertGreater(median, threshold).
        "fwd-occupancy": ">",
    }
    assert {name: check.comparator for name, check in CHECKS.items()} == expected


@pytest.mark.parametrize(
    ("value", "comparator", "threshold", "expected"),
    [
        (0.6, ">", 0.6, False),  # assertGreater(0.6, 0.6) fails
        (0.6, ">=", 0.6, True),  # assertGreaterEqual(0.6, 0.6) passes
        (0.6000001, ">", 0.6, True),
        (0.5999999, ">=", 0.6, False),
        (float("nan"), ">=", 0.6, False),  # a NaN gauge passes nothing
    ],
)
def test_passes(value: float, comparator: str, threshold: float, expected: bool) -> None:
    assert passes(value, comparator, threshold) is expected


def test_job_comparator_over_suite_over_check_default(write_config: WriteConfig) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["suites"]["spec"]["comparators"] = {"gsm8k": ">", "accept-length": ">="}
        doc["stages"]["base-b"]["jobs"][0]["comparators"] = {"gsm8k": ">="}

    path = write_config(edit)
    config = load_config(str(path), {}, path.parent)
    topk1 = config.jobs["spec(model='llama-eagle3', topk=1)"]
    topk3 = config.jobs["spec(model='llama-eagle3', topk=3)"]
    hellaswag = config.jobs["sanity(model='llama3-8b')"]
    assert dict(topk1.comparators) == {"gsm8k": ">=", "accept-length": ">="}  # the job's
    assert dict(topk3.comparators) == {"gsm8k": ">", "accept-length": ">="}  # the suite's
    assert dict(hellaswag.comparators) == {"hellaswag": ">", "fwd-occupancy": ">"}  # defaults
    assert topk3.pass_when("gsm8k") == "> 0.65"


def test_dry_run_states_each_comparator() -> None:
    config = load_config(None, {}, FIXTURES)
    pd = config.find_job("disagg(model='dsv4-flash')")
    plan = render_plan(pd, config.stages[pd.stage], "sglang")
    assert "gsm8k (200 examples, 5-shot, 128 threads): accuracy" in plan
    assert "max_tokens 512) > 0.95  [/v1/completions on the router]" in plan
    sanity = config.find_job("sanity(model='llama-eagle3')")
    plan = render_plan(sanity, config.stages[sanity.stage], "sglang")
    assert "logprob choice) > 0.6" in plan
    assert "min over ranks > 97" in plan
    assert "avg_spec_accept_length > 1.8" in plan


def test_plan_and_list_commands_show_comparators(capsys: pytest.CaptureFixture[str]) -> None:
    config = ["--config", str(FIXTURE_TOML)]
    assert main_exit_code(["plan", "--stage", "extra-a", *config]) == 0
    plan = capsys.readouterr().out
    assert "temperature 0, max_tokens 512) >= 0.41  [" in plan  # derived from baselines
    assert "avg_spec_accept_length > 3.6" in plan and "avg_spec_accept_length >= 1.5" in plan
    assert main_exit_code(["list", "--stage", "stage-c-dsv4", *config]) == 0
    assert "gsm8k > 0.95" in capsys.readouterr().out
    assert main_exit_code(["list", "--json", *config]) == 0
    rows = {row["session"]: row for row in json.loads(capsys.readouterr().out)}
    standalone = rows["spec(model='llama-standalone', topk=2)"]
    assert standalone["comparators"] == {"gsm8k": ">=", "accept-length": ">"}
    assert standalone["thresholds"] == {"gsm8k": 0.69, "accept-length": 3.6}


def test_report_and_stage_table_show_the_comparator(tmp_path: Path) -> None:
    result = JobResult("disagg(model='b')", "stage-c", "stub", 8, status=Status.FAILED,
                       score=0.95, threshold=0.95, comparator=">")  # fmt: skip
    result.write(tmp_path / "b" / "result.json")
    loaded = JobResult.load(tmp_path / "b" / "result.json")
    assert loaded.comparator == ">"
    assert "| `disagg(model='b')` | **failed** | 0.95 / > 0.95 |" in render([loaded])
    assert stage_table([loaded]).splitlines()[1].split()[2:5] == ["0.95", ">", "0.95"]


def test_unknown_comparator_exits_2_with_one_line(
    write_config: WriteConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["stage-c-dsv4"]["jobs"][0]["comparators"]["gsm8k"] = "gt"

    assert main_exit_code(["validate", "--config", str(write_config(edit))]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith(
        "stages.toml: stages.stage-c-dsv4.jobs[0].comparators.gsm8k: unknown comparator 'gt';"
        ' expected one of ">", ">="'
    )


# ------------------------------------------------------------------ bad input: exit 2, one line


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("stages", "stage-c-dsv4", "jobs", 0, "comparators", "gsm8k"), "=>",
         "stages.stage-c-dsv4.jobs[0].comparators.gsm8k: unknown comparator '=>';"
         ' expected one of ">", ">="'),
        (("suites", "spec", "comparators", "accept-length"), "<",
         "suites.spec.comparators.accept-length: unknown comparator '<'"),
        (("stages", "stage-c-dsv4", "jobs", 0, "comparators", "gsm8k"), 1,
         "stages.stage-c-dsv4.jobs[0].comparators.gsm8k: expected a string, got an integer"),
        (("suites", "spec", "comparators", "accept-lenght"), ">",
         "suites.spec.comparators: unknown key 'accept-lenght'. Perhaps you meant"
         " 'accept-length'?"),
        (("stages", "base-a", "jobs", 0, "comparators", "accept-length"), ">",
         "stages.base-a.jobs[0].comparators.accept-length: model 'llama3-8b' runs no"
         " speculative decoding"),
        (("suites", "sanity", "thresholds", "fwd-occupancy"), 100.5,
         "suites.sanity.thresholds.fwd-occupancy: 100.5 is outside fwd-occupancy's range 0..100"),
        (("suites", "sanity", "thresholds", "fwd-occupancy"), 100,
         "suites.sanity.thresholds.fwd-occupancy: '> 100' passes no fwd-occupancy value"),
        (("suites", "sanity", "thresholds", "accept-length"), 0.9,
         "suites.sanity.thresholds.accept-length: 0.9 is outside accept-length's range >= 1"),
        (("suites", "spec", "thresholds", "accept-length"), 1,
         "suites.spec.thresholds.accept-length: '>= 1' passes every accept-length value"),
        (("stages", "stage-c-dsv4", "jobs", 0, "thresholds", "gsm8k"), -0.1,
         "stages.stage-c-dsv4.jobs[0].thresholds.gsm8k: -0.1 is outside gsm8k's range 0..1"),
        (("stages", "stage-c-dsv4", "jobs", 0, "thresholds", "gsm8k"), 1,
         "stages.stage-c-dsv4.jobs[0].thresholds.gsm8k: '> 1' passes no gsm8k value"),
        (("stages", "base-a", "jobs", 0, "thresholds", "hellaswag"), 1.5,
         "stages.base-a.jobs[0].thresholds.hellaswag: 1.5 is outside hellaswag's range 0..1"),
    ],
)  # fmt: skip
def test_bad_comparators_and_thresholds(
    write_config: WriteConfig, path: tuple[str | int, ...], value: object, expected: str
) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        target: Any = doc
        for key in path[:-1]:
            if isinstance(key, str) and key not in target:
                target[key] = tomlkit.inline_table()
            target = target[key]
        target[path[-1]] = value

    assert expected in error_for(write_config, edit)


def test_job_comparator_that_makes_the_suites_threshold_vacuous(
    write_config: WriteConfig,
) -> None:
    """The suite's pair is sound (> 1); the job's ">=" makes it pass every value, so the
    message names the job's key."""

    def edit(doc: tomlkit.TOMLDocument) -> None:
        doc["suites"]["spec"]["thresholds"]["accept-length"] = 1.0
        doc["suites"]["spec"]["comparators"]["accept-length"] = ">"
        doc["stages"]["base-b"]["jobs"][0]["comparators"] = {"accept-length": ">="}

    message = error_for(write_config, edit)
    assert message.endswith(
        "stages.base-b.jobs[0].comparators.accept-length:"
        " '>= 1' passes every accept-length value (range >= 1)"
    )


@pytest.mark.parametrize(
    ("margin", "expected"),
    [
        # Today's bug: a margin larger than the scores gives a negative threshold.
        (0.9, "-0.46 is outside gsm8k's range 0..1"),
        # Exactly 0: in range, yet ">= 0" lets a score of 0 pass.
        (0.44, "'>= 0' passes every gsm8k value (range 0..1)"),
    ],
)
def test_threshold_derived_from_baselines_must_lie_in_the_range(
    write_config: WriteConfig, margin: float, expected: str
) -> None:
    path = write_config(lambda doc: None)
    baselines = path.parent / "baselines.toml"
    baselines.write_text(baselines.read_text().replace("margin = 0.03", f"margin = {margin}"))
    with pytest.raises(ConfigError) as caught:
        load(path)
    message = str(caught.value)
    assert "\n" not in message and caught.value.return_code == 2
    assert message == (
        """baselines.toml: jobs."spec(model='gemma4-31b', topk=1)": gsm8k threshold derived"""
        f" by min - {margin:g} from 20 runs: {expected}"
    )


# ------------------------------------------------------------------ on the stub engine

JOB = "spec(model='llama-eagle3', topk=1)"
# The stub answers the same questions right on every launch when deterministic.
STUB = {"SGLANG_CI_STUB_ACCURACY": "0.7", "SGLANG_CI_STUB_ACCEPT_LENGTH": "1.5"}


def _with(gsm8k: float, comparators: dict[str, str]) -> ConfigEdit:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        job = doc["stages"]["base-b"]["jobs"][0]
        job["args"] = {"enable-deterministic-inference": True}
        job["thresholds"]["gsm8k"] = gsm8k
        job["comparators"] = comparators

    return edit


@pytest.mark.real_process
@pytest.mark.long
def test_a_value_equal_to_its_threshold_fails_strict_and_passes_at_least(
    tmp_path: Path, tag: str
) -> None:
    """Through the whole job runner: the score and the accept length each exactly at
    their thresholds, once with ``>`` (fails, as assertGreater) and once with ``>=``
    (passes, as assertGreaterEqual)."""
    config = tmp_path / "config"
    config.mkdir()

    def write(edit: ConfigEdit) -> Path:
        document = tomlkit.parse(FIXTURE_TOML.read_text())
        edit(document)
        (config / "stages.toml").write_text(tomlkit.dumps(document))
        (config / "baselines.toml").write_text((FIXTURES / "baselines.toml").read_text())
        return config / "stages.toml"

    # 1. Measure the deterministic score.
    path = write(_with(0.5, {}))
    code, output, record = run_job(tmp_path / "measure", tag, JOB, STUB, path)
    assert code == 0, output
    score = record["score"]
    assert 0.5 < score < 1.0

    # 2. gsm8k >= score passes at equality; accept-length > 1.5 fails at 1.5.
    path = write(_with(score, {"gsm8k": ">=", "accept-length": ">"}))
    summary = tmp_path / "summary.md"
    env = {**STUB, "GITHUB_STEP_SUMMARY": str(summary)}
    code, output, record = run_job(tmp_path / "strict-accept", tag, JOB, env, path)
    assert code == 1, output
    rows = {row["check"]: row for row in record["checks"]}
    assert rows["gsm8k"]["value"] == score and rows["gsm8k"]["passed"] is True
    assert rows["gsm8k"]["comparator"] == ">="
    assert rows["accept-length"] == {
        "check": "accept-length",
        "value": 1.5,
        "comparator": ">",
        "threshold": 1.5,
        "passed": False,
    }
    assert record["failure_kind"] == "below threshold"
    assert f"test_accept_length: accept-length 1.5 not > 1.5 ({JOB})" in record["reason"]
    assert record["comparator"] == ">="
    assert "| accept-length | 1.5 | > 1.5 | **FAIL** |" in summary.read_text()

    # 3. gsm8k > score fails at equality; accept-length >= 1.5 passes at 1.5.
    path = write(_with(score, {"gsm8k": ">", "accept-length": ">="}))
    code, output, record = run_job(tmp_path / "strict-score", tag, JOB, STUB, path)
    assert code == 1, output
    rows = {row["check"]: row for row in record["checks"]}
    assert "accept-length" not in rows  # `python3 FILE -f`: the failed score ends the run
    assert rows["gsm8k"]["passed"] is False and rows["gsm8k"]["comparator"] == ">"
    assert record["failure_kind"] == "below threshold" and record["comparator"] == ">"
    missed = re.search(r"gsm8k (\S+) not > (\S+) \(", record["reason"])
    assert missed, record["reason"]
    # Both sides printed alike, so an equal value reads as equal.
    assert missed.group(1) == missed.group(2) and float(missed.group(1)) == score
