"""The PD bootstrap handshake, as far as a protocol stand-in holds it.

SGLang's prefill server binds ``--disaggregation-bootstrap-port``; a decode server, handed
a request by the router, connects to the bootstrap server the request names
(``bootstrap_host``/``bootstrap_port``) to receive the KV cache. A request that names no
port (SGLang's mini-lb router sends none when ``--prefill`` has no port) gets the server's
own ``--disaggregation-bootstrap-port``, default 8998 (``scheduler.py`` and
``server_args.py`` at 5227b07669). The stub decode makes that same connection, so a
decode launched without the bootstrap port fails here as it would on a GPU host.
"""

from __future__ import annotations

import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

DEFAULT_BOOTSTRAP_PORT = 8998  # ServerArgs.disaggregation_bootstrap_port
CONNECT_TIMEOUT_S = 2.0


class BootstrapHandler(BaseHTTPRequestHandler):
    """The prefill role's bootstrap port: held like SGLang's, answering health only."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Length", "0")
        self.end_headers()


def _first(value: object) -> object:
    """A batch request names one bootstrap entry per prompt; they share one prefill."""
    return value[0] if isinstance(value, list) and value else value


class BootstrapCheck:
    """A decode server's reach to the prefill's bootstrap server, once per address."""

    def __init__(self, mode: str, own_port: int | None) -> None:
        self.mode = mode
        self.own_port = own_port
        self.reached: set[tuple[str, int]] = set()
        self.lock = threading.Lock()

    def problem(self, body: dict[str, Any]) -> str | None:
        """None when this is no routed decode request or its prefill is reachable."""
        if self.mode != "decode" or "bootstrap_host" not in body:
            return None
        host = str(_first(body["bootstrap_host"])).strip("[]")
        named = _first(body.get("bootstrap_port"))
        port = int(str(named)) if named is not None else self.own_port or DEFAULT_BOOTSTRAP_PORT
        with self.lock:
            if (host, port) in self.reached:
                return None
        try:
            with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
                pass
        except OSError as error:
            source = "named by the request" if named is not None else (
                "this server's own --disaggregation-bootstrap-port"
                if self.own_port else f"SGLang's default {DEFAULT_BOOTSTRAP_PORT}")  # fmt: skip
            return f"cannot reach the prefill bootstrap server at {host}:{port} ({source}): {error}"
        with self.lock:
            self.reached.add((host, port))
        return None
