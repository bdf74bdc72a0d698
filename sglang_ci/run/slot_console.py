"""The console of a packed run: one line per slot (job, GPUs, phase, elapsed). On a
terminal the block is redrawn in place; in a log (CI) a line is printed only when a
slot's phase changes, so the log stays readable. Servers' output never comes here: it
is in each job's own log files."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TextIO

from sglang_ci.run.slot import Slot


def slot_line(slot: Slot, now: float) -> str:
    elapsed = (slot.ended or now) - slot.started
    return (f"[GPU {','.join(slot.gpus)}] {slot.job.id}: {slot.phase()}"
            f" ({elapsed:.0f} s)")  # fmt: skip


class SlotConsole:
    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.terminal = out.isatty()
        self.drawn = 0  # lines of the block on screen (terminal only)
        self.phases: dict[str, str] = {}

    def say(self, message: str) -> None:
        """A line above the block (the block is redrawn under it)."""
        self._erase()
        print(f"sglang-ci: {message}", file=self.out, flush=True)

    def update(self, slots: Sequence[Slot]) -> None:
        now = time.monotonic()
        if not self.terminal:
            for slot in slots:
                phase = slot.phase()
                if self.phases.get(slot.job.id) != phase:
                    self.phases[slot.job.id] = phase
                    print(f"sglang-ci: {slot_line(slot, now)}", file=self.out, flush=True)
            return
        self._erase()
        for slot in slots:
            print(f"  {slot_line(slot, now)}", file=self.out)
        self.drawn = len(slots)
        self.out.flush()

    def _erase(self) -> None:
        if self.terminal and self.drawn:
            self.out.write(f"\x1b[{self.drawn}F\x1b[J")  # up N lines, clear to the end
            self.drawn = 0
