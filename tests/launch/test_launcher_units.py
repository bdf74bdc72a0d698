"""Ports, cancellation signals and the server API, without starting processes.

The server API is exercised against a real HTTP server in a thread of the test process:
real sockets, scripted answers.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from sglang_ci.launch.cancel import CancelToken, CancelWatch
from sglang_ci.launch.http_client import make_session
from sglang_ci.launch.ports import PortLease, port_is_free, wait_ports_free
from sglang_ci.launch.server_api import flush_cache, probe_ready, server_info
from sglang_ci.outcome.errors import FatalError, JobCancelled, JobTimedOut, ServerDied


def test_leases_never_share_a_port(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SGLANG_CI_PORT_LOCKS", str(tmp_path))
    with PortLease() as first, PortLease() as second:
        ports = [first.take() for _ in range(20)] + [second.take() for _ in range(20)]
        assert len(set(ports)) == 40
        assert sorted(int(p.stem) for p in tmp_path.glob("*.lock")) == sorted(ports)


def test_port_free_and_held() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not port_is_free(port)
        assert wait_ports_free([port], timeout=0.2) == [port]
    assert port_is_free(port)


def test_first_signal_raises_later_ones_hurry() -> None:
    token = CancelToken()
    with CancelWatch(token) as watch:
        with pytest.raises(JobCancelled) as caught:
            signal.raise_signal(signal.SIGTERM)
        assert caught.value.signal_name == "SIGTERM"
        with watch.shielded():
            signal.raise_signal(signal.SIGINT)  # the copy of one Ctrl-C: no hurry yet
            assert not token.hurry.is_set()
            watch._first_at -= 2.0  # as if the second signal came two seconds later
            signal.raise_signal(signal.SIGTERM)
            assert token.hurry.is_set()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_deferred_signal_is_raised_after_the_block() -> None:
    registered = []
    token = CancelToken()
    with CancelWatch(token) as watch:
        with pytest.raises(JobCancelled), watch.deferred():
            signal.raise_signal(signal.SIGINT)  # e.g. right after Popen returned
            registered.append("server")  # still runs: the process gets registered
        assert registered == ["server"] and token.cancelled


def test_shielded_watch_records_but_does_not_raise() -> None:
    token = CancelToken()
    with CancelWatch(token) as watch, watch.shielded():
        signal.raise_signal(signal.SIGHUP)
        assert token.cancelled and token.interruption is not None
        assert token.interruption.cause == "SIGHUP"


def test_a_timed_out_run_leaves_nothing_set_for_the_next() -> None:
    """The defect this replaced: a process-global stop event stayed set after a timeout,
    and every later eval failed at once with "cancelled"."""
    first = CancelToken()
    with CancelWatch(first, timeout=0.05), pytest.raises(JobTimedOut):
        time.sleep(1.0)
    assert first.stop.is_set() and first.timed_out
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    second = CancelToken()
    with CancelWatch(second, timeout=5.0):
        assert not second.stop.is_set() and second.interruption is None
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL


def test_a_watcher_thread_interrupts_a_blocked_main_thread() -> None:
    """interrupt_main breaks a blocking read in the main thread (here a socket accept)."""
    token = CancelToken()
    with CancelWatch(token), socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        timer = threading.Timer(0.1, token.interrupt_main, [ServerDied("server exited")])
        timer.start()
        started = time.monotonic()
        with pytest.raises(ServerDied):
            listener.accept()  # nobody connects: only the signal can end this
        timer.join()
    assert time.monotonic() - started < 2.0
    assert token.kind == "server died"


class Scripted(BaseHTTPRequestHandler):
    """Answers from a per-path list of (status, body); the last one repeats."""

    script: ClassVar[dict[str, list[tuple[int, Any]]]] = {}
    calls: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        self.calls.append(self.path)
        answers = self.script.get(self.path, [(404, {"detail": "Not Found"})])
        status, body = answers.pop(0) if len(answers) > 1 else answers[0]
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _answer
    do_POST = _answer


@pytest.fixture
def scripted() -> Iterator[tuple[str, type[Scripted]]]:
    Scripted.script, Scripted.calls = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", Scripted
    server.shutdown()
    server.server_close()


def test_flush_retries_while_requests_drain(scripted: tuple[str, type[Scripted]]) -> None:
    url, handler = scripted
    handler.script["/flush_cache"] = [(400, "busy"), (400, "busy"), (200, "ok")]
    assert flush_cache(make_session(), url) == 3


def test_flush_gives_up_on_other_errors(scripted: tuple[str, type[Scripted]]) -> None:
    url, handler = scripted
    handler.script["/flush_cache"] = [(500, "boom")]
    with pytest.raises(FatalError, match="flush_cache answered 500"):
        flush_cache(make_session(), url)


def test_server_info_falls_back_to_the_old_name(scripted: tuple[str, type[Scripted]]) -> None:
    url, handler = scripted
    handler.script["/get_server_info"] = [(200, {"tp_size": 2})]
    assert server_info(make_session(), url) == {"tp_size": 2}
    assert handler.calls == ["/server_info", "/get_server_info"]


def test_readiness_probe(scripted: tuple[str, type[Scripted]]) -> None:
    url, handler = scripted
    handler.script["/health_generate"] = [(503, "starting"), (200, "")]
    session = make_session(connect_retries=0)
    assert probe_ready(session, url + "/health_generate") is False
    assert probe_ready(session, url + "/health_generate") is True
    assert probe_ready(session, "http://127.0.0.1:9/health_generate") is False  # no listener
