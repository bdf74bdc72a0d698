"""The reusable GPU workflow is generated from stages.toml (`python -m sglang_ci
workflow`), and every workflow here (and the example caller for SGLang's repository) is
hardened: actions pinned by commit SHA with the version in a comment, expressions reach
`run:` scripts only through `env:`, least-privilege permissions per job. The generator
runs on the fixture config; that the committed workflow is what the shipped stages.toml
generates is tests/test_shipped_stages.py's."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomlkit
import yaml

from sglang_ci.cli import main_exit_code
from sglang_ci.config.model import load_config
from sglang_ci.config.registered_env import ci_env
from sglang_ci.plan.workflow_file import WORKFLOW_PATH, current_pins, render_workflow
from tests.conftest import FIXTURE_TOML, FIXTURES, ROOT, ConfigEdit

FILES = sorted(
    [*(ROOT / ".github/workflows").glob("*.yml"), *(ROOT / "docs/examples").glob("*.yml")]
)
GENERATED = ROOT / WORKFLOW_PATH


def load(path: Path) -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(path.read_text())
    return loaded


def steps(workflow: dict[Any, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, step) for name, job in workflow["jobs"].items()
            for step in job.get("steps", [])]  # fmt: skip


def test_a_new_stage_needs_no_hand_edit(
    write_config: Callable[[ConfigEdit], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    def add_stage(doc: tomlkit.TOMLDocument) -> None:
        stage = tomlkit.table()
        stage.update({"description": "more", "gpus": 1, "runner": "1-gpu-h100", "timeout": 30,
                      "after": ["base-b"], "label": "run-ci-more",
                      "jobs": [doc["stages"]["base-b"]["jobs"][1]]})  # fmt: skip
        del doc["stages"]["base-b"]["jobs"][1]  # moved: a job id lives in one stage
        doc["stages"]["base-c"] = stage

    path = write_config(add_stage)
    committed = path.parent / WORKFLOW_PATH
    committed.parent.mkdir(parents=True)
    shutil.copy(GENERATED, committed)
    assert main_exit_code(["workflow", "--check", "--config", str(path)]) == 1
    assert "out of date" in capsys.readouterr().out
    assert main_exit_code(["workflow", "--config", str(path)]) == 0
    jobs = load(committed)["jobs"]
    assert jobs["base-c"]["needs"] == ["plan", "base-b"]
    assert jobs["base-c"]["runs-on"] == ["self-hosted", "1-gpu-h100"]
    assert "base_c" in jobs["plan"]["outputs"] and "base-c" in jobs["report"]["needs"]
    assert "'run-ci-more'" in jobs["gate"]["if"]  # its label may start a labelled run
    run_test = next(s for s in jobs["base-c"]["steps"] if s.get("name") == "Run test")
    assert run_test["timeout-minutes"] == 30
    assert main_exit_code(["workflow", "--check", "--config", str(path)]) == 0


def test_a_dependabot_bump_survives_regeneration() -> None:
    text = GENERATED.read_text()
    pin = "actions/checkout@" + "a" * 40 + " # v4.9.9"
    bumped = re.sub(r"actions/checkout@[0-9a-f]{40} # \S+", pin, text)
    assert bumped != text
    config = load_config(None, {}, FIXTURES)
    assert pin in render_workflow(config, current_pins(bumped))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_actions_are_pinned_by_commit_sha(path: Path) -> None:
    uses = re.findall(r"uses: (\S+)(.*)", path.read_text())
    assert uses
    for action, rest in uses:
        if action.startswith("./"):
            continue  # a workflow of the same repository, at the caller's commit
        assert re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", action), f"{path.name}: {action}"
        if "/.github/workflows/" not in action:
            assert re.fullmatch(r" # v\d+(\.\d+)*", rest), f"{path.name}: {action}{rest}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_expression_is_interpolated_into_a_script(path: Path) -> None:
    for job, step in steps(load(path)):
        assert "${{" not in step.get("run", ""), f"{path.name}: {job}: {step.get('name')}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_job_has_least_privilege(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {"contents": "read"}, path.name
    for name, job in workflow["jobs"].items():
        granted = job.get("permissions")
        assert granted is not None, f"{path.name}: {name} has no permissions of its own"
        writes = {key for key, value in granted.items() if value == "write"}
        reporter = any("action-junit-report" in s.get("uses", "") for s in job.get("steps", []))
        calls_stages = "sglang-stages.yml" in job.get("uses", "")
        assert writes <= ({"checks"} if reporter or calls_stages else set()), f"{path.name}: {name}"


def test_dependabot_keeps_the_pins_current() -> None:
    config = load(ROOT / ".github/dependabot.yml")
    assert {"package-ecosystem": "github-actions", "directory": "/"}.items() <= (
        config["updates"][0].items())  # fmt: skip


def test_ci_env_is_the_stage_workflows() -> None:
    """_pr-test-stage.yml @ 6ed5780c4f sets SGLANG_IS_IN_CI, SGLANG_CUDA_COREDUMP=1 and
    SGLANG_JIT_DEEPGEMM_FAST_WARMUP=true for every job, SGLANG_ENABLE_ASYNC_ASSERT false
    on base-a only: the values run-file's ci_env adds."""
    config = load_config(None, {}, FIXTURES)
    workflow = yaml.safe_load(render_workflow(config))
    for name in ("SGLANG_IS_IN_CI", "SGLANG_CUDA_COREDUMP", "SGLANG_JIT_DEEPGEMM_FAST_WARMUP"):
        assert workflow["env"][name] == ci_env(None, {})[name], name
    assert "base-a" in config.stages
    for stage in config.stages:
        assert workflow["jobs"][stage]["env"]["SGLANG_ENABLE_ASYNC_ASSERT"] == (
            ci_env(stage, {})["SGLANG_ENABLE_ASYNC_ASSERT"]), stage  # fmt: skip


