"""The environment variable through which the runner hands the stub engine its answer
key: the runner sets it for a stub rehearsal, the stub reads it. Here, at the floor, so
that both sides name it from one place without the runner importing the stub."""

STUB_DATA_ENV = "SGLANG_CI_STUB_DATA"

# How the stub names itself in /server_info and /v1/models, and so in what it leaves
# behind (result files, calibrations).
STUB_ENGINE_NAME = "sglang-ci-stub"


def is_stub_engine(engine: str) -> bool:
    """``stub`` (the --engine choice) or anything that carries the stub's own name: such
    numbers rehearse the harness and are never evidence about a model."""
    name = engine.strip().lower()
    return name == "stub" or STUB_ENGINE_NAME in name
