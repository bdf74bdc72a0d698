"""The SGLang under test: in SGLang's repository, the PR's own checkout (its merge commit,
a fork's included), installed by SGLang's CI script or the caller's command; in this
repository, a pinned release or a given ref. The install has its own step and limit: the
stage's timeout covers the Run test step alone, as in _pr-test-stage.yml @ 6ed5780c4f
(job timeout-minutes 240; install_timeout 20 from runner_configs.yml; run_timeout_minutes
on "Run test")."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from sglang_ci.config.model import load_config
from sglang_ci.contract import SGLANG_LATEST
from sglang_ci.plan.workflow_file import render_workflow
from tests.conftest import FIXTURES, ROOT
from tests.gh_expressions import Evaluator
from tests.plan.test_gating import FORK, REPO, event

WORKFLOWS = ROOT / ".github" / "workflows"
# The GPU workflow as `python -m sglang_ci workflow` generates it, for the tests' fixture
# config (the committed one is what the shipped stages.toml generates:
# tests/test_shipped_stages.py).
CONFIG = load_config(None, {}, FIXTURES)
STAGES = yaml.safe_load(render_workflow(CONFIG))
SGLANG_SCRIPT = "bash scripts/ci/cuda/ci_install_dependency.sh"


def triggers(loaded: dict[Any, Any]) -> dict[str, Any]:
    on: dict[str, Any] = loaded["on"] if "on" in loaded else loaded[True]  # YAML 1.1: true
    return on


def caller_inputs(path: Path, github: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The inputs sglang-stages.yml gets from a caller: its `with:` evaluated, the rest
    at their defaults."""
    declared = triggers(STAGES)["workflow_call"]["inputs"]
    job = next(j for j in yaml.safe_load(path.read_text())["jobs"].values()
               if "sglang-stages.yml" in j.get("uses", ""))  # fmt: skip
    evaluator = Evaluator({"github": github, "inputs": given})
    values = {name: spec.get("default") for name, spec in declared.items()}
    for name, expression in job["with"].items():
        values[name] = evaluator.evaluate(expression) if "${{" in str(expression) else expression
    return values


def stage_step(stage: str, fragment: str) -> dict[str, Any]:
    return next(s for s in STAGES["jobs"][stage]["steps"] if fragment in s.get("name", ""))


def checked_out(inputs: dict[str, Any], github: dict[str, Any], stage: str) -> tuple[str, str]:
    step = stage_step(stage, "SGLang under test (a PR")
    evaluator = Evaluator({"github": github, "inputs": inputs})
    assert step["with"]["path"] == "sglang"
    return evaluator.evaluate(step["with"]["repository"]), evaluator.evaluate(step["with"]["ref"])


@pytest.mark.parametrize("head", [REPO, FORK], ids=["same-repo PR", "fork PR"])
@pytest.mark.parametrize("stage", list(CONFIG.stages))
def test_in_sglangs_repo_a_pr_installs_its_own_checkout(head: str, stage: str) -> None:
    """A fork's PR and a same-repo PR alike: the PR's merge commit (github.sha) of the
    calling repository, installed with SGLang's own CI script in the checkout's root."""
    github = event("pull_request", ("run-ci",), head=head)
    inputs = caller_inputs(ROOT / "docs/examples/sglang-caller.yml", github, {})
    assert checked_out(inputs, github, stage) == (REPO, github["sha"])
    install = stage_step(stage, "Install the SGLang under test")
    assert install["working-directory"] == "sglang"
    assert Evaluator({"inputs": inputs}).evaluate(install["env"]["INSTALL_COMMAND"]) == (
        SGLANG_SCRIPT)  # fmt: skip


def test_in_this_repo_a_pinned_or_given_sglang() -> None:
    github = event("pull_request", ("run-ci",))
    pinned = caller_inputs(WORKFLOWS / "gpu-stages.yml", github, {})
    assert checked_out(pinned, github, "base-a") == ("sgl-project/sglang", f"v{SGLANG_LATEST}")
    given = caller_inputs(WORKFLOWS / "gpu-stages.yml", event("workflow_dispatch"),
                          {"sglang": "9040feebd8"})  # fmt: skip
    assert checked_out(given, event("workflow_dispatch"), "base-a")[1] == "9040feebd8"
    assert given["runner-ref"] == github["sha"]  # the runner as this commit has it


def test_the_default_install_is_sglangs_ci_script() -> None:
    declared = triggers(STAGES)["workflow_call"]["inputs"]
    assert declared["install-command"]["default"] == SGLANG_SCRIPT
    assert declared["install-timeout-minutes"]["default"] == 20  # runner_configs.yml


@pytest.mark.parametrize("stage", list(CONFIG.stages))
def test_the_stage_timeout_covers_the_run_step_only(stage: str) -> None:
    job = STAGES["jobs"][stage]
    names = [s.get("name", s.get("uses", "")) for s in job["steps"]]
    assert job["timeout-minutes"] == 240
    run = stage_step(stage, "Run test")
    assert run["timeout-minutes"] == CONFIG.stages[stage].timeout_minutes
    install = stage_step(stage, "Install the SGLang under test")
    assert install["timeout-minutes"] == "${{ inputs.install-timeout-minutes }}"
    assert names.index(install["name"]) < names.index("Run test")
    cleanup = [s for s in job["steps"] if s.get("run") == "python3 -m sglang_ci cleanup"]
    assert cleanup and cleanup[0]["if"] == "always()"  # the run ledger, never an env mark


@pytest.mark.real_process
def test_install_step_runs_the_command_in_the_checkout(tmp_path: Path) -> None:
    """The step's script, run by bash as GitHub runs it, in a checkout whose install
    script records where and how it ran."""
    checkout = tmp_path / "sglang"
    script = checkout / "scripts/ci/cuda/ci_install_dependency.sh"
    script.parent.mkdir(parents=True)
    log = tmp_path / "log"
    script.write_text(f'echo "$PWD|$CUSTOM_BUILD_SGL_KERNEL|$*" > {log}\n')
    step = stage_step("base-a", "Install the SGLang under test")
    env = {**os.environ, "INSTALL_COMMAND": SGLANG_SCRIPT, **{
        k: v for k, v in step["env"].items() if "${{" not in v}}  # fmt: skip
    subprocess.run(["bash", "-c", step["run"]], cwd=checkout, env=env, check=True, timeout=30)
    assert log.read_text().strip() == f"{checkout}|false|"
