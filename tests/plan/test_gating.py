"""The GPU workflow's gating, evaluated: sglang-stages.yml's `if:` expressions (and its
gate step's script, run with a fake `gh` answering with the PR as it is now) over the
label and event cases, the stages that would run compared with what SGLang's rules and
stages.toml say should run.

SGLang's rules (fork bytedance-iaas/sglang @ 6ed5780c4f):
- pr-test.yml triggers on pull_request without `labeled`; pr-test-extra.yml adds
  `labeled`, and its check-changes lets a label event through only for `run-ci` or
  `run-ci-extra`. Both call pr-gate.yml, which fetches the PR's labels and draft state
  live (`pulls.get`), blocks drafts and requires `run-ci` (pr-test-extra also
  `run-ci-extra`). A fork's PR is gated like any other.
- _pr-test-check-changes.yml: never for documentation alone; the schedule bypasses it.
- pr-test.yml: the schedule skips the gate and runs every stage whatever an earlier one
  did (`github.event_name == 'schedule' || !failure()`).

The workflow evaluated is the one `python -m sglang_ci workflow` generates for the
fixture config; that the committed workflow is what the shipped stages.toml generates,
and that its labelled stages run beside the base ones, is tests/test_shipped_stages.py's.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from sglang_ci.config.model import load_config
from sglang_ci.config.schema import Config
from sglang_ci.plan.changes import needs_gpu_stages
from sglang_ci.plan.workflow_file import render_workflow
from tests.conftest import FIXTURES, ROOT, ConfigEdit
from tests.gh_expressions import Evaluator, Status

REPO = "sgl-project/sglang"
FORK = "contributor/sglang"
CODE = ["python/sglang/srt/server_args.py"]
DOCS = ["README.md", "docs/guide.rst"]


# Read when a test first asks, never at import: a broken config fails these tests, not
# the collection of the whole suite.
@functools.cache
def fixture() -> Config:
    return load_config(None, {}, FIXTURES)


def generated(config: Config) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(render_workflow(config))
    return loaded


@functools.cache
def workflow() -> dict[str, Any]:
    """The GPU workflow of the fixture config."""
    return generated(fixture())


def event(
    name: str, labels: tuple[str, ...] = (), *, draft: bool = False, action: str = "synchronize",
    label: str = "", head: str = REPO,
) -> dict[str, Any]:  # fmt: skip
    """The github context; `labels` are the event payload's (frozen when the event fired)."""
    github: dict[str, Any] = {"event_name": name, "repository": REPO, "sha": "f" * 40,
                              "event": {}}  # fmt: skip
    if name == "pull_request":
        github["event"] = {
            "action": action,
            "label": {"name": label} if label else None,
            "pull_request": {"draft": draft, "labels": [{"name": n} for n in labels],
                             "head": {"repo": {"full_name": head, "fork": head != REPO}},
                             "number": 7},
        }  # fmt: skip
    return github


def expected(github: dict[str, Any], files: list[str], live: tuple[str, ...], draft: bool
             ) -> set[str]:  # fmt: skip
    """SGLang's rules (the module docstring) applied to stages.toml, with the PR's live
    labels and draft state."""
    if github["event_name"] != "pull_request":
        return set(fixture().stages)  # schedule, dispatch: every stage, no gate, no filter
    action = github["event"]["action"]
    added = (github["event"]["label"] or {}).get("name")
    if draft or "run-ci" not in live or not needs_gpu_stages(files):
        return set()
    if action == "labeled":  # only pr-test-extra.yml fires, for a gating label
        return {name for name, stage in fixture().stages.items()
                if stage.label in live and added in ("run-ci", stage.label)}  # fmt: skip
    return {name for name, stage in fixture().stages.items()
            if stage.label is None or stage.label in live}  # fmt: skip


@pytest.fixture(scope="module")
def gate_script(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Runs the gate job's step as GitHub would, `gh api` answering with the live PR."""
    step = workflow()["jobs"]["gate"]["steps"][0]
    folder = tmp_path_factory.mktemp("gate")

    def run(live: tuple[str, ...], draft: bool) -> tuple[bool, list[str]]:
        pr = {"draft": draft, "labels": [{"name": n} for n in live]}
        fake = folder / "gh"
        fake.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(pr)}\nEOF\n")
        fake.chmod(0o755)
        output = folder / "output"
        output.write_text("")
        env = {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}",
               "GITHUB_OUTPUT": str(output), "REPO": REPO, "NUMBER": "7"}  # fmt: skip
        done = subprocess.run(["bash", "-c", step["run"]], env=env, capture_output=True,
                              text=True, timeout=30, check=False)  # fmt: skip
        outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
        return done.returncode == 0, json.loads(outputs["labels"])

    return run


