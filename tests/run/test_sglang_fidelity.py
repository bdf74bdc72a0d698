"""Issue 22: a job gives the verdict SGLang's CI gives for the same test.

Expected values are written here from reading SGLang's sources at the cited commits, not
from our code: the seed test files (thresholds, launch timeouts, subTest loops,
register_cuda_ci), test_utils.py (CustomTestCase, popen_launch_server,
DEFAULT_TIMEOUT_FOR_SERVER_LAUNCH) at 9040feebd8 and 6ed5780c4f, run_suite.py and
ci_register.py at 6ed5780c4f, disaggregation_fixture.py at 5227b07669 and
simple_eval_common.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from sglang_ci.cli import main_exit_code
from sglang_ci.config.checks import passes
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
from tests.conftest import ROOT

G26 = "spec(model='gemma4-26b-a4b', topk={})"
G31 = "spec(model='gemma4-31b', topk={})"
E4B = "spec(model='gemma4-e4b-frozen-kv', topk={})"
STANDALONE = ("spec(model='llama-standalone', topk=2, backend='fa3')",
              "spec(model='llama-standalone', topk=2, backend='flashinfer')",
              "spec(model='llama-standalone', topk=2)")  # fmt: skip
SANITY = ("sanity(model='llama-eagle3')", "sanity(model='llama3-8b')")
DSV4 = "disagg(model='dsv4-flash')"


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(None, {}, ROOT)


# ---------------------------------------------------------------- 2. float thresholds


def test_26b_floor_is_the_float_sglang_compares_with(config: Config) -> None:
    """GSM8K_SCORE_THRESHOLD = min({1: 0.445, 3: 0.440}.values()) - 0.03 with
    assertGreaterEqual (621a79728c): 82/200 = 0.41 fails there, so it fails here."""
    sglang_floor = min({1: 0.445, 3: 0.440}.values()) - 0.03
    for topk in (1, 3):
        job = config.jobs[G26.format(topk)]
        assert job.threshold("gsm8k") == sglang_floor
        assert job.comparator("gsm8k") == ">="
        assert not passes(82 / 200, job.comparator("gsm8k"), job.threshold("gsm8k") or 0)
        assert passes(83 / 200, job.comparator("gsm8k"), job.threshold("gsm8k") or 0)
    for topk in (1, 3):  # test_gemma4_mtp_31b_extra.py @ 9040feebd8: {1: 0.805, 3: 0.805}
        assert config.jobs[G31.format(topk)].threshold("gsm8k") == 0.805 - 0.03


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


def test_launch_timeout_is_each_tests(config: Config) -> None:
    """DEFAULT_TIMEOUT_FOR_SERVER_LAUNCH = 600; the Gemma files and the frozen-KV file wait
    3 x that; the standalone fixture and the DSV4 PD test 600; base-a's 5090 is Blackwell,
    where test_utils.py raises the default to 3000."""
    expected = {
        **{G26.format(k): 1800.0 for k in (1, 3)}, **{G31.format(k): 1800.0 for k in (1, 3)},
        **{E4B.format(k): 1800.0 for k in (1, 3)}, **dict.fromkeys(STANDALONE, 600.0),
        **dict.fromkeys(SANITY, 3000.0), DSV4: 600.0,
    }  # fmt: skip
    assert {job_id: config.jobs[job_id].launch_timeout for job_id in expected} == expected


def test_the_launch_waits_the_jobs_timeout(config: Config, tmp_path: Path) -> None:
    job = config.jobs[STANDALONE[0]]
    settings = orchestrator.launch_settings(RunOptions(), tmp_path, {}, job)
    assert settings.launch_timeout == 600.0
    given = RunOptions(launch_timeout=42.0)
    assert orchestrator.launch_settings(given, tmp_path, {}, job).launch_timeout == 42.0
    stub = RunOptions(engine="stub")
    assert orchestrator.launch_settings(stub, tmp_path, {}, job).launch_timeout == 60.0


def test_the_issues_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    """`job "spec(model='gemma4-26b-a4b', topk=1)" --dry-run`: the threshold as SGLang
    computes it, the launch timeout, and the time limit shared with topk 3."""
    assert main_exit_code(["job", G26.format(1), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "min(0.445, 0.44) - 0.03 = 0.41000000000000003" in out
    assert "launch timeout: 1800 s" in out
    limit = next(line for line in out.splitlines() if "time limit:" in line)
    assert "1200 s" in limit and G26.format(3) in limit
    assert "test/registered/spec/test_gemma4_mtp_26b_a4b_extra.py" in limit


def test_jobs_of_one_file_are_siblings_in_file_order(config: Config) -> None:
    assert siblings(config, G26.format(3)) == (G26.format(1), G26.format(3))
    assert siblings(config, STANDALONE[2]) == STANDALONE
    assert siblings(config, DSV4) == (DSV4,)


def test_file_budget_is_what_the_earlier_siblings_left(config: Config) -> None:
    budget = FileBudget(config)
    assert budget.left(G26.format(1), 1200) == 1200
    budget.spend([G26.format(1)], 700)
    assert budget.left(G26.format(3), 1200) == 500
    assert budget.left(G31.format(1), 1200) == 1200  # another file: its own limit


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
    spent = {G26.format(1): 700.0, G26.format(3): 100.0, G31.format(1): 1300.0,
             G31.format(3): 1.0}  # fmt: skip

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
    ids = [G26.format(1), G26.format(3), G31.format(1), G31.format(3)]
    orchestrator.run_jobs(config, ids, options, {})
    assert limits == {G26.format(1): 1200.0, G26.format(3): 500.0, G31.format(1): 1200.0}
    record = json.loads((tmp_path / job_dir_name(G31.format(3)) / "result.json").read_text())
    assert record["failure_kind"] == "time limit" and "spent its time limit" in record["reason"]


# ---------------------------------------------------------------- 1. per-test retry


def test_per_test_retries_as_custom_test_case(config: Config) -> None:
    """CustomTestCase retries a test method once in CI; the Gemma and frozen-KV files loop
    over subTests inside one method under -f, which a retry cannot rescue."""
    for job_id in (*STANDALONE, *SANITY, DSV4):
        assert config.jobs[job_id].test_retries == 1, job_id
    for job_id in (*(f.format(k) for f in (G26, G31, E4B) for k in (1, 3)),):
        assert config.jobs[job_id].test_retries == 0, job_id


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


def _plan_order(stage: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main_exit_code(["run", "--stage", stage, "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    return [line for line in lines if line.startswith(("spec(", "sanity(", "disagg("))]


def test_a_stage_runs_in_run_suites_order(capsys: pytest.CaptureFixture[str]) -> None:
    """ci_register.py: a shard's files longest first (EAGLE3's 200 s before 160 s); inside
    the standalone file unittest's class order: Base (fa3), Flashinfer, Triton."""
    assert _plan_order("base-a", capsys) == list(SANITY)
    assert _plan_order("extra-a-test-1-gpu-large", capsys) == list(STANDALONE)
    # extra-a: the 26B and 31B files both 720 s: by file name, each file's topk 1 then 3.
    assert _plan_order("extra-a", capsys) == [G26.format(1), G26.format(3),
                                              G31.format(1), G31.format(3)]  # fmt: skip


