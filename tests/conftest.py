"""Shared fixtures, and the guard that keeps unit tests from starting real processes.

A unit test that starts a process by accident is slow, flaky and can leak a server;
tests that start processes on purpose say so with ``@pytest.mark.real_process``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tomlkit

ROOT = Path(__file__).resolve().parent.parent
STAGES_TOML = ROOT / "stages.toml"


@pytest.fixture(autouse=True)
def _no_real_processes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("real_process"):
        return

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        pytest.fail(
            f"{request.node.nodeid} tried to start a process; mark it @pytest.mark.real_process"
            " if it must"
        )

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)
    monkeypatch.setattr(os, "system", refuse)
    monkeypatch.setattr(os, "fork", refuse)
    monkeypatch.setattr(os, "posix_spawn", refuse)
    monkeypatch.setattr(os, "posix_spawnp", refuse)


ConfigEdit = Callable[[tomlkit.TOMLDocument], None]


@pytest.fixture
def write_config(tmp_path: Path) -> Iterator[Callable[[ConfigEdit], Path]]:
    """Copy the project's stages.toml, apply one edit, and return the new file's path.

    Tests break the real config in one precise way, so each rule is tested against the
    file people actually edit, not a toy.
    """

    def write(edit: ConfigEdit) -> Path:
        document = tomlkit.parse(STAGES_TOML.read_text())
        edit(document)
        path = tmp_path / "stages.toml"
        path.write_text(tomlkit.dumps(document))
        return path

    yield write


def run_python(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m ...`` with this interpreter, for tests marked real_process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=timeout,
        check=False,
    )
