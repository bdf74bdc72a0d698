"""The liveness watch: while a suite or a calibration eval runs, every process of the
deployment (each server's main process; for PD each role and the router) is checked
every ``interval`` seconds. When one has ended, the run is interrupted at once with
``ServerDied`` naming it and its exit code.

Without it a server whose main process died while helpers kept its socket open left
the eval waiting for the request timeout (600 s): the socket still accepts, nobody
answers.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from types import TracebackType

from sglang_ci.launch.cancel import CancelToken
from sglang_ci.launch.launcher import RunningProcess
from sglang_ci.outcome.errors import ServerDied

CHECK_INTERVAL_S = 0.25  # at least every 0.5 s, as promised; a poll() costs microseconds
JOIN_TIMEOUT_S = 2.0


class LivenessWatch:
    def __init__(
        self,
        processes: Sequence[RunningProcess],
        token: CancelToken,
        interval: float = CHECK_INTERVAL_S,
    ) -> None:
        self.processes = list(processes)
        self.token = token
        self.interval = interval
        self.dead: RunningProcess | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="liveness-watch", daemon=True)

    def _loop(self) -> None:
        while not self._done.wait(self.interval):
            for process in self.processes:
                code = process.popen.poll()
                if code is not None:
                    self.dead = process
                    self.token.interrupt_main(
                        ServerDied(f"{process.name} exited with code {code} during the run")
                    )
                    return

    def __enter__(self) -> LivenessWatch:
        self._thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join(JOIN_TIMEOUT_S)
