"""The CLI: exit codes and one-line errors, in process and as a real process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import tomlkit

from sglang_ci.cli import main_exit_code
from sglang_ci.launch import gpus
from tests.conftest import FIXTURE_TOML, ConfigEdit, run_python


def test_validate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main_exit_code(["validate", "--config", str(FIXTURE_TOML)]) == 0
    assert capsys.readouterr().out.startswith("stages.toml: valid: 4 stages")


def test_validate_says_once_where_each_threshold_comes_from(
    write_config: Callable[[ConfigEdit], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    def pin(doc: tomlkit.TOMLDocument) -> None:
        job = next(j for j in doc["stages"]["extra-a"]["jobs"] if j.get("topk") == 1)
        job["thresholds"] = {"gsm8k": 0.5}

    assert main_exit_code(["validate", "--config", str(FIXTURE_TOML)]) == 0
    derived = "spec(model='gemma4-31b', topk=1): gsm8k >= 0.41 from 20 recorded runs (min - 0.03)"
    assert derived in capsys.readouterr().out
    assert main_exit_code(["validate", "--config", str(write_config(pin))]) == 0
    out = capsys.readouterr().out
    assert ("spec(model='gemma4-31b', topk=1): gsm8k >= 0.5 pinned in stages.toml"
            " (20 recorded runs in baselines.toml)\n") in out + "\n"  # fmt: skip
    assert out.count("pinned") == 1


def test_list_one_row_per_job(capsys: pytest.CaptureFixture[str]) -> None:
    assert main_exit_code(["list", "--config", str(FIXTURE_TOML), "--stage", "base-b"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["SESSION", "STAGE", "GPUS", "EST", "SCORE", "RULE", "OBS",
                              "MARGIN", "CHECKS"]  # fmt: skip
    assert [row.split("  ")[0] for row in rows] == [
        "spec(model='llama-eagle3', topk=1)",
        "spec(model='llama-eagle3', topk=3)",
    ]
    assert "150s" in rows[0] and "gsm8k >= 0.65" in rows[0] and "pinned" in rows[0]


def test_list_shows_the_evidence_of_derived_thresholds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main_exit_code(["list", "--config", str(FIXTURE_TOML), "--stage", "extra-a"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines()
               if line.startswith("spec(model='gemma4-31b', topk=1)"))  # fmt: skip
    assert "gsm8k >= 0.41" in row and "min - 0.03" in row and " 20 " in row and "+0.030" in row


def test_unknown_job_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main_exit_code(
        [
            "job",
            "spec(model='gemma4-31b', topk=4)",
            "--dry-run",
            "--config",
            str(FIXTURE_TOML),
        ]
    )
    assert code == 2
    assert "Perhaps you meant 'spec(model='gemma4-31b', topk=3)'?" in capsys.readouterr().err


def test_a_job_named_with_its_keywords_reordered_gets_that_job(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The closest spelling of "spec(topk=1, model=...)" is the topk=3 job; the hint must
    name the job with the same values, in the order nox and the CLI match."""
    argv = ["job", "spec(topk=1, model='gemma4-31b')", "--dry-run", "--config", str(FIXTURE_TOML)]
    assert main_exit_code(argv) == 2
    assert """Perhaps you meant "spec(model='gemma4-31b', topk=1)"?""" in capsys.readouterr().err


def test_gpu_job_without_gpus_fails_with_the_count(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The one seam: the physical GPU probe (NVML / nvidia-smi) reports none.
    monkeypatch.setattr(gpus, "count_gpus", lambda: gpus.GpuCount(0, "no NVIDIA driver"))
    code = main_exit_code(["job", "spec(model='gemma4-31b', topk=3)", "--config",
                           str(FIXTURE_TOML), "--results", str(tmp_path)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 3
    assert "needs 2 GPUs but 0 are visible" in err and "--engine stub" in err


@pytest.mark.real_process
def test_seed_004_mistake_exits_2_with_one_line(
    write_config: Callable[[ConfigEdit], Path],
) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        del doc["models"]["dsv4-flash"]["args"]["enable-dp-attention"]
        del doc["models"]["dsv4-flash"]["roles"]["decode"]["args"]

    path = write_config(edit)
    result = run_python("-m", "sglang_ci", "validate", "--config", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "disagg(model='dsv4-flash') needs 32 GPUs" in line
    assert "Traceback" not in result.stderr


@pytest.mark.real_process
def test_dry_run_as_a_process() -> None:
    result = run_python("-m", "sglang_ci", "job", "spec(model='gemma4-31b', topk=3)", "--dry-run",
                        "--config", str(FIXTURE_TOML))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "--speculative-eagle-topk 3" in result.stdout


@pytest.mark.real_process
def test_dry_runs_import_nothing_that_starts_processes() -> None:
    """CI's smoke test runs a stage's dry run with a bare Python: no psutil, no requests."""
    script = (
        "import sys\n"
        "from sglang_ci.cli import run\n"
        "assert run(['run', '--stage', 'base-b', '--dry-run', '--engine', 'stub']) == 0\n"
        "assert run(['job', \"spec(model='gemma4-31b', topk=3)\", '--dry-run']) == 0\n"
        "heavy = sorted({'psutil', 'requests', 'pytest'} & set(sys.modules))\n"
        "assert not heavy, heavy\n"
    )
    result = run_python("-c", script)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [(["--timeout", "-5"], "--timeout must be a positive number of seconds"),
     (["--timeout", "0"], "--timeout must be a positive number of seconds"),
     (["--timeout", "nan"], "--timeout must be a positive number of seconds"),
     (["--request-timeout", "0"], "--request-timeout must be a positive number of seconds"),
     (["--launch-timeout", "-1"], "--launch-timeout must be a positive number of seconds"),
     (["--results", ""], "--results must name a folder")],
)  # fmt: skip
def test_bad_options_are_one_line_before_anything_starts(
    options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked before any process starts (the autouse guard would fail a spawn)."""
    code = main_exit_code(["job", "spec(model='gemma4-31b', topk=3)", "--engine", "stub",
                           "--config", str(FIXTURE_TOML), *options])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1, err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["job", "sanity(model='llama3-8b')", "--engine", "stbu"], "invalid choice: 'stbu'"),
        (["job", "sanity(model='llama3-8b')", "--dryrun"], "unrecognized arguments: --dryrun"),
        (["lsit"], "invalid choice: 'lsit'"),
        (["run", "--stage"], "expected one argument"),
    ],
)
def test_a_bad_option_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    """argparse would print its whole usage first (11 lines for `job`): one line instead."""
    assert main_exit_code(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and says in err, err
