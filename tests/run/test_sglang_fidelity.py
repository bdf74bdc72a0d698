"""Issue 22: a job gives the verdict SGLang's CI gives for the same test.

Expected values are written here from reading SGLang's sources at the cited commits, not
from our code: test_utils.py (CustomTestCase, popen_launch_server,
DEFAULT_TIMEOUT_FOR_SERVER_LAUNCH) at 9040feebd8 and 6ed5780c4f, run_suite.py and
ci_register.py at 6ed5780c4f, disaggregation_fixture.py at 5227b07669 and
simple_eval_common.py. The mechanisms run on the fixture config; that the shipped seed
jobs carry the seed tests' thresholds, launch timeouts, retries, order and suite names is
tests/test_shipped_stages.py's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from sglang_ci.cli import main_exit_code
from sglang_ci.config.model import Config, load_config
from sglang_ci.config.schema import Job
from sglang_ci.outcome.verdict import Status, Verdict
from sglang_ci.plan.commands import ib_device
from sglang_ci.plan.file_budget import FileBudget, siblings
from sglang_ci.plan.rdma import ci_devices, sysfs_devices
from sglang_ci.results.report import render
from sglang_ci.results.result_file import JobResult, job_dir_name
from sglang_ci.run import orchestrator
from sglang_ci.run.options import RunOptions
from sglang_ci.run.suite_plugin import method_retries, suite_args
from tests.conftest import ConfigEdit

G31 = "spec(model='gemma4-31b', topk={})"
# The fixture's standalone jobs in stages.toml order (triton, then the backend array).
STANDALONE = ("spec(model='llama-standalone', topk=2)",
              "spec(model='llama-standalone', topk=2, backend='flashinfer')",
              "spec(model='llama-standalone', topk=2, backend='fa3')")  # fmt: skip
SANITY = "sanity(model='llama-eagle3')"
DSV4 = "disagg(model='dsv4-flash')"
G31_FILE = "test/registered/spec/test_gemma4_mtp_31b_extra.py"
STANDALONE_FILE = "test/registered/spec/test_spec_standalone_extra.py"


@pytest.fixture
def config(write_config: Callable[[ConfigEdit], Path]) -> Config:
    """The fixture config with extra-a's jobs registered as SGLang registers such jobs:
    both gemma4-31b topks from one file (a subTest loop), the three standalone backends
    from another."""

    def edit(document: tomlkit.TOMLDocument) -> None:
        for job in document["stages"]["extra-a"]["jobs"]:
            job["sglang-file"] = G31_FILE if job["model"] == "gemma4-31b" else STANDALONE_FILE

    path = write_config(edit)
    return load_config(str(path), {}, path.parent)


# ---------------------------------------------------------------- 2. float thresholds


@pytest.mark.parametrize(
    ("value", "message"),
    [({"observed": [], "margin": 0.03}, "needs at least one observed score"),
     ({"observed": [0.4, "x"], "margin": 0.03}, "observed[1]: expected a number"),
     ({"observed": [0.4], "margin": -1.0}, "margin: must be 0 or more"),
     ({"observed": [0.4]}, "missing required key 'margin'"),
     ({"observed": [0.4], "margin": 0.03, "k": 2}, "unknown key 'k'")],
)  # fmt: skip
def test_a_bad_derived_threshold_is_one_line(
    write_config: Any, value: dict[str, object], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def edit(document: tomlkit.TOMLDocument) -> None:
        job = document["stages"]["extra-a"]["jobs"][0]
        job["thresholds"] = {"gsm8k": value}

    path = write_config(edit)
    assert main_exit_code(["validate", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


# ------------------------------------------------- 3, 4, and the dry run of the issue


def test_the_launch_waits_the_jobs_timeout(config: Config, tmp_path: Path) -> None:
    job = config.jobs[STANDALONE[0]]
    settings = orchestrator.launch_settings(RunOptions(), tmp_path, {}, job)
    assert settings.launch_timeout == 600.0
    given = RunOptions(launch_timeout=42.0)
    assert orchestrator.launch_settings(given, tmp_path, {}, job).launch_timeout == 42.0
    stub = RunOptions(engine="stub")
    assert orchestrator.launch_settings(stub, tmp_path, {}, job).launch_timeout == 60.0


def test_jobs_of_one_file_are_siblings_in_file_order(config: Config) -> None:
    assert siblings(config, G31.format(3)) == (G31.format(1), G31.format(3))
    assert siblings(config, STANDALONE[2]) == STANDALONE
    assert siblings(config, DSV4) == (DSV4,)  # no sglang-file: a file of its own


def test_file_budget_is_what_the_earlier_siblings_left(config: Config) -> None:
    budget = FileBudget(config)
    assert budget.left(G31.format(1), 1200) == 1200
    budget.spend([G31.format(1)], 700)
    assert budget.left(G31.format(3), 1200) == 500
    assert budget.left(STANDALONE[0], 1200) == 1200  # another file: its own limit


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


def test_a_file_shares_one_limit_at_run_time(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_suite gives extra-a's file 1200 s for both topks: topk 1 taking 700 s leaves 500 s
    to topk 3; a file whose first job used it all gives the next one nothing (a time-limit
    failure, no launch); the other file starts afresh."""
    clock, limits = _Clock(), {}
    spent = {G31.format(1): 700.0, G31.format(3): 100.0, STANDALONE[0]: 1300.0,
             STANDALONE[1]: 1.0}  # fmt: skip

    def fake_run(_config: Config, job: Job, _options: RunOptions, _env: object,
                 time_limit: float | None = None) -> JobResult:  # fmt: skip
        limits[job.id] = time_limit
        clock.now += spent[job.id]
        result = JobResult(job.id, job.stage, "stub", job.gpus)
        result.finish(Verdict.passed())
        return result

    monkeypatch.setattr(orchestrator, "run_with_retries", fake_run)
    monkeypatch.setattr(orchestrator, "time", clock)
    monkeypatch.setattr(orchestrator, "cleanup_before_run", lambda: None)
    options = RunOptions(engine="stub", results=str(tmp_path), continue_on_error=True)
    ids = [G31.format(1), G31.format(3), STANDALONE[0], STANDALONE[1]]
    orchestrator.run_jobs(config, ids, options, {})
    assert limits == {G31.format(1): 1200.0, G31.format(3): 500.0, STANDALONE[0]: 1200.0}
    record = json.loads((tmp_path / job_dir_name(STANDALONE[1]) / "result.json").read_text())
    assert record["failure_kind"] == "time limit" and "spent its time limit" in record["reason"]


