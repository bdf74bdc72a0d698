"""A packed stage: its jobs side by side on disjoint GPUs of one runner (``pack = true``
or ``pack = N`` in stages.toml; SGLang runs them one at a time, and so do we by default).

The queue and the choice of the next job are plan.packing's (longest first, backfilling
that never delays the job at the head). Each job runs in a slot (run.slot): a worker
process of its own, its GPUs in CUDA_VISIBLE_DEVICES. Faults stay in their slot: a
crash, a timeout or a leak ends that job with its own verdict while its neighbours run
on. A failure with continue-on-error off stops new starts; running jobs finish (or, with
``pack-fail-fast = "end"``, are ended). SIGINT/SIGTERM/SIGHUP are forwarded to every
worker, which tears its servers down as a job run alone does; any worker still there
when GitHub's window is about to close is killed with its tree. The run ledger lists
the workers, so ``cleanup`` after a ``kill -9`` of this runner reclaims every slot.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from sglang_ci.config.errors import UsageError
from sglang_ci.config.model import Config
from sglang_ci.config.text import job_dir_name
from sglang_ci.engines import registry
from sglang_ci.launch.ledger import RunLedger
from sglang_ci.outcome.kinds import FailureKind
from sglang_ci.outcome.verdict import Status, Verdict
from sglang_ci.plan.github_matrix import durations_for
from sglang_ci.plan.pack_view import pack_jobs
from sglang_ci.plan.packing import (
    PackJob,
    Running,
    check_fits,
    next_to_start,
    pick_gpus,
    queue_order,
)
from sglang_ci.results.job_folder import claimed, require_writable
from sglang_ci.results.provenance import collect_provenance
from sglang_ci.results.result_file import JobResult
from sglang_ci.results.summary import stage_table
from sglang_ci.results.timeline import Bar, write_timeline
from sglang_ci.run.cleanup import cleanup_before_run
from sglang_ci.run.gpu_pool import GpuPool, runner_gpus
from sglang_ci.run.options import RunOptions, StageOptions, to_argv
from sglang_ci.run.orchestrator import check_files_runnable, overall_exit_code
from sglang_ci.run.refused import write_not_run
from sglang_ci.run.slot import Slot, start_slot
from sglang_ci.run.slot_console import SlotConsole

# GitHub cancels with SIGINT, SIGTERM 7.5 s later and SIGKILL 2.5 s after that: workers
# still there 9 s after the first signal are killed, with what they started.
KILL_AFTER_S = 9.0
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_GOOD = (Status.PASSED, Status.SKIPPED)


def worker_argv(config: Config, unit: str, options: StageOptions) -> list[str]:
    """`job <unit>` with this run's options (the stage-only ones left out)."""
    import sys

    names = [field.name for field in dataclasses.fields(RunOptions)]
    single = RunOptions(**{name: getattr(options, name) for name in names})
    return [sys.executable, "-m", "sglang_ci", "job", unit, "--config", str(config.source),
            *to_argv(single)]  # fmt: skip


