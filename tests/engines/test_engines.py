"""The engine is a variant (sglang_ci/engines/): what differs per engine is asked of its
module, never decided by comparing its name elsewhere, and a new engine is one module plus
one registration line."""

from __future__ import annotations

import ast
import dataclasses
import os
import shlex
from collections.abc import Mapping
from pathlib import Path

import pytest

from sglang_ci.config.model import load_config
from sglang_ci.engines import registry, stub
from sglang_ci.engines.sglang import SGLang
from sglang_ci.plan.dry_run import render_plan
from tests.conftest import FIXTURES

PACKAGE = Path(__file__).resolve().parents[2] / "sglang_ci"
# Where an engine may be named: its own module and the registry (engines/), and the stub
# package, which names itself.
OWN = (PACKAGE / "engines", PACKAGE / "stub")


def name_comparisons(path: Path, names: set[str]) -> list[str]:
    """``x == "stub"``, ``x != "sglang"``, ``x in ("stub", ...)`` in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Compare):
            continue
        for operand in [node.left, *node.comparators]:
            values = (
                operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
            )
            for value in values:
                if isinstance(value, ast.Constant) and value.value in names:
                    where = path.relative_to(PACKAGE) if PACKAGE in path.parents else path.name
                    found.append(f"{where}:{node.lineno}: {value.value!r}")
    return found


def test_no_module_compares_an_engines_name() -> None:
    names = set(registry.ENGINES)
    found = [
        problem
        for path in sorted(PACKAGE.rglob("*.py"))
        if not any(root in path.parents for root in OWN)
        for problem in name_comparisons(path, names)
    ]
    assert not found, "ask the engine (sglang_ci.engines.registry.engine(name)):\n" + "\n".join(
        found
    )


def test_the_checker_sees_a_comparison(tmp_path: Path) -> None:
    example = tmp_path / "example.py"
    example.write_text('if engine == "stub" or kind in ("a", "sglang"):\n    pass\n')
    assert len(name_comparisons(example, {"stub", "sglang"})) == 2


@dataclasses.dataclass(frozen=True)
class Remote(SGLang):
    """A third engine as a new module would write it: SGLang's behaviour, its own program."""

    name: str = "remote"
    plan_note: str = "an endpoint elsewhere"

    def server_program(self, python: str, disaggregated: bool) -> list[str]:
        return ["remote-serve"]

    def data_defaults(self, eval_envs: Mapping[str, str]) -> dict[str, str]:
        return {}


def test_a_new_engine_is_one_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.ENGINES, "remote", Remote())
    config = load_config(None, {}, FIXTURES)
    job = config.find_job("spec(model='gemma4-31b', topk=3)")
    plan = render_plan(job, config.stages[job.stage], "remote")
    assert "engine remote (an endpoint elsewhere)" in plan
    (argv,) = [shlex.split(line) for line in plan.splitlines() if "remote-serve" in line]
    assert argv[:3] == ["remote-serve", "--model-path", "google/gemma-4-31B-it"]


def test_only_the_stub_is_a_rehearsal() -> None:
    assert [name for name, one in registry.ENGINES.items() if one.rehearsal] == ["stub"]
    # What the stub reports about itself in a result file is recognised too.
    assert registry.is_rehearsal(f"{stub.STUB_ENGINE_NAME} (protocol stand-in, not a model)")
    assert not registry.is_rehearsal("0.5.10")


def test_the_stubs_data_defaults_name_the_evals_files() -> None:
    defaults = stub.ENGINE.data_defaults({"gsm8k": "G", "hellaswag": "H"})
    assert Path(defaults["G"]).is_file() and Path(defaults["H"]).is_file()
    assert defaults[stub.STUB_DATA_ENV].split(os.pathsep) == [defaults["G"], defaults["H"]]
    assert registry.engine("sglang").data_defaults({"gsm8k": "G"}) == {}
