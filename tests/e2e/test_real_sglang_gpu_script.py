"""benchmarks/real_sglang_gpu.py is not part of CI's runs (it needs a GPU and SGLang);
its argument handling and one case on the stub are."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT, run_python

SCRIPT = ROOT / "benchmarks" / "real_sglang_gpu.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("real_sglang_gpu", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["real_sglang_gpu"] = module
    spec.loader.exec_module(module)
    return module


def test_arguments_are_checked(tmp_path: Path) -> None:
    script = load()
    with pytest.raises(SystemExit) as exited:
        script.parse_args(["--cases", "sanity,bogus", "--engine", "stub"])
    assert exited.value.code == 2
    with pytest.raises(SystemExit):
        script.parse_args([])  # the real engine needs the model's folder
    args = script.parse_args(["--model", str(tmp_path), "--cases", "kill9"])
    assert args.cases == "kill9" and args.engine == "sglang"


@pytest.mark.real_process
def test_the_tiny_stages_are_valid(tmp_path: Path) -> None:
    config = load().write_config(tmp_path / "config", tmp_path / "model")
    result = run_python("-m", "sglang_ci", "validate", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "2 jobs" in result.stdout


@pytest.mark.real_process
def test_one_case_on_the_stub(tmp_path: Path) -> None:
    result = run_python(str(SCRIPT), "--engine", "stub", "--cases", "kill9", "--scratch",
                        str(tmp_path), timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("kill9"))
    assert "error (runner died)" in row and "cleanup: 1 dead run(s)" in row


@pytest.mark.real_process
@pytest.mark.long
def test_the_packed_case_on_the_stub(tmp_path: Path) -> None:
    """The single-slot packed stage the lent GPU runs: both jobs pass one after the other
    on the one stand-in GPU, with a timeline whose bars never share it at once."""
    result = run_python(str(SCRIPT), "--engine", "stub", "--cases", "packed", "--scratch",
                        str(tmp_path), timeout=180)  # fmt: skip
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("packed "))
    cells = [cell.strip() for cell in row.split("  ") if cell.strip()]
    assert cells[1] == "passed, passed" and cells[2] == "0", row
    assert "2 bars, 0 overlapping" in row, row
    assert not (tmp_path / "ledger").exists() or not list((tmp_path / "ledger").glob("*.json"))
