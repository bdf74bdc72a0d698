"""One slot of a packed run: one job in a worker process of its own, on its own GPUs.

The worker is ``python -m sglang_ci job <id>`` with CUDA_VISIBLE_DEVICES set to the
slot's GPUs, so the job sees only them (``--base-gpu-id`` and PD offsets count from the
first of them, as CUDA renumbers the visible set) and runs exactly as a job run alone
does: its own leased ports, result folder, logs, cancel token and run-ledger entries.
Its console goes to a log file, never to the runner's console. A thread per slot waits
for the worker, then for its GPUs' release, and reports back on a queue.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from sglang_ci.outcome.kinds import FailureKind
from sglang_ci.outcome.verdict import Status, Verdict
from sglang_ci.plan.packing import PackJob
from sglang_ci.results.result_file import JobResult
from sglang_ci.run.gpu_pool import GpuPool


@dataclass
class Slot:
    job: PackJob
    indices: tuple[int, ...]  # into the pool
    gpus: tuple[str, ...]  # as CUDA_VISIBLE_DEVICES names them
    result_path: Path
    log_path: Path
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    process: subprocess.Popen[bytes] | None = None
    result: JobResult | None = None
    taken_out: list[str] = field(default_factory=list)  # GPUs not released after it
    ended_by: str | None = None  # why the runner ended it (fail-fast, cancel)
    by_fail_fast: bool = False  # ended because a neighbour failed (pack-fail-fast = "end")
    # result.json's mtime and the phase read from it then
    _phase: tuple[int, str] = field(default=(0, "starting"), init=False, repr=False)

    def phase(self) -> str:
        """What the worker is doing, from its result.json (written at each phase's end)."""
        if self.ended is not None:
            return self.result.status.value if self.result else "ended"
        try:  # read again only when the worker rewrote it: the console asks 4 times a second
            mtime = self.result_path.stat().st_mtime_ns
            if mtime != self._phase[0]:
                phases = JobResult.load(self.result_path).phases
                current = next((n for n in ("launch", "checks", "eval") if n not in phases),
                               "teardown")  # fmt: skip
                self._phase = (mtime, current)
        except (OSError, ValueError, TypeError, KeyError):
            return "starting"
        return self._phase[1]

    def signal(self, signum: int) -> None:
        """Forward a signal to the worker (our child: its Popen says it has not exited)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)

    def kill_tree(self) -> None:
        """Last resort when the cancel window closes: SIGKILL the worker and what it started."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            worker = psutil.Process(self.process.pid)
            tree = [worker, *worker.children(recursive=True)]
        except psutil.Error:
            return
        for member in tree:
            with contextlib.suppress(psutil.Error):
                member.send_signal(signal.SIGKILL)


def start_slot(
    slot: Slot, argv: list[str], env: dict[str, str], pool: GpuPool,
    done: queue.Queue[Slot], stop: threading.Event, on_start: Callable[[Slot], None],
) -> None:  # fmt: skip
    """Start the worker now, and a thread that reports the slot on ``done`` when the
    worker has exited and the GPUs are back in the pool (or taken out)."""
    slot.log_path.parent.mkdir(parents=True, exist_ok=True)
    with slot.log_path.open("wb") as log:
        slot.process = subprocess.Popen(
            argv, env={**env, "CUDA_VISIBLE_DEVICES": ",".join(slot.gpus)},
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # the runner forwards signals: nothing reaches it twice
        )  # fmt: skip
    on_start(slot)

    def wait() -> None:
        assert slot.process is not None
        code = slot.process.wait()
        slot.ended = time.monotonic()
        slot.result = final_result(slot, code)
        slot.taken_out = pool.give_back(slot.indices, stop)
        done.put(slot)

    threading.Thread(target=wait, name=f"slot {slot.job.id}", daemon=True).start()


def final_result(slot: Slot, code: int) -> JobResult:
    """The worker's own result, or, where it left none or left it running (killed before
    its teardown wrote it), one written here that says what happened."""
    try:
        result = JobResult.load(slot.result_path)
    except (OSError, ValueError, TypeError, KeyError):
        result = JobResult(slot.job.id, "", "", slot.job.gpus)
    if result.status is Status.CANCELLED and slot.by_fail_fast:
        # Ended because a neighbour failed: fail-fast's `skipped`, as for a job not
        # started, so the stage's exit code is the failure's, not a cancellation's.
        result.finish(
            Verdict.skipped(
                f"{slot.ended_by}; it had run {(slot.ended or slot.started) - slot.started:.0f} s"
            )
        )
        result.write(slot.result_path)
        return result
    if result.status is not Status.RUNNING and slot.result_path.exists():
        if slot.ended_by and result.reason and slot.ended_by not in result.reason:
            result.reason = f"{result.reason} ({slot.ended_by})"
            result.write(slot.result_path)
        return result
    why = slot.ended_by or f"its worker exited with code {code} before writing a verdict"
    kind = FailureKind.CANCELLED if slot.ended_by else FailureKind.INTERNAL
    result.finish(Verdict.failure(kind, why))
    slot.result_path.parent.mkdir(parents=True, exist_ok=True)
    result.write(slot.result_path)
    return result