# ---------------------------------------------------------------- 1. per-test retry


def test_sglang_test_max_retry_overrides_as_in_sglang() -> None:
    assert method_retries(1, {}) == 1
    assert method_retries(1, {"SGLANG_TEST_MAX_RETRY": "3"}) == 3
    assert method_retries(1, {"SGLANG_TEST_MAX_RETRY": "0"}) == 0
    assert method_retries(0, {"SGLANG_TEST_MAX_RETRY": "3"}) == 0  # a subTest stays failed


# ---------------------------------------------------------------- 5. ib device


def _device(root: Path, name: str, state: str, rate: str | None) -> None:
    port = root / name / "ports" / "1"
    port.mkdir(parents=True)
    (port / "state").write_text(state + "\n")
    if rate is not None:
        (port / "rate").write_text(rate + "\n")


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    root = tmp_path / "infiniband"
    _device(root, "mlx5_0", "4: ACTIVE", "400 Gb/sec (4X NDR)")
    _device(root, "mlx5_1", "1: DOWN", "400 Gb/sec (4X NDR)")  # not active
    _device(root, "mlx5_2", "4: ACTIVE", "25 Gb/sec (1X EDR)")  # too slow
    _device(root, "mlx5_3", "4: ACTIVE", None)  # rate unreadable: kept
    _device(root, "mlx5_4", "4: ACTIVE", "200 Gb/sec (4X HDR)")
    _device(root, "mlx5_5", "4: ACTIVE", "400 Gb/sec (4X NDR)")
    _device(root, "mlx5_eth0", "4: ACTIVE", "400 Gb/sec")  # an Ethernet NIC
    (root / "mlx5_6").mkdir()  # no port 1
    return root


def test_sysfs_devices_as_the_fixture_filters(sysfs: Path) -> None:
    assert sysfs_devices(sysfs) == ["mlx5_0", "mlx5_3", "mlx5_4", "mlx5_5"]
    assert sysfs_devices(sysfs / "missing") == []