def test_the_suite_stops_at_its_first_failure(tmp_path: Path) -> None:
    """run_suite runs `python3 FILE -f`: failfast."""
    assert "-x" in suite_args(tmp_path / "test_spec.py", tmp_path)


# ---------------------------------------------------------------- 12. SGLang's suite names


def test_list_and_plan_name_sglangs_suite(capsys: pytest.CaptureFixture[str]) -> None:
    assert main_exit_code(["list"]) == 0
    out = capsys.readouterr().out
    for ours, theirs in (("base-a", "base-a-test-1-gpu-small"),
                         ("base-b", "base-b-test-1-gpu-large"),
                         ("extra-a", "extra-a-test-2-gpu-large"),
                         ("stage-c-dsv4", "stage-c-test-dsv4-8-gpu-h200")):  # fmt: skip
        assert f"{ours} (SGLang: {theirs})" in out
    assert main_exit_code(["plan", "--stage", "stage-c-dsv4"]) == 0
    assert capsys.readouterr().out.startswith(
        "stage stage-c-dsv4 (SGLang: stage-c-test-dsv4-8-gpu-h200):"
    )


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


def test_the_switch_reaches_the_launch_and_the_config(config: Config, tmp_path: Path) -> None:
    job = config.jobs[SANITY[0]]
    on = RunOptions(sglang_sequence=True)
    assert orchestrator.launch_settings(on, tmp_path, {}, job).sglang_sequence
    assert not orchestrator.launch_settings(RunOptions(), tmp_path, {}, job).sglang_sequence
    assert config.jobs[G26.format(1)].suite.sglang_steps == ("flush", "server-info")
    assert job.suite.sglang_steps == () and config.jobs[DSV4].suite.sglang_steps == ()
