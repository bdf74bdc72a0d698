"""`python -m sglang_ci` where the project's dependencies are missing (issue 20, item 4):
on Python 3.10 the CLI's import of tomli came before the "not installed" check, so the
line naming the fix was a ModuleNotFoundError traceback. Here the TOML modules are made
unimportable in a real interpreter, as on a 3.10 venv without the project."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

BLOCK_TOML = (
    "import runpy, sys; sys.modules['tomllib'] = None; sys.modules['tomli'] = None;"
    " sys.argv = ['sglang_ci', 'list']; runpy.run_module('sglang_ci', run_name='__main__')"
)


@pytest.mark.real_process
def test_missing_toml_module_is_the_one_line_fix() -> None:
    result = subprocess.run([sys.executable, "-c", BLOCK_TOML], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "cannot import 'toml" in line  # tomli (3.10) or tomllib (made missing here)
    assert "sglang-ci is not installed" in line
    assert line.endswith(f"-m pip install -e {ROOT}")
