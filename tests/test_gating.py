"""The GPU workflow's gating, evaluated: its `if:` expressions over the label and event
cases, the stages that would run compared with what SGLang's rules and stages.toml say
should run.

SGLang's rules (fork bytedance-iaas/sglang @ 6ed5780c4f):
- pr-gate.yml: a draft pull request is blocked; `run-ci` is required on a pull request;
  workflow_dispatch needs write access, so it is not gated; pr-test-extra.yml adds
  `run-ci-extra` (require-run-ci-extra) for the extra stages, and a `labeled` event
  starts a run only for `run-ci` or `run-ci-extra` (check-changes' if).
- _pr-test-check-changes.yml: the stages run only when the package, its tests or CI
  changed, never for Markdown alone; the scheduled run bypasses the filter
  (run_all_tests) and sets continue_on_error.
- pr-test.yml: the scheduled run skips the gate (call-gate's if) and dispatches every
  stage whatever an earlier one did (`github.event_name == 'schedule' || !failure()`).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from sglang_ci.config.model import load_config
from sglang_ci.plan.changes import needs_gpu_stages

from .conftest import ROOT
from .gh_expressions import Evaluator, Status

WORKFLOW = yaml.safe_load((ROOT / ".github/workflows/gpu-stages.yml").read_text())
CONFIG = load_config(None, {}, ROOT)
REPO = "sgl-project/sglang-ci"
CODE = ["sglang_ci/run/orchestrator.py"]
DOCS = ["README.md", "docs/guide.rst"]


def event(name: str, labels: tuple[str, ...] = (), *, draft: bool = False,
          action: str = "synchronize", label: str = "") -> dict[str, Any]:  # fmt: skip
    github: dict[str, Any] = {"event_name": name, "repository": REPO, "event": {}}
    if name == "pull_request":
        github["event"] = {
            "action": action,
            "label": {"name": label} if label else None,
            "pull_request": {"draft": draft, "labels": [{"name": n} for n in labels],
                             "head": {"repo": {"full_name": REPO}}, "number": 7},
        }  # fmt: skip
    return github


def expected(github: dict[str, Any], files: list[str]) -> set[str]:
    """SGLang's rules (the module docstring) applied to stages.toml."""
    if github["event_name"] != "pull_request":
        return set(CONFIG.stages)  # schedule, dispatch: every stage, no gate, no filter
    pr, action = github["event"]["pull_request"], github["event"]["action"]
    labels = {label["name"] for label in pr["labels"]}
    added = (github["event"]["label"] or {}).get("name")
    if pr["draft"] or "run-ci" not in labels or not needs_gpu_stages(files):
        return set()
    if action == "labeled" and added not in ("run-ci", "run-ci-extra"):
        return set()
    return {name for name, stage in CONFIG.stages.items()
            if stage.label is None or stage.label in labels}  # fmt: skip


def would_run(github: dict[str, Any], files: list[str], failed: frozenset[str] = frozenset()
              ) -> set[str]:  # fmt: skip
    """Evaluate the workflow's job conditions in dependency order; `failed` jobs fail."""
    jobs, results = WORKFLOW["jobs"], {}
    outputs = {"gpu": "true" if github["event_name"] != "pull_request" or needs_gpu_stages(files)
               else "false"}  # fmt: skip
    contexts: dict[str, Any] = {"github": github, "inputs": {}}
    plan_if = jobs["plan"]["if"]
    results["plan"] = "success" if Evaluator(contexts).evaluate(plan_if) else "skipped"
    pending = [name for name in jobs if name not in ("plan", "report")]
    while pending:
        name = next(n for n in pending if set(_needs(jobs[n])) <= set(results))
        pending.remove(name)
        needs = {need: {"result": results[need], "outputs": outputs if need == "plan" else {}}
                 for need in _needs(jobs[name])}  # fmt: skip
        status = Status(failed=any(results[n] == "failure" for n in needs))
        go = Evaluator({**contexts, "needs": needs}, status).evaluate(jobs[name]["if"])
        results[name] = ("failure" if name in failed else "success") if go else "skipped"
    return {name for name, result in results.items() if result != "skipped" and name != "plan"}


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


