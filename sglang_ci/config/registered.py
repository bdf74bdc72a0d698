"""SGLang's registered test files, read from a checkout without importing them.

SGLang registers each CI test file in its own source: a module-level call such as
``register_cuda_ci(est_time=120, stage="base-b", runner_config="1-gpu-small")`` (or a
legacy ``suite="..."``). ``python/sglang/test/ci/ci_register.py`` collects them by AST,
because importing a test file imports torch; ``test/run_suite.py`` picks a suite's files
and runs each one. This module reads the same calls the same way (commit 6ed5780c4f):

- files: ``test/registered/**/*.py`` less ``conftest.py``, ``__init__.py``,
  ``cpu/utils.py`` and ``run_tests.py`` (run_suite.py's glob);
- calls: only ``register_<backend>_ci(...)`` expression statements at module level;
  ``est_time`` required; exactly one of (stage and runner_config) or suite;
- suite: ``f"{stage}-test-{runner_config}"`` when both are set, else ``suite``;
- every file has a registration, and a file with an enabled one has an executable
  ``if __name__ == "__main__":`` block (run_suite.py's sanity check);
- a CUDA or CPU registration's suite is one run_suite.py lists for its backend
  (``validate_all_suites``); the lists are read from the checkout's run_suite.py.

Stricter than SGLang, on purpose: an argument that is not a literal is an error here,
where ci_register.py silently reads it as unset (``disabled=REASON`` would enable the
file); and one file registered twice for one backend, suite and nightly flag (run_suite
would run it twice) is an error. The real tree at 6ed5780c4f has neither.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sglang_ci.config.errors import ConfigError, UsageError

REGISTER_CALLS = {
    "register_cpu_ci": "cpu",
    "register_cuda_ci": "cuda",
    "register_amd_ci": "amd",
    "register_musa_ci": "musa",
    "register_npu_ci": "npu",
    "register_xpu_ci": "xpu",
    "register_mlx_ci": "mlx",
}
# ci_register.py: `suite` keeps positional slot 2; stage and runner_config are kwarg-only.
POSITIONAL = ("est_time", "suite", "nightly", "disabled")
KEYWORDS = (*POSITIONAL, "stage", "runner_config")
# run_suite.py's exclusions from its glob of test/registered/.
EXCLUDED_SUFFIXES = ("/conftest.py", "/__init__.py", "/cpu/utils.py", "/run_tests.py")
REGISTRY_DIR = "test/registered"
RUN_SUITE = "test/run_suite.py"
# validate_all_suites checks these backends; AMD and NPU suites go unchecked there.
CHECKED_BACKENDS = ("cuda", "cpu", "musa", "xpu", "mlx")
SUITE_LISTS = ("PER_COMMIT_SUITES", "NIGHTLY_SUITES", "OTHER_SUITES")


@dataclass(frozen=True)
class Registration:
    """One ``register_*_ci`` call. ``file`` is relative to the checkout's root."""

    file: str
    line: int
    backend: str
    est_time: float
    stage: str | None
    runner_config: str | None
    suite_arg: str | None
    nightly: bool
    disabled: str | None  # the reason, or None when enabled

    @property
    def suite(self) -> str:
        """ci_register.py's ``effective_suite``."""
        if self.stage is not None and self.runner_config is not None:
            return f"{self.stage}-test-{self.runner_config}"
        assert self.suite_arg is not None  # the shape check guarantees one of the two
        return self.suite_arg


