"""``python -m sglang_ci workflow``: the reusable GPU workflow, generated from stages.toml.

One job per stage, so that a stage added to stages.toml needs no hand edit of a workflow
(tests/plan/test_workflow_file.py fails when the committed file is out of date). Generated
rather than one matrix job per dependency level because each stage keeps what SGLang's
pr-test.yml gives each of its stage jobs: its own `needs` (base-b waits for base-a only;
extra-a starts beside base-a, as SGLang's separate pr-test-extra.yml does), its own label
gate, runner, max-parallel and step timeout. A level-wide matrix would make base-b wait
for (and stop on) extra-a, and a matrix has one max-parallel. The stage jobs are written
inline, not as calls of a second reusable workflow, so SGLang's repository calling this
one nests nothing further.

The action pins (commit SHA, version in a comment) are read back from the file being
replaced, so a Dependabot bump survives the next regeneration.
"""

from __future__ import annotations

import re
from pathlib import Path

from sglang_ci.config.errors import UsageError
from sglang_ci.config.model import Config
from sglang_ci.plan import workflow_templates as templates

WORKFLOW_PATH = Path(".github/workflows/sglang-stages.yml")
GATING_LABEL = "run-ci"  # pr-gate.yml: required on every pull request

# Commit SHAs of the actions' release tags (the version in the trailing comment).
DEFAULT_PINS = {
    "actions/checkout": "11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2",
    "actions/setup-python": "a26af69be951a213d495a4c3e4e4022e16d87065 # v5.6.0",
    "actions/upload-artifact": "ea165f8d65b6e75b540449e92b4886f43607fa02 # v4.6.2",
    "actions/download-artifact": "d3f86a106a0bac45b974a628896c90dbdf5c8093 # v4.3.0",
    "actions/cache/restore": "5a3ec84eff668545956fd18022155c47e93e2684 # v4.2.3",
    "actions/cache/save": "5a3ec84eff668545956fd18022155c47e93e2684 # v4.2.3",
    "mikepenz/action-junit-report": "3585e9575db828022551b4231f165eb59a0e74e3 # v5.6.2",
}
_JOB_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_PIN = re.compile(r"uses: ([\w./-]+)@([0-9a-f]{40} # \S+)")


def current_pins(text: str) -> dict[str, str]:
    """The pins of an existing workflow file over the defaults."""
    return {**DEFAULT_PINS, **dict(_PIN.findall(text))}


def output_name(stage: str) -> str:
    return stage.replace("-", "_")


def render_workflow(config: Config, pins: dict[str, str] | None = None) -> str:
    pins = pins or DEFAULT_PINS
    for name in config.stages:
        if not _JOB_ID.fullmatch(name) or name in ("gate", "plan", "report"):
            raise UsageError(f"stages.{name}: not usable as a GitHub job id (letters, digits, '-'"
                             " and '_', starting with a letter or '_'; not gate, plan or report);"
                             " rename the stage")  # fmt: skip
    labels = sorted({s.label for s in config.stages.values() if s.label})
    text = (
        templates.HEADER
        + _gate(labels)
        + _plan(config)
        + "".join(_stage(config, name) for name in config.stages)
        + _report(config)
    )
    for action, pin in pins.items():
        text = text.replace(f"uses: {action}@PIN", f"uses: {action}@{pin}")
    return text


def write_workflow(config: Config, root: Path) -> Path:
    path = root / WORKFLOW_PATH
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_workflow(config, current_pins(old)), encoding="utf-8")
    return path


def workflow_command(config: Config, root: Path, *, check: bool) -> int:
    """Write the workflow (or, with ``check``, say whether the committed one is current)."""
    path = root / WORKFLOW_PATH
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    if check:
        if render_workflow(config, current_pins(old)) == old:
            print(f"{WORKFLOW_PATH}: up to date with stages.toml")
            return 0
        print(f"{WORKFLOW_PATH}: out of date; run `python -m sglang_ci workflow`")
        return 1
    print(f"wrote {write_workflow(config, root)}")
    return 0


def _added_label_is(labels: list[str]) -> str:
    """The expression: the label a `labeled` event added is one of these."""
    quoted = (label.replace("'", "''") for label in labels)  # an expression's quote escape
    return " || ".join(f"github.event.label.name == '{label}'" for label in quoted)


def _gate(labels: list[str]) -> str:
    gating = _added_label_is([GATING_LABEL, *labels])
    return templates.GATE.replace("@GATING@", gating)


def _plan(config: Config) -> str:
    outputs = "".join(
        f"      {output_name(name)}: ${{{{ steps.plan.outputs.{output_name(name)} }}}}\n"
        for name in config.stages
    )
    registered = any(stage.registered for stage in config.stages.values())
    checkout = templates.SGLANG_CHECKOUT if registered else ""
    return templates.PLAN.replace("@OUTPUTS@", outputs).replace("@SGLANG_CHECKOUT@", checkout)


def _stage(config: Config, name: str) -> str:
    stage = config.stages[name]
    needs = ", ".join(["plan", *stage.after])
    if stage.label:
        # pr-test-extra.yml: the stage's label and run-ci, read live; a `labeled` event
        # runs it only when the label added is one of the two.
        label = stage.label.replace("'", "''")
        pr_clause = (
            f"(contains(fromJSON(needs.plan.outputs.labels || '[]'), '{label}') &&\n"
            f"       (github.event.action != 'labeled' ||"
            f" {_added_label_is([GATING_LABEL, stage.label])}))"
        )
    else:
        # pr-test.yml has no `labeled` trigger: adding a label never re-runs this stage.
        pr_clause = "github.event.action != 'labeled'"
    async_assert = "false" if name.startswith("base-a") else "true"
    return (
        templates.STAGE.replace("@NAME@", name)
        .replace("@NEEDS@", needs)
        .replace("@PR_CLAUSE@", pr_clause)
        .replace("@RUNNER@", stage.runner)
        .replace("@OUTPUT@", output_name(name))
        .replace("@TIMEOUT@", str(stage.timeout_minutes))
        .replace("@ASYNC_ASSERT@", async_assert)
        .replace("@SGLANG_CHECKOUT@", templates.SGLANG_CHECKOUT)
        .replace("@RUNNER_CHECKOUT@", templates.RUNNER_CHECKOUT)
    )


def _report(config: Config) -> str:
    needs = ", ".join(["plan", *config.stages])
    report = templates.REPORT.replace("@NEEDS@", needs)
    return report.replace("@RUNNER_CHECKOUT@", templates.RUNNER_CHECKOUT)
