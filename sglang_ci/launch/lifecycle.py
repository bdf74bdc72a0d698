"""The one launch lifecycle, for jobs, shared launches and calibrations alike: ports
leased, the runner made a child subreaper, the servers started and ready; and on the way
out, whatever happened, a shielded teardown: processes ended in reverse order, adopted
orphans swept, then ports and (GPU host) NVML memory confirmed released."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path

from sglang_ci.config.model import Job
from sglang_ci.launch.cancel import CancelWatch
from sglang_ci.launch.launcher import DeploymentRun, LaunchSettings
from sglang_ci.launch.ledger import RunLedger
from sglang_ci.launch.ports import PortLease
from sglang_ci.launch.process_tree import AdoptionWatch, become_subreaper, sweep_adopted


@contextlib.contextmanager
def launched(
    job: Job,
    settings: LaunchSettings,
    watch: CancelWatch,
    on_stopped: Callable[[DeploymentRun], None] | None = None,
    results: Sequence[Path] = (),
) -> Iterator[DeploymentRun]:
    """Yields the running deployment; ``run.teardown_problems`` is set on exit (empty when
    everything was released). ``on_stopped`` runs once the processes are gone and before
    the slow release waits: a caller writes its result there, while the cancel window
    is still open. ``results`` are the result.json files a cleanup marks `runner died` if
    this runner is killed before it finishes them (the run ledger)."""
    adopting = become_subreaper()  # orphans of our servers re-parent to us, not to init
    hurry = watch.token.hurry
    with PortLease() as lease:
        ledger = RunLedger([job.id], [str(path) for path in results])
        run = DeploymentRun(job, settings, lease, watch, ledger=ledger)
        adoptions = AdoptionWatch(ledger.pids, partial(ledger.seen, "adopted", job.id)
                                  ) if adopting else None  # fmt: skip
        try:
            run.start()
            yield run
        finally:
            with watch.shielded():
                if adoptions is not None:
                    adoptions.close()
                problems = run.stop_processes(hurry)
                if adopting:
                    problems += sweep_adopted({p.popen.pid for p in run.processes})
                try:
                    if on_stopped is not None:
                        on_stopped(run)  # may fail (a full disk): the release is still awaited
                finally:
                    problems += run.wait_released(hurry)
                    run.teardown_problems = problems
                    if not problems:  # otherwise a later cleanup retries what is left
                        ledger.close()