class PackedRun:
    def __init__(
        self, config: Config, stage: str, jobs: Sequence[PackJob], options: StageOptions,
        env: Mapping[str, str], pool: GpuPool,
    ) -> None:  # fmt: skip
        self.config, self.stage, self.options, self.env, self.pool = (
            config, stage, options, dict(env), pool)  # fmt: skip
        settings = config.stages[stage].policy
        self.cap = settings.max_concurrent
        self.ends_running = settings.pack_ends_running
        self.continue_on_error = options.policy(settings).continue_on_error
        self.results_dir = Path(options.results)
        self.queue = queue_order(jobs)
        self.order = [job.id for job in jobs]
        self.running: dict[str, Slot] = {}
        self.finished: list[Slot] = []
        self.results: dict[str, JobResult] = {}
        self.notes: list[str] = []
        self.done: queue.Queue[Slot] = queue.Queue()
        self.stop = threading.Event()  # set on cancel: release waits end at once
        self.stopping: str | None = None  # why nothing new starts
        self.cancelled: tuple[str, float] | None = None  # first signal's name and time
        self.killed = False
        self.previous: dict[signal.Signals, Any] = {}
        self.console = SlotConsole()
        self.t0 = time.monotonic()
        self.ledger = RunLedger(self.order, [str(self.result_path(u)) for u in self.order])

    def result_path(self, unit: str) -> Path:
        return self.results_dir / job_dir_name(unit) / "result.json"

    # Signals: forwarded to every worker; the first stops new starts.
    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.cancelled is None:
            self.cancelled = (name, time.monotonic())
            self.stopping = f"cancelled by {name}"
            self.stop.set()
        for slot in self.running.values():
            slot.ended_by = slot.ended_by or f"the packed run was cancelled by {name}"
            slot.signal(signum)

    def run(self) -> list[JobResult]:
        """Until every job has a verdict. The signal handlers stay until ``restore``: a
        signal after the last slot ended (GitHub's SIGTERM) must not kill the report."""
        self.previous = {sig: signal.signal(sig, self.on_signal) for sig in SIGNALS}
        self.ledger.write()
        try:
            while True:
                if self.stopping is None:
                    self.start_ready()
                if not self.running and (self.stopping or not self.queue):
                    break
                with contextlib.suppress(queue.Empty):
                    self.finish(self.done.get(timeout=0.25))
                self.escalate()
                self.console.update(list(self.running.values()))
        finally:
            self.ledger.close()
        self.mark_unstarted()
        return [self.results[unit] for unit in self.order if unit in self.results]

    def restore(self) -> None:
        # Once cancelled, exit 130 is all that is left: a later signal of the same cancel
        # (GitHub's SIGTERM 7.5 s after its SIGINT) must not turn it into a death by signal.
        for sig, handler in self.previous.items():
            signal.signal(sig, signal.SIG_IGN if self.cancelled else handler)

    def start_ready(self) -> None:
        while (
            self.queue
            and self.stopping is None
            and (self.cap is None or len(self.running) < self.cap)
        ):
            self.drop_unplaceable()
            free = self.pool.free_indices()
            now = time.monotonic()
            running = [Running(len(s.indices), max(now, s.started + s.job.seconds))
                       for s in self.running.values()]  # fmt: skip
            index = next_to_start(self.queue, len(free), now, running)
            if index is None:
                return
            job = self.queue.pop(index)
            indices = pick_gpus(free, job.gpus)
            self.pool.take(indices)
            slot = Slot(job, indices, tuple(self.pool.names[i] for i in indices),
                        self.result_path(job.id), self.log_path(job.id))  # fmt: skip
            self.running[job.id] = slot
            start_slot(slot, worker_argv(self.config, job.id, self.options), self.env,
                       self.pool, self.done, self.stop, self.record_worker)  # fmt: skip
            if self.cancelled is not None:  # the signal came while the worker was starting
                slot.ended_by = f"the packed run was cancelled by {self.cancelled[0]}"
                slot.signal(signal.SIGINT)
            self.console.say(f"{job.id}: started on GPU {','.join(slot.gpus)} (log"
                             f" {slot.log_path})")  # fmt: skip

    def log_path(self, unit: str) -> Path:
        return self.results_dir / f"packed-{job_dir_name(self.stage)}" / f"{job_dir_name(unit)}.log"

    def record_worker(self, slot: Slot) -> None:
        assert slot.process is not None
        self.ledger.started(self.ledger.add("slot worker", slot.job.id, []), slot.process.pid)

    def drop_unplaceable(self) -> None:
        """Jobs that no longer fit once GPUs were taken out: an error each, not a hang."""
        for job in [j for j in self.queue if j.gpus > self.pool.size]:
            self.queue.remove(job)
            out = ", ".join(self.pool.removed) or "none"
            self.write_unrun(job, Verdict.failure(
                FailureKind.GPU_SHORTAGE, f"not run: needs {job.gpus} GPU(s) but only"
                f" {self.pool.size} are left in the pool (taken out: GPU {out})"))  # fmt: skip

    def finish(self, slot: Slot) -> None:
        self.running.pop(slot.job.id, None)
        self.finished.append(slot)
        assert slot.result is not None
        result = self.results[slot.job.id] = slot.result
        self.console.say(f"{slot.job.id}: {result.status.value}"
                         + (f": {result.reason}" if result.reason else ""))  # fmt: skip
        for name in slot.taken_out:
            self.console.say(f"GPU {name} taken out of the pool: {self.pool.removed[name]}")
        if result.status in _GOOD or self.continue_on_error or self.stopping:
            return
        why = f"fail-fast after {slot.job.id} {result.status.value} (continue-on-error is off)"
        self.stopping = why
        if self.ends_running and self.running:
            self.notes.append(f"{why}: ended {len(self.running)} running job(s)"
                              ' (pack-fail-fast = "end")')  # fmt: skip
            for other in self.running.values():
                other.ended_by, other.by_fail_fast = f"ended: {why}", True
                other.signal(signal.SIGTERM)
        elif self.running:
            self.notes.append(f"{why}: nothing new started; {len(self.running)} running"
                              f" job(s) left to finish: {', '.join(self.running)}")  # fmt: skip
        self.console.say(self.notes[-1] if self.notes else why)

    def escalate(self) -> None:
        if (
            self.cancelled
            and not self.killed
            and (time.monotonic() - self.cancelled[1] >= KILL_AFTER_S)
        ):
            self.killed = True
            for slot in self.running.values():
                slot.kill_tree()

    def mark_unstarted(self) -> None:
        for job in list(self.queue):
            if self.cancelled:
                verdict = Verdict.failure(FailureKind.CANCELLED, "not started: the packed run"
                                          f" was cancelled by {self.cancelled[0]}")  # fmt: skip
            else:
                verdict = Verdict.skipped(f"not run: {self.stopping}")
            self.write_unrun(job, verdict)
        self.queue.clear()

    def write_unrun(self, job: PackJob, verdict: Verdict) -> None:
        with claimed(self.results_dir, job.id) as out_dir:
            unrun = JobResult(job.id, self.stage, self.options.engine, job.gpus)
            result = write_not_run(out_dir, unrun, verdict, collect_provenance(self.env))
        self.results[job.id] = result
        self.console.say(f"{job.id}: {result.status.value}: {result.reason}")

    def bars(self) -> list[Bar]:
        return [Bar(slot.job.id, slot.gpus, round(slot.started - self.t0, 3),
                    round((slot.ended or slot.started) - self.t0, 3),
                    self.results[slot.job.id].status.value)
                for slot in self.finished]  # fmt: skip


