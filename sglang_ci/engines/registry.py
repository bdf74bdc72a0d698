"""Every engine by its --engine name. A new engine: its module here, and one line below."""

from __future__ import annotations

from sglang_ci.engines import sglang, stub
from sglang_ci.engines.base import Engine

ENGINES: dict[str, Engine] = {
    engine.name: engine
    for engine in (
        sglang.ENGINE,
        stub.ENGINE,
    )
}
DEFAULT_ENGINE = sglang.ENGINE.name  # what CI runs
REHEARSAL_ENGINE = stub.ENGINE.name  # what the demo and the rehearsal hints name


def engine(name: str) -> Engine:
    """The engine called ``name`` (the command line has checked it is one)."""
    return ENGINES[name]


def is_rehearsal(recorded: str) -> bool:
    """Whether an engine string recorded in a result names a rehearsal engine: such
    numbers rehearse the harness and are never evidence about a model."""
    return any(one.rehearsal and one.names(recorded) for one in ENGINES.values())