def test_ci_picks_first_and_middle_device(sysfs: Path) -> None:
    ci = {"SGLANG_IS_IN_CI": "true"}
    assert ib_device(ci, sysfs) == "mlx5_0,mlx5_4"  # 4 devices: [0] and [2]
    assert ib_device(ci, sysfs / "missing") == "mlx5_roce0,mlx5_roce4"
    listed = {**ci, "SGLANG_CI_RDMA_ALL_DEVICES": "a, b ,c"}
    assert ib_device(listed, sysfs) == "a,b"
    # More than 4 visible GPUs, or more devices than GPUs: the pair.
    assert ci_devices({**ci, "CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7"}, sysfs) == "mlx5_0,mlx5_4"
    assert ci_devices({**ci, "CUDA_VISIBLE_DEVICES": "4,5"}, sysfs) == "mlx5_0,mlx5_4"
    # 4 GPUs over 2 devices: 2 GPUs each, from the lowest visible GPU.
    two = {**ci, "SGLANG_CI_RDMA_ALL_DEVICES": "x,y", "CUDA_VISIBLE_DEVICES": "4,5,6,7"}
    assert ci_devices(two, sysfs) == "x,y"
    one = {**ci, "SGLANG_CI_RDMA_ALL_DEVICES": "x", "CUDA_VISIBLE_DEVICES": "0,1,2"}
    assert ci_devices(one, sysfs) == "x"


def test_outside_ci_the_fixtures_variable_or_nothing(sysfs: Path) -> None:
    assert ib_device({}, sysfs) is None
    assert ib_device({"SGLANG_TEST_PD_DISAGG_DEVICES": "mlx5_7"}, sysfs) == "mlx5_7"
    # The runner's own override wins, in CI too.
    assert ib_device({"SGLANG_IS_IN_CI": "1", "SGLANG_CI_IB_DEVICE": "m"}, sysfs) == "m"


# ---------------------------------------------------------------- 6. request timeout


def test_requests_wait_as_sglangs_eval_client() -> None:
    """simple_eval_common.py: httpx.Timeout(3600) per request."""
    assert RunOptions().request_timeout == 3600.0


# ---------------------------------------------------------------- 8. order and -f


def test_the_suite_stops_at_its_first_failure(tmp_path: Path) -> None:
    """run_suite runs `python3 FILE -f`: failfast."""
    assert "-x" in suite_args(tmp_path / "test_spec.py", tmp_path)


# ---------------------------------------------------------------- 12. SGLang's suite names


def test_report_names_sglangs_suite() -> None:
    result = JobResult(DSV4, "stage-c-dsv4", "sglang", 8,
                       sglang_suite="stage-c-test-dsv4-8-gpu-h200")  # fmt: skip
    result.finish(Verdict.passed())
    assert result.status is Status.PASSED
    report = render([result])
    assert "### stage-c-dsv4 (SGLang: stage-c-test-dsv4-8-gpu-h200): 1/1 passed" in report


# ---------------------------------------------------------------- 11. --sglang-sequence


def _steps_taken(monkeypatch: pytest.MonkeyPatch, sequence: bool, steps: tuple[str, ...]
                 ) -> tuple[list[str], JobResult]:  # fmt: skip
    """run_checks against a fake run: which requests it sends (one seam: the requests)."""
    from types import SimpleNamespace

    from sglang_ci.run import server_checks

    sent: list[str] = []
    monkeypatch.setattr(server_checks, "smoke_generate", lambda *_: sent.append("generate"))
    monkeypatch.setattr(server_checks, "flush_cache", lambda *_: sent.append("flush"))

    def info(*_: object) -> dict[str, object]:
        sent.append("server-info")
        return {"tp_size": 1}

    monkeypatch.setattr(server_checks, "server_info", info)
    server = SimpleNamespace(role="server", url="http://127.0.0.1:9", api_key=None)
    run = SimpleNamespace(settings=SimpleNamespace(sglang_sequence=sequence, request_timeout=1),
                          api_key=None, url=server.url, servers=[server])  # fmt: skip
    result = JobResult("job", "stage", "stub", 1)
    server_checks.run_checks(run, result, __import__("threading").Event(), steps)  # type: ignore[arg-type]
    return sent, result


def test_the_improvements_run_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    sent, result = _steps_taken(monkeypatch, False, ())
    assert sent == ["generate", "flush", "server-info"] and result.server_info


def test_sglang_sequence_keeps_only_what_the_sglang_test_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sanity and DSV4 tests neither flush nor read /server_info; the Gemma tests do both."""
    sent, result = _steps_taken(monkeypatch, True, ())
    assert sent == [] and result.server_info == {}
    sent, _ = _steps_taken(monkeypatch, True, ("flush", "server-info"))
    assert sent == ["flush", "server-info"]


def test_the_switch_reaches_the_launch(config: Config, tmp_path: Path) -> None:
    job = config.jobs[SANITY]
    on = RunOptions(sglang_sequence=True)
    assert orchestrator.launch_settings(on, tmp_path, {}, job).sglang_sequence
    assert not orchestrator.launch_settings(RunOptions(), tmp_path, {}, job).sglang_sequence
