"""Output for pipes and logs (issue 15, item 13): progress bars only on a terminal, plain
lines per quarter elsewhere; `list | head` and `plan | head` end quietly."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import threading

import pytest

from sglang_ci.evals.pool import LogProgress, map_in_threads, progress
from tests.conftest import ROOT


def test_a_log_gets_a_line_per_quarter(capsys: pytest.CaptureFixture[str]) -> None:
    assert map_in_threads(lambda n: n * 2, list(range(8)), 2, "gsm8k", threading.Event()) == [
        0, 2, 4, 6, 8, 10, 12, 14]  # fmt: skip
    err = capsys.readouterr().err
    assert err.splitlines() == ["gsm8k: 2/8 (25%)", "gsm8k: 4/8 (50%)", "gsm8k: 6/8 (75%)",
                                "gsm8k: 8/8 (100%)"]  # fmt: skip
    assert "\r" not in err and "\x1b" not in err  # no redrawn bar in a CI log


def test_few_samples_still_end_at_100_percent() -> None:
    out = io.StringIO()
    log = LogProgress(3, "hellaswag", out)
    for _ in range(3):
        log.update()
    assert out.getvalue().splitlines() == ["hellaswag: 1/3 (33%)", "hellaswag: 2/3 (66%)",
                                           "hellaswag: 3/3 (100%)"]  # fmt: skip


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_the_bar() -> None:
    out = Terminal()
    with progress(4, "gsm8k", out) as bar:
        assert not isinstance(bar, LogProgress)
        bar.update()
    assert "\r" in out.getvalue() and "gsm8k" in out.getvalue()


@pytest.mark.real_process
@pytest.mark.parametrize("command", [["list"], ["plan", "--stage", "base-b"]])
def test_a_closed_pipe_ends_quietly(command: list[str]) -> None:
    """The reader closes before the runner writes its first line, as `| head -0` would."""
    with subprocess.Popen([sys.executable, "-m", "sglang_ci", *command], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:  # fmt: skip
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        err = process.stderr.read().decode()
        assert process.wait(timeout=60) == 128 + signal.SIGPIPE
    assert err == ""
