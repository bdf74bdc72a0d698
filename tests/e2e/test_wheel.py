"""`pip install sglang-ci` works where its users are (issue 21): the wheel built from this
checkout, installed into a fresh venv outside it, runs the documented commands, a stub job
and a registered file job from a folder holding only a stages.toml (and the SGLang
checkout it names), with the packaged suites.

Marked ``wheel``: it builds the wheel and pip-installs it with its dependencies (pip's
cache, else the package index), about a minute. ``-m "not wheel"`` leaves it out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import pytest

from sglang_ci import __version__
from sglang_ci.config.model import CONFIG_ENV
from sglang_ci.contract import SGLANG_ROUTER_VERSION
from tests.conftest import FIXTURE_TOML, FIXTURES, ROOT, write_sglang_checkout

# One worker builds and installs the wheel once for both tests (tests/conftest.py orders them).
pytestmark = [pytest.mark.real_process, pytest.mark.wheel, pytest.mark.long,
              pytest.mark.xdist_group("wheel")]  # fmt: skip

# What the build reads; everything else of the checkout (venvs, results, git) stays out.
SOURCES = ("pyproject.toml", "README.md", "sglang_ci")
RUN_SUITE = 'PER_COMMIT_SUITES = {HWBackend.CUDA: ["base-b-test-1-gpu-small"]}\n'
REGISTERED_FILE = (
    "import unittest\ndef register_cuda_ci(**_):\n    pass\n"
    'register_cuda_ci(est_time=5, stage="base-b", runner_config="1-gpu-small")\n'
    "class T(unittest.TestCase):\n    def test_it(self):\n        self.assertTrue(True)\n"
    '\nif __name__ == "__main__":\n    unittest.main()\n'
)
FILE_ID = "test/registered/core/test_ok.py"
STAGE = """
[stages.files-b]
gpus = 1
runner = "1-gpu-small"
timeout = 60
registered = { suite = "base-b-test-1-gpu-small", checkout = "sglang" }
"""
PD_JOB = "disagg(model='dsv4-flash')"


def run(argv: list[str], cwd: Path, env: dict[str, str],
        timeout: float = 300) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the venv's bin folder, the built wheel): the wheel built from a copy of the
    sources and installed, without extras, into a venv made for this test."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
        else:
            shutil.copy(ROOT / name, source / name)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    dist = base / "dist"
    ok(run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist),
            str(source)], base, env))  # fmt: skip
    (wheel,) = dist.glob("sglang_ci-*.whl")
    ok(run([sys.executable, "-m", "venv", str(base / "venv")], base, env))
    bin_dir = base / "venv" / "bin"
    ok(run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)], base, env))
    yield bin_dir, wheel


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with a stages.toml (the tests' fixture plus a registered stage), its
    baselines.toml and a synthetic SGLang checkout; no suites/ folder."""
    write_sglang_checkout(tmp_path / "sglang", {"core/test_ok.py": REGISTERED_FILE}, RUN_SUITE)
    (tmp_path / "stages.toml").write_text(FIXTURE_TOML.read_text() + STAGE)
    shutil.copy(FIXTURES / "baselines.toml", tmp_path / "baselines.toml")
    return tmp_path


def venv_env(bin_dir: Path, tmp_path: Path) -> dict[str, str]:
    # Nor the fixture default of tests/conftest.py: the installed command finds the
    # project folder's own ./stages.toml, as a user's does.
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", CONFIG_ENV)}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["SGLANG_CI_PORT_LOCKS"] = str(tmp_path / "locks")
    return env


def test_the_wheel_ships_its_suites_types_and_metadata(installed: tuple[Path, Path]) -> None:
    _, wheel = installed
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = Parser().parsestr(archive.read(meta_name).decode())
    shipped = {p.relative_to(ROOT).as_posix() for p in (ROOT / "sglang_ci" / "suites").iterdir()
               if p.suffix in (".py", ".ini")}  # fmt: skip
    assert shipped and shipped <= names
    assert {"sglang_ci/py.typed", "sglang_ci/data/gsm8k_sample.jsonl"} <= names
    assert meta["Version"] == __version__
    assert meta["License-Expression"] == "Apache-2.0"
    assert "Typing :: Typed" in meta.get_all("Classifier", [])
    assert any(url.startswith("Source, https://") for url in meta.get_all("Project-URL", []))
    requires = meta.get_all("Requires-Dist", [])
    core = [r for r in requires if "extra ==" not in r]
    assert not any(r.startswith(("datasets", "matplotlib", "nvidia-ml-py", "sglang-router"))
                   for r in core), core  # fmt: skip
    extras = {r.split("extra == ")[1].strip("'\""): r.split(";")[0] for r in requires
              if "extra ==" in r}  # fmt: skip
    assert extras["pd"] == f"sglang-router=={SGLANG_ROUTER_VERSION}"
    assert extras["hub"].startswith("datasets") and extras["gpu"].startswith("nvidia-ml-py")


def test_the_installed_command_runs_from_a_folder_with_a_stages_toml(
    installed: tuple[Path, Path], project: Path, tmp_path: Path
) -> None:
    bin_dir, wheel = installed
    env = venv_env(bin_dir, tmp_path)
    command = str(bin_dir / "sglang-ci")
    assert ok(run([command, "--version"], project, env)).strip() == f"sglang-ci {__version__}"
    assert "1 registered SGLang files" in ok(run([command, "validate"], project, env))
    listing = ok(run([command, "list", "--json"], project, env))
    assert PD_JOB in {row["session"] for row in json.loads(listing)}
    assert "sglang_router.launch_router" in ok(run([command, "job", PD_JOB, "--dry-run"],
                                                     project, env))  # fmt: skip

    # Without the pd extra, a PD job says what to install, before any server starts.
    refused = run([command, "job", PD_JOB, "--engine", "stub", "--results", "r0"], project, env)
    assert refused.returncode != 0
    assert "pip install 'sglang-ci[pd]'" in refused.stdout + refused.stderr
    assert not list((project / "r0").rglob("prefill.log"))

    # With it, the stub job runs its packaged suite (no suites/ folder here).
    ok(run([str(bin_dir / "python"), "-m", "pip", "install", "-q", f"{wheel}[pd]"], project, env))
    ok(run([command, "job", PD_JOB, "--engine", "stub", "--results", "r1"], project, env))
    result = json.loads(next((project / "r1").glob("*/result.json")).read_text())
    assert result["status"] == "passed", result

    # A registered file of the synthetic checkout, as run_suite.py runs it.
    ok(run([command, "job", FILE_ID, "--results", "r2"], project, env))
    (file_result,) = (project / "r2").glob("*/result.json")
    assert json.loads(file_result.read_text())["status"] == "passed"