def run_packed(
    config: Config, stage: str, ids: Sequence[str], options: StageOptions,
    env: Mapping[str, str], title: str, pool: GpuPool | None = None,
) -> int:  # fmt: skip
    """Every check first (a job larger than the runner is one line, exit 2), then the
    packed run, the stage table and the timeline."""
    if options.gpus is not None and registry.engine(options.engine).uses_gpus:
        raise UsageError("--gpus N (stand-in GPUs) is for stub rehearsals only: with the"
                         " real engine the runner's own GPUs are used")  # fmt: skip
    check_files_runnable([config.files[u] for u in ids if u in config.files], options.engine)
    jobs = pack_jobs(config, ids, durations_for(config, options.durations))
    if pool is None:
        names, probe = runner_gpus(env, options.gpus)
        pool = GpuPool(names, probe)
    check_fits(jobs, len(pool.names))
    require_writable(Path(options.results))
    cleanup_before_run()
    packed = PackedRun(config, stage, jobs, options, env, pool)
    cap = packed.cap or "as many as fit"
    packed.console.say(f"{title}: {len(jobs)} jobs packed on {len(pool.names)} GPU(s)"
                       f" ({cap} at once; pack = true in stages.toml)")  # fmt: skip
    try:
        results = packed.run()
        notes = packed.notes + pool.removed_lines()
        timeline = write_timeline(packed.log_path(stage).parent, packed.bars(), title,
                                  list(pool.names), notes, env)  # fmt: skip
        print(f"\n{title}, engine {options.engine}, packed:\n{stage_table(results)}")
        for line in notes:
            print(line)
        print(f"timeline: {timeline}")
        print(f"wall time: {time.monotonic() - packed.t0:.1f} s", flush=True)
    finally:
        packed.restore()
    return overall_exit_code(results, True)
