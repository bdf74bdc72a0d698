"""The packed run's console: one line per slot; in a log only phase changes are printed,
on a terminal the block is redrawn in place. No process starts."""

from __future__ import annotations

import io
from pathlib import Path

from sglang_ci.plan.packing import PackJob
from sglang_ci.results.result_file import JobResult
from sglang_ci.run.slot import Slot
from sglang_ci.run.slot_console import SlotConsole


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def slot(tmp_path: Path) -> Slot:
    folder = tmp_path / "job"
    return Slot(PackJob("job", 2, 10.0), (0, 1), ("4", "5"), folder / "result.json",
                tmp_path / "job.log")  # fmt: skip


def test_a_log_gets_a_line_per_phase_change_only(tmp_path: Path) -> None:
    out = io.StringIO()
    console, one = SlotConsole(out), slot(tmp_path)
    console.update([one])
    console.update([one])  # no result.json yet: still starting, nothing new
    one.result_path.parent.mkdir()
    JobResult("job", "s", "stub", 2).write(one.result_path)
    console.update([one])
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("sglang-ci: [GPU 4,5] job: starting")
    assert lines[1].startswith("sglang-ci: [GPU 4,5] job: launch")


def test_a_terminal_block_is_redrawn_in_place(tmp_path: Path) -> None:
    out = Terminal()
    console, one = SlotConsole(out), slot(tmp_path)
    console.update([one])
    console.update([one])
    console.say("a message")
    text = out.getvalue()
    assert text.count("[GPU 4,5] job: starting") == 2
    assert text.count("\x1b[1F\x1b[J") == 2  # the block erased before each redraw and message
    assert text.endswith("sglang-ci: a message\n")