@dataclass(frozen=True)
class Registry:
    """Every registration of a checkout, and the suite names its run_suite.py lists."""

    checkout: Path
    registrations: tuple[Registration, ...]
    known_suites: dict[str, frozenset[str]]  # backend -> suites run_suite.py lists

    def select(
        self, suite: str, *, nightly: bool = False, backend: str = "cuda"
    ) -> tuple[list[Registration], list[Registration]]:
        """run_suite.py's ``filter_tests``: (enabled, disabled) of one suite, in file order.
        An unknown suite is an error here (run_suite only warns and runs nothing)."""
        chosen = [
            r
            for r in self.registrations
            if r.backend == backend and r.suite == suite and r.nightly == nightly
        ]
        if not chosen:
            other = [r for r in self.registrations if r.backend == backend and r.suite == suite]
            if other:  # the suite exists, registered the other way only
                kind = "nightly" if other[0].nightly else "per-commit"
                raise UsageError(f"suite {suite!r} has only {kind} {backend} registrations;"
                                 f" set nightly = {str(other[0].nightly).lower()}")  # fmt: skip
            names = sorted({r.suite for r in self.registrations if r.backend == backend})
            close = difflib.get_close_matches(suite, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            flag = " nightly" if nightly else ""
            raise UsageError(f"no {backend}{flag} registration for suite {suite!r}{hint}")
        enabled = [r for r in chosen if r.disabled is None]
        return enabled, [r for r in chosen if r.disabled is not None]

    def suites(self, *, nightly: bool, backend: str = "cuda") -> dict[str, dict[str, float]]:
        """suite -> {file: est_time} of the enabled registrations."""
        table: dict[str, dict[str, float]] = {}
        for r in self.registrations:
            if r.backend == backend and r.nightly == nightly and r.disabled is None:
                table.setdefault(r.suite, {})[r.file] = r.est_time
        return {suite: table[suite] for suite in sorted(table)}


def discover(checkout: Path) -> list[str]:
    """run_suite.py's files, relative to the checkout, sorted."""
    root = checkout / REGISTRY_DIR
    found = (path.relative_to(checkout).as_posix() for path in root.rglob("*.py"))
    return sorted(f for f in found if not ("/" + f).endswith(EXCLUDED_SUFFIXES))


def _literal(node: ast.expr, name: str, where: str, call: str) -> object:
    if not isinstance(node, ast.Constant):
        raise ConfigError(f"{where}: {call}(): {name} must be a literal, not an expression")
    return node.value


def _parse_call(call: ast.Call, name: str, where: str) -> dict[str, object]:
    if any(isinstance(a, ast.Starred) for a in call.args) or any(
        k.arg is None for k in call.keywords
    ):
        raise ConfigError(f"{where}: {name}(): *args and **kwargs are not supported")
    if len(call.args) > len(POSITIONAL):
        raise ConfigError(f"{where}: {name}(): too many positional arguments")
    values: dict[str, object] = {}
    for key, arg in zip(POSITIONAL, call.args, strict=False):
        values[key] = _literal(arg, key, where, name)
    for keyword in call.keywords:
        key = str(keyword.arg)
        if key not in KEYWORDS:
            raise ConfigError(f"{where}: {name}(): unknown argument {key!r}")
        if key in values:
            raise ConfigError(f"{where}: {name}(): argument {key!r} given twice")
        values[key] = _literal(keyword.value, key, where, name)
    return values


def _registration(call: ast.Call, name: str, file: str) -> Registration:
    where = f"{file}:{call.lineno}"
    values = _parse_call(call, name, where)
    est = values.get("est_time")
    if est is None or isinstance(est, bool) or not isinstance(est, (int, float)):
        raise ConfigError(f"{where}: {name}(): est_time must be a number")
    pair = ("stage" in values, "runner_config" in values)
    if not (pair == (True, True) and "suite" not in values) and not (
        pair == (False, False) and "suite" in values
    ):
        raise ConfigError(f"{where}: {name}(): give either stage and runner_config, or suite")
    texts: dict[str, str | None] = {}
    for key in ("stage", "runner_config", "suite", "disabled"):
        value = values.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{where}: {name}(): {key} must be a string")
        texts[key] = value
    nightly = values.get("nightly", False)
    if not isinstance(nightly, bool):
        raise ConfigError(f"{where}: {name}(): nightly must be True or False")
    if None in ((texts["stage"], texts["runner_config"]) if pair[0] else (texts["suite"],)):
        raise ConfigError(f"{where}: {name}(): the suite, stage and runner_config are strings")
    return Registration(
        file, call.lineno, REGISTER_CALLS[name], float(est), texts["stage"],
        texts["runner_config"], texts["suite"], nightly, texts["disabled"],
    )  # fmt: skip


def _is_main_block(stmt: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` whose body calls something (runs the tests)."""
    if not isinstance(stmt, ast.If) or not isinstance(stmt.test, ast.Compare):
        return False
    test = stmt.test
    if not (isinstance(test.left, ast.Name) and test.left.id == "__name__"):
        return False
    if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq) or len(test.comparators) != 1:
        return False
    rhs = test.comparators[0]
    if not (isinstance(rhs, ast.Constant) and rhs.value == "__main__"):
        return False
    return any(isinstance(node, ast.Call) for s in stmt.body for node in ast.walk(s))


def read_file(checkout: Path, file: str) -> list[Registration]:
    """The registrations of one file, after run_suite.py's sanity checks."""
    try:
        tree = ast.parse((checkout / file).read_text(encoding="utf-8"), filename=file)
    except SyntaxError as error:
        raise ConfigError(f"{file}:{error.lineno}: not valid Python ({error.msg})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{file}: unreadable ({error})") from None
    found: list[Registration] = []
    has_main = False
    for stmt in tree.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            func = stmt.value.func
            if isinstance(func, ast.Name) and func.id in REGISTER_CALLS:
                found.append(_registration(stmt.value, func.id, file))
        has_main = has_main or _is_main_block(stmt)
    if not found:
        raise ConfigError(f"{file}:1: no register_*_ci() call at module level")
    if not has_main and any(r.disabled is None for r in found):
        raise ConfigError(f'{file}:1: no `if __name__ == "__main__":` block that runs the'
                          " tests; `python3 FILE -f` would pass without running any")  # fmt: skip
    return found


def _suite_lists(checkout: Path) -> dict[str, frozenset[str]]:
    """backend -> suite names, from run_suite.py's module-level dicts keyed HWBackend.X."""
    path = checkout / RUN_SUITE
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=RUN_SUITE)
    except (OSError, SyntaxError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not SGLang's run_suite.py ({error})") from None
    lists: dict[str, set[str]] = {}
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Dict)):
            continue
        if not any(isinstance(t, ast.Name) and t.id in SUITE_LISTS for t in stmt.targets):
            continue
        for key, value in zip(stmt.value.keys, stmt.value.values, strict=True):
            if isinstance(key, ast.Attribute) and isinstance(value, ast.List):
                names = lists.setdefault(key.attr.lower(), set())
                names.update(
                    e.value for e in value.elts
                    if isinstance(e, ast.Constant) and isinstance(e.value, str)
                )  # fmt: skip
    if "cuda" not in lists:
        raise ConfigError(f"{path}: no CUDA suite lists ({', '.join(SUITE_LISTS)}) found")
    return {backend: frozenset(names) for backend, names in lists.items()}


def _check(registrations: Iterable[Registration], known: dict[str, frozenset[str]]) -> None:
    seen: dict[tuple[str, str, str, bool], Registration] = {}
    for r in registrations:
        if r.backend in CHECKED_BACKENDS and r.suite not in known.get(r.backend, frozenset()):
            close = difflib.get_close_matches(r.suite, sorted(known.get(r.backend, ())), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{r.file}:{r.line}: suite {r.suite!r} is not a {r.backend}"
                              f" suite of {RUN_SUITE}{hint}")  # fmt: skip
        key = (r.file, r.backend, r.suite, r.nightly)
        if key in seen:
            raise ConfigError(f"{r.file}:{r.line}: registered twice for {r.backend} suite"
                              f" {r.suite!r} (first at line {seen[key].line})")  # fmt: skip
        seen[key] = r


def read_registry(checkout: Path | str) -> Registry:
    """Every registration under a checkout's test/registered/, checked as run_suite does."""
    root = Path(checkout)
    if not (root / REGISTRY_DIR).is_dir() or not (root / RUN_SUITE).is_file():
        if not root.is_dir():
            raise UsageError(f"{root}: no such folder; name an SGLang checkout's root")
        raise UsageError(f"{root}: not an SGLang checkout (no {REGISTRY_DIR}/ or {RUN_SUITE})")
    known = _suite_lists(root)
    registrations = [r for file in discover(root) for r in read_file(root, file)]
    _check(registrations, known)
    return Registry(root, tuple(registrations), known)
