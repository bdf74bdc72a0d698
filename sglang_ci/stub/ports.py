"""SGLang's checks of the ports it derives from ``--port``, so the stub refuses what SGLang does.

A runner that hands a server a port whose derived ports are invalid fails on a GPU host;
the stub makes it fail in the runner's own CI too, with SGLang's message. Written from
sglang 0.5.12 (0.5.10.post1 has the same DP-attention rules and no gRPC port, so what
passes here passes there), independently of ``sglang_ci.config.sglang_ports``, so a
regression in the runner's chooser is caught rather than copied:

- ``server_args.py`` L1147 (``_handle_deprecated_args``): gRPC port = env
  ``SGLANG_GRPC_PORT`` or ``--port`` + 10000, outside 1..65535 ->
  ``ValueError: SGLANG_GRPC_PORT (N) must be between 1 and 65535``, gRPC enabled or not.
- ``server_args.py`` L7398 (``check_server_args``): with ``SGLANG_ENABLE_GRPC`` true and
  the gRPC port equal to ``--port`` -> ``SGLANG_GRPC_PORT (N) must differ from --port (N)``.
- ``server_args.py`` L7815 (``PortArgs.init_new``): with DP attention (dp > 1), one node
  and no ``--dist-init-addr``, ports ``--port`` + 233 .. + 238 must be bindable, else
  after 30 s ``<name> at N is not available in 30 seconds.`` (the stub does not wait).

SGLang raises these as uncaught ``ValueError``s: the process prints a traceback and exits
with status 1; the stub prints the last line of it and exits 1 too.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

GRPC_PORT_DELTA = 10000
DP_BLOCK = (  # PortArgs.init_new's names, in order from --port + 233
    "dist_init_port",
    "port_base",
    "detokenizer_port",
    "rpc_port",
    "metrics_port",
    "scheduler_input_port",
)
DP_BLOCK_DELTA = 233


def _env_int(env: Mapping[str, str], name: str) -> int | None:
    value = env.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f'"{value}" is not a valid integer value') from None


def _bindable(port: int) -> bool:
    """As SGLang's ``is_port_available``: a port above 65535 is never available."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except (OSError, OverflowError):
            return False
    return True


def grpc_port_error(port: int, env: Mapping[str, str]) -> str | None:
    from_env = _env_int(env, "SGLANG_GRPC_PORT")
    grpc_port = from_env if from_env is not None else port + GRPC_PORT_DELTA
    if not 1 <= grpc_port <= 65535:
        return f"SGLANG_GRPC_PORT ({grpc_port}) must be between 1 and 65535"
    enabled = env.get("SGLANG_ENABLE_GRPC", "").lower() in ("true", "1", "yes", "y")
    if enabled and grpc_port == port:
        return f"SGLANG_GRPC_PORT ({grpc_port}) must differ from --port ({port})"
    return None


def dp_attention_error(args: Mapping[str, Any], port: int) -> str | None:
    dp_attention = args.get("enable_dp_attention") is True and int(args.get("dp_size", 1)) > 1
    if not dp_attention or "dist_init_addr" in args or int(args.get("nnodes", 1)) != 1:
        return None
    for offset, name in enumerate(DP_BLOCK):
        derived = port + DP_BLOCK_DELTA + offset
        if not _bindable(derived):
            return f"{name} at {derived} is not available in 30 seconds."
    return None


def port_error(args: Mapping[str, Any], port: int, env: Mapping[str, str]) -> str | None:
    """SGLang's message for the first derived port it would refuse, or None."""
    return grpc_port_error(port, env) or dp_attention_error(args, port)
