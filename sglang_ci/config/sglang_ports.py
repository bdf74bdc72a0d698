"""The ports SGLang derives from the ``--port`` the runner passes, so the runner leases them too.

The runner passes each server ``--port P`` (and, for PD prefill, a leased
``--disaggregation-bootstrap-port``). From ``P`` SGLang computes more ports itself. What it
computes in the releases the contract covers (sglang 0.5.10.post1 and 0.5.12 wheels from
PyPI; paths under ``sglang/srt/``; line numbers of 0.5.12 unless said otherwise):

======================  ===================  ==========================  ====================
port                    derived as           when                        source
======================  ===================  ==========================  ====================
gRPC port               P + 10000, or env    always, gRPC on or off      0.5.12 only:
                        ``SGLANG_GRPC_PORT``                             server_args.py L1147
DP-attention handshake  P + 13               --enable-dp-attention, no   managers/data_parallel
                                             --dist-init-addr            _controller.py L322
                                                                         (0.5.10.post1: L311)
DP-attention ZMQ block  P + 233 .. P + 238   --enable-dp-attention,      server_args.py
                                             --nnodes 1, no              PortArgs.init_new
                                             --dist-init-addr            L7815 (0.5.10: L6597)
gRPC HTTP sidecar       P + 1                --grpc-mode, no             0.5.12 only:
                                             --grpc-http-sidecar-port    entrypoints/grpc_server
                                                                         .py L170
======================  ===================  ==========================  ====================

How each one refuses to start:

- gRPC (0.5.12 ``ServerArgs._handle_deprecated_args``): ``ValueError: SGLANG_GRPC_PORT
  (68981) must be between 1 and 65535`` when the port is outside 1..65535, whether or not
  ``SGLANG_ENABLE_GRPC`` is set; so any ``P > 55535`` kills the server at argument parsing.
  With ``SGLANG_ENABLE_GRPC`` true, ``check_server_args`` (L7398) also refuses
  ``SGLANG_GRPC_PORT (P) must differ from --port (P)``. In 0.5.12 nothing binds the gRPC
  port yet (launch_server.py L30: the native gRPC server is a TODO); it is leased anyway,
  because the release that binds it must find it free.
- DP-attention ZMQ block: the six ports are dist_init (P+233), port_base/tokenizer
  (+234), detokenizer (+235), rpc (+236), metrics (+237), scheduler_input (+238).
  ``wait_port_available`` polls each for 30 s, then ``ValueError: dist_init_port at N is
  not available in 30 seconds``; a port above 65535 is never available
  (``utils/network.py is_port_available`` catches ``OverflowError``). There is no
  fallback below P (older sglang-ci code assumed ``P - 233``; neither release has it). The
  DP workers' own ports are OS-chosen (``get_zmq_socket_on_host``), not derived.
- Handshake: node 0 binds a ZMQ REP socket on P+13 (``_broadcast_worker_ports``) even on
  one node; a taken or invalid port fails the bind.
- ``_handle_data_parallelism`` turns dp-attention off when ``dp_size == 1``; the runner
  leases the block whenever the flag is given (a few spare ports cost nothing).

Not derived from our ports, so left to SGLang: the NCCL/dist-init port
(``get_free_port()`` unless ``--nccl-port``), ``--engine-info-bootstrap-port`` (fixed
6789, only with ``--remote-instance-weight-loader-start-seed-via-transfer-engine``), and
ports derived from ``--dist-init-addr`` (multi-node). Nothing is derived from
``--disaggregation-bootstrap-port``: the prefill server binds it as given (default 8998).

Why lease ``P + 10000`` rather than pass a leased ``SGLANG_GRPC_PORT``: the server then
gets exactly the command and environment SGLang's own CI gives it (``popen_launch_server``
never sets that variable), so a reproduced job is the job CI ran, the dry run's commands
stay complete, and 0.5.10.post1 (no gRPC port at all) sees no stray setting. The cost is
that ``P`` must stay at or below 55535: ``PortLease.take`` asks the OS again when a
derived port would leave 1..65535, which with Linux's ephemeral range (32768..60999)
happens on about one draw in five and costs one bind. A job whose env sets
``SGLANG_GRPC_PORT`` itself still gets ``P + 10000`` leased: a spare port, harmless.
"""

from __future__ import annotations

from sglang_ci.config.server_args import Args, lookup

MAX_PORT = 65535
GRPC_PORT_DELTA = 10000  # ServerArgs.grpc_port default (0.5.12)
DP_ATTENTION_HANDSHAKE_PORT_DELTA = 13
ZMQ_TCP_PORT_DELTA = 233
ZMQ_TCP_PORT_COUNT = 6  # dist_init, tokenizer, detokenizer, rpc, metrics, scheduler_input
GRPC_SIDECAR_PORT_DELTA = 1


def _int_flag(args: Args, flag: str, default: int) -> int:
    value = lookup(args, flag)
    return default if value is None or isinstance(value, bool) else int(str(value))


def derived_ports(args: Args, port: int) -> list[int]:
    """The ports SGLang computes from ``--port port`` for a server with ``args``.

    They may fall outside 1..65535: ``PortLease.take`` then refuses ``port`` and asks
    again, so the server is never launched on a port SGLang would reject.
    """
    ports = [port + GRPC_PORT_DELTA]
    if lookup(args, "grpc-mode") is True and lookup(args, "grpc-http-sidecar-port") is None:
        ports.append(port + GRPC_SIDECAR_PORT_DELTA)
    if lookup(args, "enable-dp-attention") is True and not lookup(args, "dist-init-addr"):
        ports.append(port + DP_ATTENTION_HANDSHAKE_PORT_DELTA)
        if _int_flag(args, "nnodes", 1) == 1:
            start = port + ZMQ_TCP_PORT_DELTA
            ports.extend(range(start, start + ZMQ_TCP_PORT_COUNT))
    return ports


def plain_server_ports(port: int) -> list[int]:
    """``derived_ports`` of a server started with no flags that derive more (tests, benchmarks)."""
    return derived_ports((), port)