def would_run(github: dict[str, Any], files: list[str], gate: Any, live: tuple[str, ...],
              draft: bool = False, failed: frozenset[str] = frozenset(),
              config: Config | None = None) -> set[str]:  # fmt: skip
    """Evaluate the job conditions of ``config``'s workflow (the fixture's by default) in
    dependency order; `failed` jobs fail. ``failure()`` is true when any ancestor failed,
    not only a direct need: GitHub's status check function for a chain of jobs."""
    config = config or fixture()
    jobs = generated(config)["jobs"]
    results: dict[str, str] = {}
    outputs: dict[str, dict[str, Any]] = {}
    contexts: dict[str, Any] = {"github": github, "inputs": {}}
    gpu = "true" if github["event_name"] != "pull_request" or needs_gpu_stages(files) else "false"
    ancestors: dict[str, set[str]] = {}
    for name in jobs:
        needs = {need: {"result": results[need], "outputs": outputs.get(need, {})}
                 for need in _needs(jobs[name])}  # fmt: skip
        ancestors[name] = set(needs).union(*(ancestors[need] for need in needs))
        status = Status(failed=any(results[a] == "failure" for a in ancestors[name]))
        condition = jobs[name].get("if", "success()")
        if not Evaluator({**contexts, "needs": needs}, status).evaluate(condition):
            results[name] = "skipped"
            continue
        if name == "gate":
            passed, labels = gate(live, draft)
            results[name], outputs[name] = ("success" if passed else "failure"), {
                "labels": json.dumps(labels)}  # fmt: skip
        elif name == "plan":
            evaluated = {key: Evaluator({**contexts, "needs": needs}).evaluate(value)
                         for key, value in jobs[name]["outputs"].items()
                         if key == "labels"}  # fmt: skip
            results[name], outputs[name] = "success", {"gpu": gpu, **evaluated}
        else:
            results[name] = "failure" if name in failed else "success"
    return {name for name, result in results.items()
            if result != "skipped" and name in config.stages}  # fmt: skip


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


# (event, changed files, the PR's labels now, its draft state now)
CASES = {
    "no label": (event("pull_request"), CODE, (), False),
    "run-ci": (event("pull_request", ("run-ci",)), CODE, ("run-ci",), False),
    "run-ci, from a fork": (event("pull_request", ("run-ci",), head=FORK), CODE, ("run-ci",),
                            False),
    "run-ci + run-ci-extra, from a fork": (
        event("pull_request", ("run-ci", "run-ci-extra"), head=FORK), CODE,
        ("run-ci", "run-ci-extra"), False),
    "run-ci + run-ci-extra": (event("pull_request", ("run-ci", "run-ci-extra")), CODE,
                              ("run-ci", "run-ci-extra"), False),
    "run-ci-extra alone": (event("pull_request", ("run-ci-extra",)), CODE, ("run-ci-extra",),
                           False),
    "draft with run-ci": (event("pull_request", ("run-ci",), draft=True), CODE, ("run-ci",),
                          True),
    "marked ready since the event": (event("pull_request", ("run-ci",), draft=True), CODE,
                                     ("run-ci",), False),
    "run-ci added since the event (a re-run)": (event("pull_request"), CODE, ("run-ci",), False),
    "run-ci removed since the event (a re-run)": (event("pull_request", ("run-ci",)), CODE, (),
                                                  False),
    "docs-only change": (event("pull_request", ("run-ci", "run-ci-extra")), DOCS,
                         ("run-ci", "run-ci-extra"), False),
    "run-ci just added": (event("pull_request", ("run-ci",), action="labeled", label="run-ci"),
                          CODE, ("run-ci",), False),
    "run-ci-extra just added": (event("pull_request", ("run-ci", "run-ci-extra"),
                                      action="labeled", label="run-ci-extra"), CODE,
                                ("run-ci", "run-ci-extra"), False),
    "another label added": (event("pull_request", ("run-ci", "documentation"),
                                  action="labeled", label="documentation"), CODE,
                            ("run-ci", "documentation"), False),
    "schedule": (event("schedule"), [], (), False),
    "maintainer dispatch": (event("workflow_dispatch"), [], (), False),
}  # fmt: skip


@pytest.mark.real_process
@pytest.mark.parametrize("case", CASES)
def test_gating_runs_the_stages_sglang_would(case: str, gate_script: Any) -> None:
    github, files, live, draft = CASES[case]
    assert would_run(github, files, gate_script, live, draft) == expected(
        github, files, live, draft), case  # fmt: skip