def test_a_registered_stage_runs_from_the_checkout_beside_the_runner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """sglang-ci/ and sglang/ side by side, as the workflow checks them out: a registered
    stage's `checkout = "../sglang"` is the SGLang under test, read by the plan job too."""
    from tests.run.test_registered_stage import FILES, STAGE, write_checkout

    runner = tmp_path / "sglang-ci"
    runner.mkdir()
    write_checkout(tmp_path / "sglang", FILES)
    (runner / "stages.toml").write_text(
        FIXTURE_TOML.read_text() + STAGE.format(checkout="../sglang"))  # fmt: skip
    shutil.copy(FIXTURES / "baselines.toml", runner / "baselines.toml")
    assert main_exit_code(["workflow", "--config", str(runner / "stages.toml")]) == 0
    jobs = load(runner / WORKFLOW_PATH)["jobs"]
    for job in ("plan", "files-b"):
        paths = {
            s["with"]["path"] for s in jobs[job]["steps"] if "actions/checkout" in s.get("uses", "")
        }
        assert paths == {"sglang", "sglang-ci"}, job
    run_test = next(s for s in jobs["files-b"]["steps"] if s.get("name") == "Run test")
    assert run_test["working-directory"] == "sglang-ci"  # where ../sglang is the checkout
    # Without a registered stage the plan job needs no SGLang checkout.
    plain = yaml.safe_load(render_workflow(load_config(None, {}, FIXTURES)))
    plan = plain["jobs"]["plan"]["steps"]
    assert [s["with"]["path"] for s in plan if "actions/checkout" in s.get("uses", "")] == [
        "sglang-ci"
    ]


@pytest.mark.parametrize("name", ["report", "1st-stage"])
def test_a_stage_name_github_cannot_take_is_one_line(
    name: str, write_config: Callable[[ConfigEdit], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    def rename(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"][name] = doc["stages"].pop("extra-a")

    path = write_config(rename)
    assert main_exit_code(["workflow", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"stages.{name}: not usable as a GitHub job id" in err
    assert len(err.strip().splitlines()) == 1
    assert not (path.parent / WORKFLOW_PATH).exists()  # nothing written


def test_a_label_with_a_quote_stays_one_expression(
    write_config: Callable[[ConfigEdit], Path],
) -> None:
    def quote(doc: tomlkit.TOMLDocument) -> None:
        doc["stages"]["extra-a"]["label"] = "run-ci-o'extra"

    path = write_config(quote)
    assert main_exit_code(["workflow", "--config", str(path)]) == 0
    jobs = load(path.parent / WORKFLOW_PATH)["jobs"]
    assert (
        "'run-ci-o''extra'" in jobs["gate"]["if"] and "'run-ci-o''extra'" in jobs["extra-a"]["if"]
    )
