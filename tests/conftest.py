"""Shared fixtures, and the guard that keeps unit tests from starting real processes.

A unit test that starts a process by accident is slow, flaky and can leak a server;
tests that start processes on purpose say so with ``@pytest.mark.real_process``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import tomlkit

from sglang_ci.config.model import CONFIG_ENV
from sglang_ci.config.sglang_ports import plain_server_ports
from sglang_ci.launch.launcher import RunningProcess, await_ready, start_process
from sglang_ci.launch.ports import PortLease

ROOT = Path(__file__).resolve().parent.parent
# The tests' own stages.toml and baselines.toml: rule and plan tests read these, so the
# project's file can change without breaking them (tests/test_shipped_stages.py checks the
# real one).
FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE_TOML = FIXTURES / "stages.toml"


E2E = Path(__file__).resolve().parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The process-starting tests are ``e2e``: those marked real_process or wheel, and all
    of tests/e2e/; ``-m "not e2e"`` runs the unit floor alone."""
    for item in items:
        if (
            item.get_closest_marker("real_process")
            or item.get_closest_marker("wheel")
            or E2E in item.path.parents
        ):
            item.add_marker(pytest.mark.e2e)

    # The long tests first, so that no worker starts a 40-second test while the others
    # are done; among them an xdist_group's tests side by side at the head, where
    # `--maxschedchunk 2` (noxfile.py) hands each pair to one worker, which sets up their
    # module-scoped fixture once. A stable sort: the rest keep their order.
    def order(item: pytest.Item) -> tuple[bool, bool, str]:
        group = item.get_closest_marker("xdist_group")
        return (item.get_closest_marker("long") is None, group is None,
                str(group.args[0]) if group else "")  # fmt: skip

    items.sort(key=order)


@pytest.fixture(autouse=True)
def _no_real_processes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("real_process"):
        return

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        pytest.fail(
            f"{request.node.nodeid} tried to start a process; mark it @pytest.mark.real_process"
            " if it must"
        )

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)
    monkeypatch.setattr(os, "system", refuse)
    monkeypatch.setattr(os, "fork", refuse)
    monkeypatch.setattr(os, "posix_spawn", refuse)
    monkeypatch.setattr(os, "posix_spawnp", refuse)


@pytest.fixture(autouse=True)
def _private_registry_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's registry cache (and the processes it starts) in its own folder, never
    the user's: a test must not read another's cache, nor leave one behind."""
    monkeypatch.setenv("SGLANG_CI_REGISTRY_CACHE", str(tmp_path / "registry-cache"))


@pytest.fixture(autouse=True)
def _fixture_config_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command given no --config reads the tests' fixture stages.toml, never the
    project's ./stages.toml: a change to the shipped file breaks only
    tests/test_shipped_stages.py (which names it explicitly), not every CLI test."""
    monkeypatch.setenv(CONFIG_ENV, str(FIXTURE_TOML))


ConfigEdit = Callable[[tomlkit.TOMLDocument], None]


@pytest.fixture
def write_config(tmp_path: Path) -> Iterator[Callable[[ConfigEdit], Path]]:
    """Copy the fixture stages.toml, apply one edit, and return the new file's path.

    Tests break a valid config in one precise way each; the fixture (not the project's
    file) is that config, so editing the project's stages.toml breaks no rule test.
    """

    def write(edit: ConfigEdit) -> Path:
        document = tomlkit.parse(FIXTURE_TOML.read_text())
        edit(document)
        path = tmp_path / "stages.toml"
        path.write_text(tomlkit.dumps(document))
        (tmp_path / "baselines.toml").write_text((FIXTURES / "baselines.toml").read_text())
        return path

    yield write


def run_python(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m ...`` with this interpreter, for tests marked real_process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=timeout,
        check=False,
    )


TAG_ENV = "SGLANG_CI_TEST_TAG"


def tagged_processes(tag: str) -> list[str]:
    """Live processes whose environment carries this test's tag: everything a test started
    inherits it, so any match after teardown is a leak."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if process.info["status"] == psutil.STATUS_ZOMBIE or process.pid == os.getpid():
                continue
            if process.environ().get(TAG_ENV) == tag:
                found.append(f"{process.pid} {' '.join(process.info['cmdline'] or [])[:120]}")
        except psutil.Error:
            continue
    return found


@pytest.fixture
def tag(request: pytest.FixtureRequest) -> str:
    import uuid

    return f"{request.node.name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def gsm8k_key(tmp_path: Path) -> Path:
    """A small GSM8K-format answer key the tests write themselves (no hub data)."""
    path = tmp_path / "gsm8k.jsonl"
    lines = [
        f'{{"question": "Tom has {i} apples and buys {i + 3} more. How many apples now?",'
        f' "answer": "{i} + {i + 3} = {2 * i + 3}\\n#### {2 * i + 3}"}}'
        for i in range(1, 41)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


StartStub = Callable[..., RunningProcess]


@pytest.fixture
def start_stub(tmp_path: Path) -> Iterator[StartStub]:
    """Start stub servers through the launcher (real processes); all torn down after."""
    started: list[RunningProcess] = []
    lease = PortLease()

    def start(*args: str, env: dict[str, str] | None = None, ready: bool = True) -> RunningProcess:
        port = lease.take(plain_server_ports)  # its gRPC port must stay in range
        command = [sys.executable, "-m", "sglang_ci.stub", "--model-path", "org/model", "--port",
                   str(port), *args]  # fmt: skip
        process = start_process(
            "server", command, {**os.environ, **(env or {})}, tmp_path / f"{port}.log", port
        )
        started.append(process)
        if ready:
            await_ready(process, 30, "/health_generate")
        return process

    yield start
    for process in started:
        assert not process.tree.teardown(grace=2).survivors
    lease.release()


# The suite of the tests' small hand-written projects: GSM8K against the job's threshold.
QUICK_SUITE = """from sglang_ci.run.suite_plugin import SuiteContext


def test_gsm8k(ctx: SuiteContext) -> None:
    ctx.check("gsm8k", ctx.run_eval("gsm8k").score)
"""


def write_quick_project(folder: Path, config: str) -> Path:
    """``config`` as folder/stages.toml, with suites/test_quick.py (QUICK_SUITE) beside it;
    the path of the stages.toml."""
    suites = folder / "suites"
    suites.mkdir(parents=True)
    (suites / "test_quick.py").write_text(QUICK_SUITE)
    (suites / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    (folder / "stages.toml").write_text(config)
    return folder / "stages.toml"


def write_sglang_checkout(root: Path, files: dict[str, str], run_suite: str) -> Path:
    """An SGLang checkout as run_suite.py sees one: test/run_suite.py with its suite lists
    and ``files`` (path under test/registered/ -> source)."""
    (root / "test" / "registered").mkdir(parents=True)
    (root / "test" / "run_suite.py").write_text(run_suite)
    for name, text in files.items():
        path = root / "test" / "registered" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root
