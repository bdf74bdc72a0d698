"""The package layout (docs/ARCHITECTURE.md, "The floors"), checked on the source itself
with ``ast``; and the page itself names only packages and modules that exist.

Imports point down the layering only: a module may import its own package and any package
below it. Every ``sglang_ci`` import counts, at module level or not: one inside a function
or under ``if TYPE_CHECKING`` still ties the layers together. Nothing imports ``run/`` but
``run/`` itself, ``cli.py`` and ``nox_sessions.py``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sglang_ci"

# Bottom to top.
STACK = (
    "outcome",
    "engines",
    "config",
    "plan",
    "launch",
    "evals",
    "results",
    "calibration",
    "history",
    "bisect",
    "run",
)
# Top-level modules above the whole stack: parse and dispatch.
# The packaged suite modules (sglang_ci/suites/) are pytest files run against a live server,
# above everything as the CLI is (they use run/'s fixtures).
TOP = ("cli", "nox_sessions", "nox_names", "__main__", "suites")
# Apart from the stack, and no package of the stack imports them: the protocol stand-in
# imports the floors below plan only (how a job ends, its own engine module, config); the
# release contract also reads plan (our own commands and the endpoints we call are what it
# checks against the release).
APART = ("stub", "contract")
APART_MAY_IMPORT = {
    "stub": ("outcome", "engines", "config"),
    "contract": ("outcome", "engines", "config", "plan"),
}
# Shipped data and its generator: anyone may read it; it imports nothing else.
DATA = "data"
RUN_IMPORTERS = ("run", "cli", "nox_sessions", "suites")
MAX_LINES = 400
# A sys.path root for a fake third-party torchvision, put there by the contract check:
# its packages are torchvision's, not sglang_ci's subpackages.
# The suites are pytest files, not a package: pytest imports each by its folder.
NOT_SUBPACKAGES = (PACKAGE / "contract" / "standin", PACKAGE / "suites")

ARCHITECTURE = PACKAGE.parent / "docs" / "ARCHITECTURE.md"


class Import(NamedTuple):
    line: int
    target: str  # the dotted module name imported, sglang_ci.<...>


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def unit(module: str) -> str:
    """The package (``config``) or top-level module (``cli``) that a dotted name is in;
    ``""`` for ``sglang_ci`` itself."""
    parts = module.split(".")
    assert parts[0] == "sglang_ci", module
    return parts[1] if len(parts) > 1 else ""


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sglang_ci_imports(path: Path, package_dir: Path = PACKAGE) -> list[Import]:
    """Every import of sglang_ci in the file, wherever it stands, in line order; relative
    ones resolved."""
    return sorted(_imports(path, package_dir))


def _imports(path: Path, package_dir: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    own = module_name(path, package_dir)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sglang_ci":
                    yield Import(node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            if source.split(".")[0] != "sglang_ci":
                continue
            if source == "sglang_ci":
                # ``from sglang_ci import cli`` imports the module sglang_ci.cli.
                for alias in node.names:
                    yield Import(node.lineno, f"sglang_ci.{alias.name}")
            else:
                yield Import(node.lineno, source)


def rank(name: str) -> int:
    return STACK.index(name) if name in STACK else len(STACK)  # TOP ranks above the stack


def problem(importer: str, target: str) -> str | None:
    """Why ``importer`` (a unit) may not import ``target`` (a unit), or None."""
    known = (*STACK, *TOP, *APART, DATA)
    assert importer in known, f"sglang_ci/{importer} is not placed in the layering: add it"
    if target in ("", importer, DATA):
        return None
    if target not in known:
        return f"{target} is not placed in the layering"
    if importer == DATA:
        return "data imports nothing of sglang_ci"
    if importer in APART:
        if target not in APART_MAY_IMPORT[importer]:
            return f"{importer} may import {', '.join(APART_MAY_IMPORT[importer])} only"
        return None
    if target in APART:
        if importer in TOP:
            return None
        return f"{target} stands apart: no package of the stack imports it"
    if target == "run" and importer not in RUN_IMPORTERS:
        return f"only {', '.join(RUN_IMPORTERS)} import run"
    if rank(target) > rank(importer):
        return f"{target} is above {importer}"
    return None


def violations(path: Path) -> list[str]:
    importer = unit(module_name(path))
    found = []
    for imported in sglang_ci_imports(path):
        if importer == "":  # sglang_ci/__init__.py: imported by all, so imports nothing
            why: str | None = "sglang_ci/__init__.py imports nothing of sglang_ci"
        else:
            why = problem(importer, unit(imported.target))
        if why:
            found.append(
                f"{relative(path)}:{imported.line}: {importer or 'sglang_ci'} imports"
                f" {imported.target} ({why})"
            )
    return found


@pytest.mark.parametrize("path", [pytest.param(path, id=relative(path)) for path in modules()])
def test_imports_point_down(path: Path) -> None:
    found = violations(path)
    assert not found, "imports against the layering:\n" + "\n".join(found)


def test_every_subpackage_has_a_documented_init() -> None:
    missing = []
    for folder in sorted({path.parent for path in modules()}):
        if any(folder == root or root in folder.parents for root in NOT_SUBPACKAGES):
            continue
        init = folder / "__init__.py"
        if not init.is_file():
            missing.append(f"{relative(folder)}/: no __init__.py")
        elif ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) is None:
            missing.append(f"{relative(init)}: no docstring")
    assert not missing, "\n".join(missing)


def test_no_module_is_too_long() -> None:
    too_long = [
        f"{relative(path)}: {lines} lines"
        for path in modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]
    assert not too_long, f"split into modules of at most {MAX_LINES} lines:\n" + "\n".join(too_long)


def test_the_checker_sees_every_kind_of_import(tmp_path: Path) -> None:
    """Function-level, TYPE_CHECKING and relative imports count as much as the others."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "import sglang_ci.config.errors\n"
        "from . import listing\n"
        "if TYPE_CHECKING:\n"
        "    from sglang_ci.results.result_file import JobResult\n"
        "def f() -> None:\n"
        "    from sglang_ci import cli\n"
        "    from ..run.options import RunOptions\n"
    )
    example = tmp_path / "sglang_ci" / "plan" / "example.py"
    example.parent.mkdir(parents=True)
    example.write_text(source)
    found = sglang_ci_imports(example, tmp_path / "sglang_ci")
    assert [(i.line, i.target) for i in found] == [
        (2, "sglang_ci.config.errors"),
        (3, "sglang_ci.plan"),
        (5, "sglang_ci.results.result_file"),
        (7, "sglang_ci.cli"),
        (8, "sglang_ci.run.options"),
    ]
    assert [problem("plan", unit(i.target)) for i in found] == [
        None,
        None,
        "results is above plan",
        "cli is above plan",
        "only run, cli, nox_sessions, suites import run",
    ]


def named_paths(text: str) -> list[str]:
    """Every package or module a page names in backticks: `sglang_ci/x/`, `run/y.py`."""
    return [name for name in re.findall(r"`([\w/.]+)`", text)
            if name.endswith((".py", "/")) and not name.startswith(".")]  # fmt: skip


def test_the_architecture_page_names_what_exists() -> None:
    """Each path is the package's (sglang_ci/...) or relative to it (run/server_job.py)."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    named = named_paths(text)
    missing = [name for name in named if not (PACKAGE.parent / name).exists()
               and not (PACKAGE / name).exists()]  # fmt: skip
    assert len(named) > 20 and not missing, f"docs/ARCHITECTURE.md names {missing}"
    # Every floor of the stack is on the page, as the table of floors lists them.
    assert [floor for floor in STACK if f"`sglang_ci/{floor}/`" in text] == list(STACK)


def test_the_checker_of_the_page_sees_a_missing_module() -> None:
    assert named_paths("the `run/gone.py` job, `sglang_ci/x/` and `x.toml`") == [
        "run/gone.py",
        "sglang_ci/x/",
    ]
