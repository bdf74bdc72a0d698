"""Ports that never collide between jobs running side by side on one host.

The OS hands out a free port; a lock file held for the whole job (``flock``, released
by the kernel even if the runner is killed) keeps every other sglang-ci process on the
host from taking it in the window before the server binds it.
"""

from __future__ import annotations

import errno
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import psutil

from sglang_ci.launch.file_locks import try_lock, unlock
from sglang_ci.outcome.errors import FatalError

LOCK_DIR_ENV = "SGLANG_CI_PORT_LOCKS"


def lock_dir() -> Path:
    """Shared by every sglang-ci process on the host, whichever user runs it."""
    path = Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "sglang-ci-ports")
    try:
        if not path.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o1777)  # like /tmp: anyone may add locks, only owners remove theirs
    except OSError as error:
        raise FatalError(f"port lock folder {path}: {error.strerror}; set {LOCK_DIR_ENV}") from None
    return path


def lock_path(port: int) -> Path:
    return lock_dir() / f"{port}.lock"


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Nobody listens on ``port`` (TIME_WAIT leftovers do not count: SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
            raise
    return True


MIN_PORT, MAX_PORT = 1, 65535


def os_port() -> int:
    """A port the OS considers free now (its ephemeral range; the tests' seam)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PortLease:
    """Holds ports for one job; ``release()`` (or leaving the ``with``) gives them back."""

    def __init__(self) -> None:
        self._locks: dict[int, int] = {}

    @property
    def ports(self) -> list[int]:
        return list(self._locks)

    def take(self, derived: Callable[[int], list[int]] | None = None, attempts: int = 200) -> int:
        """A free port, locked; with ``derived``, the ports the server will derive from it
        (``sglang_ci.config.sglang_ports``) are checked and locked too.

        A port whose derived ports leave 1..65535 is refused and the OS asked again, rather
        than drawing from a range of our own: the OS knows which ports are free right now
        and spreads its picks, and a refusal costs one bind (about one draw in five for a
        server, whose gRPC port is port + 10000)."""
        out_of_range = 0
        for _ in range(attempts):
            port = os_port()
            wanted = [port, *(derived(port) if derived else [])]
            if not all(MIN_PORT <= p <= MAX_PORT for p in wanted):
                out_of_range += 1
                continue
            held = {p: fd for p in wanted if (fd := self._lock(p)) is not None}
            if len(held) == len(wanted):
                self._locks.update(held)
                return port
            for taken, fd in held.items():  # another job holds one of them: ask again
                unlock(lock_path(taken), fd)
        raise FatalError(
            f"no free port found in {attempts} attempts ({out_of_range} derived ports outside"
            f" {MIN_PORT}..{MAX_PORT}: see net.ipv4.ip_local_port_range)"
        )

    def _lock(self, port: int) -> int | None:
        if port in self._locks or not MIN_PORT <= port <= MAX_PORT:
            return None
        fd = try_lock(lock_path(port))
        if fd is not None and not port_is_free(port):
            unlock(lock_path(port), fd)
            return None
        return fd

    def release(self) -> None:
        for port, fd in self._locks.items():
            unlock(lock_path(port), fd)
        self._locks.clear()

    def __enter__(self) -> PortLease:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.release()


def listening(ports: list[int]) -> list[int]:
    """Those of ``ports`` that some socket on this host listens on. (A bind test would also
    trip over client connections that borrowed the port as their ephemeral port.)"""
    try:
        bound = {
            conn.laddr.port
            for conn in psutil.net_connections(kind="inet")
            if conn.status == psutil.CONN_LISTEN and conn.laddr
        }
    except psutil.AccessDenied:  # where /proc/net is closed: fall back to binding
        return [port for port in ports if not port_is_free(port)]
    return [port for port in ports if port in bound]


def wait_ports_free(
    ports: list[int], timeout: float, hurry: threading.Event | None = None
) -> list[int]:
    """Wait until nobody listens on ``ports``; returns those still held at the deadline
    (reached early once ``hurry`` is set: a cancellation window is closing)."""
    deadline = time.monotonic() + timeout
    held = list(ports)
    while held:
        held = listening(held)
        if not held or time.monotonic() >= deadline or (hurry is not None and hurry.is_set()):
            break
        time.sleep(0.05)
    return held
