"""With no network, `eval` fails in under 2 s with one line (issue 15, item 11): the data
download checks that its host answers before it starts, under a deadline that a hung
resolver cannot stretch."""

from __future__ import annotations

import socket
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sglang_ci.cli import main_exit_code
from sglang_ci.config.errors import UsageError
from sglang_ci.evals import data
from tests.conftest import run_python


@pytest.fixture
def hung_resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every name look-up blocks, as on a box whose DNS server does not answer."""
    release = threading.Event()

    def blocked(*_args: Any, **_kwargs: Any) -> Any:
        release.wait(60)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", blocked)
    yield
    release.set()  # the abandoned look-up thread ends with the test


def test_eval_with_a_hung_resolver_fails_fast(
    hung_resolver: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path / "empty-cache"))
    for var in ("HTTPS_PROXY", "https_proxy", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    started = time.monotonic()
    code = main_exit_code(["eval", "gsm8k", "--base-url", "http://127.0.0.1:9",
                           "--output", str(tmp_path)])  # fmt: skip
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err.strip().splitlines()
    assert elapsed < 2.0, elapsed
    assert code == 2
    assert err == [
        "sglang-ci: error: gsm8k data: no network (raw.githubusercontent.com:443: no answer"
        f" within {data.REACH_TIMEOUT_S:g} s); pass --data PATH ({data.GSM8K.file_format})"
        " or set SGLANG_CI_GSM8K_DATA"
    ]


def test_hub_route_checks_the_network_too(
    hung_resolver: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # datasets is an extra (sglang-ci[hub]); a stand-in module lets the route reach its
    # network check without it.
    monkeypatch.setitem(sys.modules, "datasets", types.ModuleType("datasets"))
    with pytest.raises(UsageError, match=r"hellaswag data: no network \(huggingface.co"):
        data.load_lines(data.HELLASWAG, data.HUB, {})


@pytest.mark.real_process
def test_eval_through_a_dead_proxy_is_one_line_at_once(tmp_path: Path) -> None:
    """A real process whose only route out (its proxy) is closed: no retries, no traceback."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    result = run_python(
        "-m", "sglang_ci", "eval", "hellaswag", "--base-url", "http://127.0.0.1:9",
        "--output", str(tmp_path), env={"HTTPS_PROXY": f"http://127.0.0.1:{port}",
        "https_proxy": f"http://127.0.0.1:{port}", data.CACHE_ENV: str(tmp_path / "cache")},
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "hellaswag data: no network" in lines[0], result.stderr
    assert f"127.0.0.1:{port}: Connection refused" in lines[0]
    assert elapsed < 5.0, elapsed  # interpreter start and imports included
