"""The GPU workflow installs the SGLang under test from its `sglang` input (issue 12 item
6): a git ref of sgl-project/sglang or a wheel URL/path; empty keeps the runner's own.
The install step's script is run here with a recording python3 in place of the real one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def workflow(name: str) -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return loaded


def triggers(loaded: dict[Any, Any]) -> dict[str, Any]:
    on: dict[str, Any] = loaded["on"] if "on" in loaded else loaded[True]  # YAML 1.1: true
    return on


@pytest.mark.parametrize("trigger", ["workflow_call", "workflow_dispatch"])
def test_gpu_workflow_takes_the_sglang_input(trigger: str) -> None:
    """Callable from another repository (SGLang's own, on its PRs) and by a maintainer."""
    sglang = triggers(workflow("gpu-stages.yml"))[trigger]["inputs"]["sglang"]
    assert sglang["type"] == "string" and sglang["default"] == ""


def test_every_stage_passes_the_input_on() -> None:
    stage = triggers(workflow("_gpu-stage.yml"))["workflow_call"]["inputs"]["sglang"]
    assert stage["type"] == "string" and stage["default"] == ""
    callers = [job for job in workflow("gpu-stages.yml")["jobs"].values()
               if job.get("uses") == "./.github/workflows/_gpu-stage.yml"]  # fmt: skip
    assert callers
    for job in callers:
        assert job["with"]["sglang"] == "${{ inputs.sglang || '' }}"


def install_step() -> tuple[int, dict[str, Any], list[str]]:
    steps = workflow("_gpu-stage.yml")["jobs"]["partition"]["steps"]
    names = [step.get("name", step.get("uses", "")) for step in steps]
    index = next(i for i, step in enumerate(steps) if "SGLANG_SOURCE" in step.get("env", {}))
    return index, steps[index], names


def test_install_comes_first_and_only_with_an_input() -> None:
    index, step, names = install_step()
    assert step["if"] == "inputs.sglang != ''"  # empty: what the runner already has
    assert step["env"]["SGLANG_SOURCE"] == "${{ inputs.sglang }}"  # not spliced into the script
    later = [n for n in names[index + 1 :] if "runner" in n.lower() or "partition" in n.lower()]
    assert len(later) >= 2, "the runner's install and the run come after SGLang's install"


@pytest.mark.real_process
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("https://example.org/sglang-0.5.23-cp311-cp311-manylinux_2_34_x86_64.whl",
         "https://example.org/sglang-0.5.23-cp311-cp311-manylinux_2_34_x86_64.whl"),
        ("/wheels/sglang-0.5.12-py3-none-any.whl",
         "/wheels/sglang-0.5.12-py3-none-any.whl"),
        ("v0.5.12", "sglang @ git+https://github.com/sgl-project/sglang@v0.5.12"
                    "#subdirectory=python"),
        ("9040feebd8", "sglang @ git+https://github.com/sgl-project/sglang"
                       "@9040feebd8#subdirectory=python"),
    ],
)  # fmt: skip
def test_install_script_installs_the_wheel_or_the_ref(
    tmp_path: Path, source: str, expected: str
) -> None:
    _, step, _ = install_step()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    recorder = bin_dir / "python3"
    recorder.write_text(f'#!/bin/sh\nprintf "%s|" "$@" >> {log}\necho >> {log}\n')
    recorder.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SGLANG_SOURCE": source}
    subprocess.run(["bash", "-c", step["run"]], env=env, check=True, timeout=30)
    # One argument per "|": the git requirement must reach pip as one argument.
    assert log.read_text().splitlines() == ["-m|pip|install|" + expected + "|"]
