"""calibrate and diff on the stub engine: the seed 001/003 workflow as one command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomlkit

from sglang_ci.calibration.calibrate import Calibration, CalibrationRun, baseline_entries
from sglang_ci.config.baselines import append_runs
from sglang_ci.config.model import load_config
from sglang_ci.results.result_file import job_dir_name
from tests.conftest import FIXTURES, TAG_ENV, run_python, tagged_processes

pytestmark = pytest.mark.real_process

# The fixture's job whose threshold comes from baselines.toml, made deterministic here.
DETERMINISTIC = "spec(model='gemma4-31b', topk=1)"
NONDETERMINISTIC = "spec(model='gemma4-31b', topk=3)"


def project_copy(tmp_path: Path, baselines: str | None = None) -> Path:
    """The fixture stages.toml and baselines.toml in a folder of the test's own (--write
    edits it)."""
    folder = tmp_path / "project"
    folder.mkdir()
    # DETERMINISTIC takes its threshold from its recorded runs (the path calibrate --write
    # feeds) and runs with batch-invariant kernels, as seed 001's 26B job does.
    document = tomlkit.parse((FIXTURES / "stages.toml").read_text())
    for job in document["stages"]["extra-a"]["jobs"]:
        if job["model"] == "gemma4-31b" and job["topk"] == 1:
            job["args"]["enable-deterministic-inference"] = True
    (folder / "stages.toml").write_text(tomlkit.dumps(document))
    (folder / "baselines.toml").write_text(baselines or (FIXTURES / "baselines.toml").read_text())
    return folder


def calibrate(tmp_path: Path, tag: str, folder: Path, job: str, *extra: str,
              accuracy: str = "0.5") -> tuple[int, str]:  # fmt: skip
    result = run_python(
        "-m", "sglang_ci", "calibrate", job, "--engine", "stub", "--config",
        str(folder / "stages.toml"), "--results", str(tmp_path / "results"), *extra,
        env={TAG_ENV: tag, "SGLANG_CI_STUB_ACCURACY": accuracy,
             "SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks")},
        timeout=300,
    )  # fmt: skip
    assert tagged_processes(tag) == []
    return result.returncode, result.stdout + result.stderr


def test_deterministic_calibration_of_twenty_runs(tmp_path: Path, tag: str) -> None:
    code, output = calibrate(tmp_path, tag, project_copy(tmp_path), DETERMINISTIC,
                             "--runs", "20")  # fmt: skip
    assert code == 0, output
    assert "20 runs of gsm8k (55 examples)" in output
    assert "std          0.0000" in output and "distinct     1" in output
    assert "deterministic: all 20 runs identical question by question" in output
    assert "current 0.41 (min - 0.03, 20 recorded runs)" in output
    folder = tmp_path / "results" / "calibrate" / job_dir_name(DETERMINISTIC)
    assert len(list(folder.glob("run-*/gsm8k.jsonl"))) == 20
    assert (folder / "calibration.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_nondeterministic_calibration_lists_flips(tmp_path: Path, tag: str) -> None:
    code, output = calibrate(tmp_path, tag, project_copy(tmp_path), NONDETERMINISTIC,
                             "--runs", "4")  # fmt: skip
    assert code == 0, output
    std = float(next(line for line in output.splitlines() if "  std " in line).split()[-1])
    assert std > 0
    assert "nondeterministic: answers differ between runs;" in output
    assert "questions changed correctness across 4 runs" in output
    folder = tmp_path / "results" / "calibrate" / job_dir_name(NONDETERMINISTIC)
    diff = run_python("-m", "sglang_ci", "diff", str(folder))
    assert diff.returncode == 1 and "questions changed correctness across 4 runs" in diff.stdout
    runs = sorted(folder.glob("run-*/gsm8k.jsonl"))
    pair = run_python("-m", "sglang_ci", "diff", str(runs[0]), str(runs[1]))
    first = [json.loads(line) for line in runs[0].read_text().splitlines()]
    second = [json.loads(line) for line in runs[1].read_text().splitlines()]
    changed = sum(a["correct"] != b["correct"] for a, b in zip(first, second, strict=True))
    assert pair.stdout.startswith(f"{changed} of 55 questions changed correctness")
    same = run_python("-m", "sglang_ci", "diff", str(runs[0]), str(runs[0]))
    assert same.returncode == 0 and same.stdout.startswith("0 of 55")


def test_write_then_validate_derives_the_threshold(tmp_path: Path) -> None:
    # No evidence yet for DETERMINISTIC: the config is invalid until it is recorded.
    text = (FIXTURES / "baselines.toml").read_text()
    without = text[: text.index(f'[[jobs."{DETERMINISTIC}".runs]]')]
    folder = project_copy(tmp_path, without)
    invalid = run_python("-m", "sglang_ci", "validate", "--config", str(folder / "stages.toml"))
    assert invalid.returncode == 2 and "calibrate --write" in invalid.stderr
    # What --write records after three identical runs on the real engine (the stub's are
    # refused: test_evidence.py).
    job = load_config(str(folder / "stages.toml"), {}, folder, lenient_scores=True).find_job(
        DETERMINISTIC
    )
    runs = [CalibrationRun(n, 0.8, 200, tmp_path / f"run-{n}.jsonl") for n in (1, 2, 3)]
    calibration = Calibration(job, "gsm8k", runs, "sglang", "0.5.6", "2x H100", False)
    append_runs(folder / "baselines.toml", DETERMINISTIC, baseline_entries(calibration))
    valid = run_python("-m", "sglang_ci", "validate", "--config", str(folder / "stages.toml"))
    assert valid.returncode == 0, valid.stderr
    # min - 0.03 over 0.8 x 3 (seed 001's rule), rounded down to 0.001
    assert (f"{DETERMINISTIC}: gsm8k >= 0.77 from 3 recorded runs (min - 0.03)"
            in valid.stdout), valid.stdout  # fmt: skip
    written = (folder / "baselines.toml").read_text()
    assert written.startswith(without.rstrip("\n"))  # comments and layout untouched
    assert "repeat = 3" in written and "deterministic = true" in written


def test_bad_diff_input_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    result = run_python("-m", "sglang_ci", "diff", str(bad), str(bad))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"sglang-ci: error: {bad}:1: not a per-sample record (JSONL with index, correct, ...)"
    ]
