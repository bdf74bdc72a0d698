"""Matrix axes, job expansion and session signatures.

A job's id is its nox session signature, ``spec(model='gemma4-31b', topk=3)``: the same
string names the job in stages.toml errors, in ``list``, in CI logs and on ``nox -s``, so
whatever a person copies from one place works in every other.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Axis:
    name: str
    kind: type
    # The server flag this axis sets; None for the model axis, which picks the model.
    flag: str | None


AXES: dict[str, Axis] = {
    "model": Axis("model", str, None),
    "topk": Axis("topk", int, "speculative-eagle-topk"),
    "backend": Axis("backend", str, "attention-backend"),
}

Params = tuple[tuple[str, str | int], ...]


def expand(values: Mapping[str, object], order: Sequence[str]) -> list[Params]:
    """Every combination of the axis values, an array meaning one cell per element.

    ``{"model": "m", "topk": [1, 3]}`` becomes ``[(model, m), (topk, 1)]`` and
    ``[(model, m), (topk, 3)]``; axes keep the suite's order, so signatures are stable.
    """
    present = [axis for axis in order if axis in values]
    choices = [
        list(values[axis]) if isinstance(values[axis], list) else [values[axis]]  # type: ignore[call-overload]
        for axis in present
    ]
    return [tuple(zip(present, combo, strict=True)) for combo in itertools.product(*choices)]


def signature(suite: str, params: Params) -> str:
    """``suite(axis=value, ...)``, exactly the string nox shows for the session."""
    return f"{suite}({call_args(params)})"


def call_args(params: Params) -> str:
    return ", ".join(f"{axis}={value!r}" for axis, value in params)


def normalize_signature(text: str) -> str:
    """The comparison key nox uses: spacing and quote style do not matter, order does."""
    try:
        return ast.dump(ast.parse(text.strip()))
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return text.strip()
