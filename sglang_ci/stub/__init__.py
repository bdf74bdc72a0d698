"""The stub engine: a protocol stand-in for SGLang's HTTP server.

It exists to rehearse and test the harness without a GPU: it takes the same arguments
as ``python -m sglang.launch_server``, speaks the endpoints our suites use, and answers
from an answer key with a chosen accuracy. It is never a model and says so in
``/server_info`` and ``/v1/models``.
"""

from sglang_ci.engines.stub import STUB_ENGINE_NAME

__all__ = ["STUB_ENGINE_NAME"]
