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

from sglang_ci.config.toml_reader import suggestion


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


def unordered_signature(text: str) -> tuple[str, frozenset[tuple[str, object]]] | None:
    """``(suite, {(axis, value)})`` of a signature whatever its keyword order; None for a
    text that is not such a call. nox matches the order too, so this only finds the job a
    person meant when they wrote its keywords in another order."""
    try:
        call = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.args:
        return None
    values: set[tuple[str, object]] = set()
    for keyword in call.keywords:
        if keyword.arg is None or not isinstance(keyword.value, ast.Constant):
            return None
        values.add((keyword.arg, keyword.value.value))
    return call.func.id, frozenset(values)


def signature_suggestion(text: str, choices: Sequence[str]) -> str:
    """`` Perhaps you meant "x"?``: the signature with the same keywords in nox's order
    when there is one (a spelling match would pick a job with other values), else the
    closest spelling; an empty string when nothing is close."""
    unordered = unordered_signature(text)
    same = [c for c in choices if unordered and unordered_signature(c) == unordered]
    return f" Perhaps you meant {same[0]!r}?" if same else suggestion(text, choices)
