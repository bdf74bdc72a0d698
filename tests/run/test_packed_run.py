"""A packed stage run on the stub with stand-in GPUs (``--gpus N``): the GPU sets the
servers took (their /server_info) never overlap in time, a crash stays in its slot, a
cancel and a ``kill -9`` + ``cleanup`` leave nothing, a GPU not released is taken out."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from sglang_ci.launch.gpu_memory import GpuUse
from tests.conftest import ROOT, TAG_ENV, run_python, tagged_processes

pytestmark = pytest.mark.real_process

GITHUB_WINDOW_S = 10.0
METRICS = 'args = { enable-metrics = true }\nenv = { SGLANG_ENABLE_METRICS_DEVICE_TIMER = "1"'


def model(name: str, faults: str = "", tp: int = 1) -> str:
    fault = f', SGLANG_CI_STUB_FAULTS = "{faults}"' if faults else ""
    tp_arg = f", tp-size = {tp}" if tp > 1 else ""
    return (f'[models.{name}]\ndescription = "{name}"\nmodel-path = "m/{name}"\n'
            f"{METRICS.replace('true }', f'true{tp_arg} }}')}{fault} }}\n")  # fmt: skip


def write_stage(folder: Path, models: dict[str, tuple[str, int]], gpus: int,
                extra: str = "") -> Path:  # fmt: skip
    """A packed stage with one sanity job per model: {name: (faults, tp)}."""
    text = "".join(model(name, faults, tp) for name, (faults, tp) in models.items())
    text += ('[suites.sanity]\ndescription = "s"\naxes = ["model"]\nscore = "hellaswag"\n'
             'checks = ["fwd-occupancy"]\nthresholds = { fwd-occupancy = 1.0 }\n'
             f'[stages.packed]\ndescription = "p"\ngpus = {gpus}\nrunner = "r"\ntimeout = 30\n'
             f"pack = true\n{extra}")  # fmt: skip
    for name in models:
        text += (f'[[stages.packed.jobs]]\nsuite = "sanity"\nmodel = "{name}"\n'
                 "thresholds = { hellaswag = 0.1 }\nest-time = 10\n")  # fmt: skip
    path = folder / "stages.toml"
    path.write_text(text)
    return path


def set_est(config: Path, name: str, seconds: int) -> None:
    job = f'model = "{name}"\nthresholds = {{ hellaswag = 0.1 }}\nest-time = '
    config.write_text(config.read_text().replace(job + "10", job + str(seconds)))


def isolated_env(tmp_path: Path, tag: str) -> dict[str, str]:
    return {**os.environ, TAG_ENV: tag, "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks"),
            "SGLANG_CI_LEDGER": str(tmp_path / "ledger")}  # fmt: skip


def run_args(config: Path, results: Path, gpus: int) -> list[str]:
    return ["-m", "sglang_ci", "run", "--stage", "packed", "--config", str(config),
            "--engine", "stub", "--gpus", str(gpus), "--results", str(results)]  # fmt: skip


def results_of(folder: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in folder.glob("*/result.json"):
        data = json.loads(path.read_text())
        found[data["job"]] = data
    return found


def timeline(folder: Path) -> list[dict[str, Any]]:
    return list(json.loads((folder / "packed-packed" / "timeline.json").read_text())["bars"])


def assert_disjoint_in_time(bars: Sequence[dict[str, Any]], results: dict[str, Any]) -> None:
    """Each passing job's servers took the GPUs the runner gave it (a server that died
    before /server_info was read left no record), and two jobs whose intervals overlap
    never shared a GPU."""
    for bar in (b for b in bars if results[b["job"]]["status"] == "passed"):
        taken = {gpu for info in results[bar["job"]]["server_info"].values()
                 for gpu in info["stub_gpu_ids"]}  # fmt: skip
        assert taken == set(bar["gpus"]), bar
    for first, second in itertools.combinations(bars, 2):
        if first["start"] < second["end"] and second["start"] < first["end"]:
            assert not set(first["gpus"]) & set(second["gpus"]), (first, second)


@pytest.mark.long
def test_a_crash_stays_in_its_slot_and_gpus_are_never_shared(tmp_path: Path, tag: str) -> None:
    models = {"crash": ("crash_after=0", 1), "okay": ("slow_start=4", 1),
              "wide": ("slow_start=4", 2), "later": ("", 1)}  # fmt: skip
    config = write_stage(tmp_path, models, 4)
    set_est(config, "later", 1)  # queued last: started only after the crash
    done = run_python(*run_args(config, tmp_path / "out", 4), env=isolated_env(tmp_path, tag),
                      timeout=180)  # fmt: skip
    # One job failed: the stage exits with its code (README's table: server died, 5).
    assert done.returncode == 5, done.stdout + done.stderr
    results = results_of(tmp_path / "out")
    status = {job: data["status"] for job, data in results.items()}
    assert status["sanity(model='crash')"] == "error", status
    assert results["sanity(model='crash')"]["failure_kind"] == "server died"
    assert status["sanity(model='okay')"] == status["sanity(model='wide')"] == "passed"
    assert status["sanity(model='later')"] == "skipped"  # fail-fast: nothing new started
    assert "left to finish" in done.stdout
    bars = timeline(tmp_path / "out")
    assert {bar["job"] for bar in bars} == {"sanity(model='crash')", "sanity(model='okay')",
                                            "sanity(model='wide')"}  # fmt: skip
    assert_disjoint_in_time(bars, results)
    assert "```mermaid\ngantt" in (tmp_path / "out" / "packed-packed" / "timeline.md").read_text()
    assert tagged_processes(tag) == []


def start_busy_run(tmp_path: Path, tag: str) -> subprocess.Popen[str]:
    models = {f"busy{i}": ("slow_answer=60", 1) for i in range(4)}
    config = write_stage(tmp_path, models, 4)
    runner = subprocess.Popen(
        [sys.executable, *run_args(config, tmp_path / "out", 4)], cwd=ROOT, text=True,
        env=isolated_env(tmp_path, tag), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,  # signals go to the runner alone, as a CI runner may send them
    )  # fmt: skip
    wait_for(lambda: len(stubs(tag)) >= 4, 90)
    return runner


def stubs(tag: str) -> list[str]:
    return [p for p in tagged_processes(tag) if "sglang_ci.stub" in p]


def wait_for(condition: Any, timeout: float) -> None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout:.1f} s")


def test_cancel_of_a_packed_run_ends_every_slot(tmp_path: Path, tag: str) -> None:
    runner = start_busy_run(tmp_path, tag)
    try:
        runner.send_signal(signal.SIGINT)
        started = time.monotonic()
        time.sleep(1.5)
        runner.send_signal(signal.SIGTERM)
        left = GITHUB_WINDOW_S - (time.monotonic() - started)
        wait_for(lambda: tagged_processes(tag) == [], left)
        output, _ = runner.communicate(timeout=10)
    finally:
        runner.kill()
    assert runner.returncode == 130, output
    results = results_of(tmp_path / "out")
    assert len(results) == 4
    assert {data["status"] for data in results.values()} == {"cancelled"}, output


def test_kill_9_then_cleanup_reclaims_every_slot(tmp_path: Path, tag: str) -> None:
    runner = start_busy_run(tmp_path, tag)
    runner.kill()  # SIGKILL: no handler runs
    runner.communicate(timeout=10)
    assert len(stubs(tag)) == 4  # the slots outlive their runner until cleanup
    done = run_python("-m", "sglang_ci", "cleanup", env=isolated_env(tmp_path, tag), timeout=60)
    assert done.returncode == 0, done.stderr
    wait_for(lambda: tagged_processes(tag) == [], 5)
    results = results_of(tmp_path / "out")
    assert len(results) == 4
    assert "running" not in {data["status"] for data in results.values()}, results
    assert list((tmp_path / "ledger").glob("*.json")) == []


class HeldGpu:
    """A test-only NVML stand-in: GPU "1" keeps a process once its first job has run."""

    def __init__(self) -> None:
        self.asked = 0
        self.lock = threading.Lock()

    def __call__(self, gpus: Sequence[str]) -> list[GpuUse]:
        with self.lock:
            self.asked += 1
            held = self.asked > 1  # the pool's baseline read (the first call) is clean
        return [GpuUse(gpu, 30_000, ((4242, 30_000),)) if held and gpu == "1"
                else GpuUse(gpu, 0, ()) for gpu in gpus]  # fmt: skip


@pytest.mark.long
def test_a_gpu_not_released_is_taken_out_of_the_pool(
    tmp_path: Path, tag: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:  # fmt: skip
    from sglang_ci.config.model import load_config
    from sglang_ci.run.gpu_pool import GpuPool
    from sglang_ci.run.options import StageOptions
    from sglang_ci.run.packed import run_packed

    models = {"first": ("", 1), "second": ("", 1), "third": ("", 1), "pair": ("", 2)}
    config_path = write_stage(tmp_path, models, 2, extra="continue-on-error = true\n")
    set_est(config_path, "pair", 1)  # queued last: GPU 1 is gone by then
    for key, value in isolated_env(tmp_path, tag).items():
        monkeypatch.setenv(key, value)
    config = load_config(str(config_path), os.environ, tmp_path)
    options = StageOptions(engine="stub", results=str(tmp_path / "out"), stage="packed",
                           gpus=2)  # fmt: skip
    pool = GpuPool(["0", "1"], HeldGpu(), release_s=0.5)
    code = run_packed(config, "packed", list(config.stages["packed"].units), options,
                      os.environ, "stage packed", pool)  # fmt: skip
    out = capsys.readouterr().out
    assert "GPU 1 taken out of the pool" in out and "pid 4242" in out
    assert set(pool.removed) == {"1"}
    results = results_of(tmp_path / "out")
    bars = timeline(tmp_path / "out")
    # Three one-GPU jobs ran; GPU 1 took only the first placed on it, GPU 0 the others.
    assert len(bars) == 3
    assert sum("1" in bar["gpus"] for bar in bars) == 1
    assert results["sanity(model='pair')"]["status"] == "error"
    assert "only 1 are left in the pool" in results["sanity(model='pair')"]["reason"]
    assert code == 3  # the one failure is the pair's: too few GPUs, as a GPU shortage exits
    assert tagged_processes(tag) == []


def test_fail_fast_end_ends_the_running_neighbours(tmp_path: Path, tag: str) -> None:
    """pack-fail-fast = "end": the crash ends its running neighbour (skipped, saying so),
    and the stage exits with the failure's code, not a cancellation's."""
    models = {"crash": ("crash_after=0", 1), "busy": ("slow_answer=60", 1)}
    config = write_stage(tmp_path, models, 2, extra='pack-fail-fast = "end"\n')
    done = run_python(*run_args(config, tmp_path / "out", 2), env=isolated_env(tmp_path, tag),
                      timeout=120)  # fmt: skip
    assert done.returncode == 5, done.stdout + done.stderr  # the crash's code: server died
    results = results_of(tmp_path / "out")
    busy = results["sanity(model='busy')"]
    assert busy["status"] == "skipped", busy
    assert busy["reason"].startswith("ended: fail-fast after sanity(model='crash') error")
    assert 'ended 1 running job(s) (pack-fail-fast = "end")' in done.stdout
    assert tagged_processes(tag) == []


def test_report_carries_the_packed_timeline(tmp_path: Path) -> None:
    """`report` over the artifacts of a packed run shows its Gantt after the tables."""
    from sglang_ci.outcome.verdict import Verdict
    from sglang_ci.results.result_file import JobResult
    from sglang_ci.results.timeline import Bar, write_timeline

    result = JobResult("job-a", "packed", "stub", 1)
    result.finish(Verdict.passed())
    (tmp_path / "job-a").mkdir()
    result.write(tmp_path / "job-a" / "result.json")
    write_timeline(tmp_path / "packed-packed", [Bar("job-a", ("0",), 0.0, 5.0, "passed")],
                   "stage packed", ["0"], [], {})  # fmt: skip
    done = run_python("-m", "sglang_ci", "report", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "```mermaid\ngantt" in done.stdout
    assert "    job-a (passed) :done, 0, 5" in done.stdout
    has_matplotlib = importlib.util.find_spec("matplotlib") is not None
    assert (tmp_path / "packed-packed" / "timeline.png").is_file() == has_matplotlib


def test_a_late_signal_of_a_cancel_cannot_kill_the_cancelled_run(
    tmp_path: Path, tag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GitHub sends SIGTERM 7.5 s after its SIGINT: once the packed run was cancelled and its
    report is out, that SIGTERM must find the signal ignored, not the default handler that
    would end the runner by signal instead of exit 130 (seen on a loaded CI machine)."""
    from sglang_ci.config.model import load_config
    from sglang_ci.run.gpu_pool import GpuPool
    from sglang_ci.run.options import StageOptions
    from sglang_ci.run.packed import PackedRun

    config_path = write_stage(tmp_path, {"only": ("", 1)}, 1)
    for key, value in isolated_env(tmp_path, tag).items():
        monkeypatch.setenv(key, value)
    config = load_config(str(config_path), os.environ, tmp_path)
    options = StageOptions(engine="stub", results=str(tmp_path / "out"), stage="packed", gpus=1)
    packed = PackedRun(config, "packed", [], options, os.environ, GpuPool(["0"], HeldGpu()))
    before = signal.getsignal(signal.SIGTERM)
    try:
        packed.previous = {signal.SIGTERM: signal.SIG_DFL}
        packed.restore()  # not cancelled: the handler it found comes back
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        packed.on_signal(signal.SIGINT, None)
        packed.restore()
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, before)