CASES = {
    "no label": (event("pull_request"), CODE),
    "run-ci": (event("pull_request", ("run-ci",)), CODE),
    "run-ci + run-ci-extra": (event("pull_request", ("run-ci", "run-ci-extra")), CODE),
    "run-ci-extra alone": (event("pull_request", ("run-ci-extra",)), CODE),
    "draft with run-ci": (event("pull_request", ("run-ci",), draft=True), CODE),
    "docs-only change": (event("pull_request", ("run-ci", "run-ci-extra")), DOCS),
    "run-ci-extra just added": (event("pull_request", ("run-ci", "run-ci-extra"),
                                      action="labeled", label="run-ci-extra"), CODE),
    "another label added": (event("pull_request", ("run-ci", "documentation"),
                                  action="labeled", label="documentation"), CODE),
    "schedule": (event("schedule"), []),
    "maintainer dispatch": (event("workflow_dispatch"), []),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_gating_runs_the_stages_sglang_would(case: str) -> None:
    github, files = CASES[case]
    assert would_run(github, files) == expected(github, files), case


def test_a_failed_stage_stops_its_followers_on_prs_not_on_schedule() -> None:
    after_base_a = {name for name, stage in CONFIG.stages.items() if "base-a" in stage.after}
    pr = event("pull_request", ("run-ci", "run-ci-extra"))
    stopped = would_run(pr, CODE, failed=frozenset({"base-a"}))
    assert after_base_a and not after_base_a & stopped
    # extra-a has no `after`: it runs beside the base stages, as pr-test-extra.yml does.
    assert {"extra-a", "extra-a-test-1-gpu-large"} <= stopped
    assert would_run(event("schedule"), [], failed=frozenset({"base-a"})) == set(CONFIG.stages)


def test_scheduled_runs_continue_on_error_and_full_parallel() -> None:
    step = next(s for s in WORKFLOW["jobs"]["plan"]["steps"] if s.get("id") == "plan")
    for name, flag in (("schedule", "--continue-on-error"), ("pull_request", "")):
        contexts = {"github": event(name, ("run-ci",)), "inputs": {}}
        assert Evaluator(contexts).evaluate(step["env"]["CONTINUE"]) == flag
    labelled = {"github": event("pull_request", ("run-ci", "high priority")), "inputs": {}}
    assert Evaluator(labelled).evaluate(step["env"]["FULL"]) == "--full-parallel"


def test_workflow_jobs_are_the_stages_of_stages_toml() -> None:
    jobs = WORKFLOW["jobs"]
    stage_jobs = {name for name, job in jobs.items()
                  if job.get("uses") == "./.github/workflows/_gpu-stage.yml"}  # fmt: skip
    assert stage_jobs == set(CONFIG.stages)
    outputs = set(jobs["plan"]["outputs"]) - {"gpu"}
    assert outputs == {name.replace("-", "_") for name in CONFIG.stages}
    for name, stage in CONFIG.stages.items():
        assert set(_needs(jobs[name])) == {"plan", *stage.after}, name
        label_clause = f"contains(github.event.pull_request.labels.*.name, '{stage.label}')"
        assert (label_clause in jobs[name]["if"]) == (stage.label is not None), name
        assert jobs[name]["with"]["matrix"] == (
            f"${{{{ needs.plan.outputs.{name.replace('-', '_')} }}}}")  # fmt: skip
    assert set(CONFIG.stages) <= set(_needs(jobs["report"]))


@pytest.mark.parametrize(
    ("files", "needed"),
    [(["README.md"], False), (["docs/x.png", "seeds/001.md"], False), ([], False),
     (["stages.toml"], True), (["README.md", "suites/test_spec.py"], True),
     ([".github/workflows/gpu-stages.yml"], True)],
)  # fmt: skip
def test_docs_only_changes_need_no_gpu(files: list[str], needed: bool) -> None:
    assert needs_gpu_stages(files) is needed
