"""README's partition example works as written on a fresh clone (issue 21): its
`python3 -m sglang_ci` lines, in their order, from a folder holding only the project's
stages.toml and baselines.toml (no durations.json, no results/)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

from sglang_ci.config.model import CONFIG_ENV
from tests.conftest import ROOT, run_python

pytestmark = pytest.mark.real_process


def durations_example() -> list[str]:
    """The indented block that ends with the `partition --durations durations.json` line."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    end = next(i for i, line in enumerate(lines) if "partition --durations durations.json" in line)
    start = end
    while start > 0 and lines[start - 1].startswith("    "):
        start -= 1
    return [line.strip() for line in lines[start : end + 1]]


@pytest.mark.long
def test_the_example_runs_in_order_on_a_fresh_clone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # README's commands run the shipped stages.toml by design (a fresh clone's ./stages.toml),
    # not the fixture the other tests default to: one of the two allowed readers of the
    # shipped file (tests/test_layout.py).
    monkeypatch.delenv(CONFIG_ENV)
    shutil.copy(ROOT / "stages.toml", tmp_path / "stages.toml")
    shutil.copy(ROOT / "baselines.toml", tmp_path / "baselines.toml")
    commands = [re.sub(r"\s+#.*$", "", line) for line in durations_example()]
    ours = [c for c in commands if c.startswith("python3 -m sglang_ci ")]
    assert any(" matrix " in c and "--durations durations.json" in c for c in ours), ours
    for command in ours:
        argv = shlex.split(command)[2:]  # after `python3 -m`
        done = run_python("-m", *argv, cwd=tmp_path, timeout=300,
                          env={"SGLANG_CI_PORT_LOCKS": str(tmp_path / "locks")})  # fmt: skip
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    # report created the file; a stub run adds no duration (it would mislead the split).
    assert json.loads((tmp_path / "durations.json").read_text()) == {}