@pytest.mark.real_process
def test_a_label_event_reruns_no_stage_sglang_would_not(gate_script: Any) -> None:
    """pr-test.yml has no `labeled` trigger: the base stages never re-run on a label."""
    labelled = {name for name, stage in fixture().stages.items() if stage.label}
    both = ("run-ci", "run-ci-extra")
    for added in both:
        github = event("pull_request", both, action="labeled", label=added)
        ran = would_run(github, CODE, gate_script, both)
        assert ran == labelled, added
    assert not would_run(event("pull_request", ("run-ci",), action="labeled", label="run-ci"),
                         CODE, gate_script, ("run-ci",))  # fmt: skip


@pytest.mark.real_process
def test_a_failed_stage_stops_its_followers_on_prs_not_on_schedule(
    gate_script: Any, write_config: Callable[[ConfigEdit], Path]
) -> None:
    def beside(doc: Any) -> None:  # extra-a with no `after`, as pr-test-extra.yml's stages
        del doc["stages"]["extra-a"]["after"]

    path = write_config(beside)
    config = load_config(str(path), {}, path.parent)
    after_base_a = {name for name, stage in config.stages.items() if "base-a" in stage.after}
    # and their followers: base-b is skipped, so stage-c (after base-b) sees no failed
    # need, but failure() counts every ancestor
    later = {name for name, stage in config.stages.items() if after_base_a & set(stage.after)}
    both = ("run-ci", "run-ci-extra")
    stopped = would_run(event("pull_request", both), CODE, gate_script, both,
                        failed=frozenset({"base-a"}), config=config)  # fmt: skip
    assert after_base_a and later and not (after_base_a | later) & stopped
    # extra-a has no `after`: it runs beside the base stages, as pr-test-extra.yml does.
    assert "extra-a" in stopped
    assert would_run(event("schedule"), [], gate_script, (), failed=frozenset({"base-a"}),
                     config=config) == set(config.stages)  # fmt: skip


def test_scheduled_runs_continue_on_error_and_full_parallel() -> None:
    step = next(s for s in workflow()["jobs"]["plan"]["steps"] if s.get("id") == "plan")
    needs = {"gate": {"outputs": {"labels": '["run-ci", "high priority"]'}}}
    for name, flag in (("schedule", "--continue-on-error"), ("pull_request", "")):
        contexts = {"github": event(name, ("run-ci",)), "inputs": {}, "needs": {}}
        assert Evaluator(contexts).evaluate(step["env"]["CONTINUE"]) == flag
    # `high priority` as the PR has it now (the gate's live labels), not the payload's.
    labelled = {"github": event("pull_request", ("run-ci",)), "inputs": {}, "needs": needs}
    assert Evaluator(labelled).evaluate(step["env"]["FULL"]) == "--full-parallel"


@pytest.mark.parametrize(
    ("files", "needed"),
    [(["README.md"], False), (["docs/x.png", "seeds/001.md"], False), ([], False),
     (["stages.toml"], True), (["README.md", "suites/test_spec.py"], True),
     ([".github/workflows/gpu-stages.yml"], True)],
)  # fmt: skip
def test_docs_only_changes_need_no_gpu(files: list[str], needed: bool) -> None:
    assert needs_gpu_stages(files) is needed


def test_the_callers_pass_what_the_gate_needs() -> None:
    """The permissions a caller grants cap the called workflow's: the gate reads the PR."""
    for path in (
        ROOT / ".github/workflows/gpu-stages.yml",
        ROOT / "docs/examples/sglang-caller.yml",
    ):
        jobs = yaml.safe_load(path.read_text())["jobs"]
        caller = next(job for job in jobs.values() if "sglang-stages.yml" in job.get("uses", ""))
        assert caller["permissions"] == {"contents": "read", "pull-requests": "read",
                                         "checks": "write"}, path.name  # fmt: skip
        assert caller["with"]["runner-ref"], path.name
        if "@" in caller["uses"]:  # SGLang's caller: the runner checked out is the one called
            assert caller["uses"].endswith("@" + caller["with"]["runner-ref"])
    assert Path(ROOT / "docs/examples/sglang-caller.yml").is_file()


@pytest.mark.real_process
def test_a_fork_pr_and_a_same_repo_pr_run_alike(gate_script: Any) -> None:
    """SGLang's pr-test.yml runs a fork's PR once a maintainer adds run-ci."""
    labels = ("run-ci", "run-ci-extra")
    same = would_run(event("pull_request", labels), CODE, gate_script, labels)
    fork = would_run(event("pull_request", labels, head=FORK), CODE, gate_script, labels)
    assert fork == same == set(fixture().stages)
