"""A small evaluator of GitHub Actions expressions, enough for the workflows' `if:`
conditions: literals, context paths (``a.b``, ``a['b']``, the ``labels.*.name`` filter),
``! == != < > <= >= && ||``, parentheses, and the functions contains, startsWith,
endsWith, format, fromJSON, toJSON and the status checks. Semantics as GitHub documents
them (docs.github.com "Evaluate expressions in workflows and actions"): ``&&``/``||``
return an operand, strings compare case-insensitively, a missing property is null.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\].,*])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)


def tokens(text: str) -> list[tuple[str, str]]:
    out, position = [], 0
    text = text.strip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ValueError(f"cannot read {text[position:]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        position = match.end()
    return out


def truthy(value: Any) -> bool:
    return value not in (None, False, 0, "", -0.0)


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()
    if type(left) is not type(right) and None not in (left, right):
        return _number(left) == _number(right)
    return bool(left == right)


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if value is None or value == "":
        return 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


@dataclass
class Status:
    """What the status functions see: whether a needed job failed or was cancelled."""

    failed: bool = False
    cancelled: bool = False


class Evaluator:
    def __init__(self, contexts: Mapping[str, Any], status: Status | None = None) -> None:
        self.contexts = contexts
        state = status or Status()
        self.functions: dict[str, Callable[..., Any]] = {
            "contains": lambda where, what: (
                any(_equal(item, what) for item in where) if isinstance(where, list)
                else str(what).lower() in str(where).lower()),
            "startswith": lambda text, prefix: str(text).lower().startswith(str(prefix).lower()),
            "endswith": lambda text, suffix: str(text).lower().endswith(str(suffix).lower()),
            "format": lambda text, *args: re.sub(
                r"\{(\d+)\}", lambda m: str(args[int(m.group(1))]), text),
            "fromjson": json.loads,
            "tojson": json.dumps,
            "always": lambda: True,
            "success": lambda: not state.failed and not state.cancelled,
            "failure": lambda: state.failed,
            "cancelled": lambda: state.cancelled,
        }  # fmt: skip

    def evaluate(self, text: str) -> Any:
        text = text.strip()
        if text.startswith("${{") and text.endswith("}}"):
            text = text[3:-2]
        self.items, self.at = tokens(text), 0
        value = self._or()
        if self.at != len(self.items):
            raise ValueError(f"unexpected {self.items[self.at][1]!r} in {text!r}")
        return value

    def _peek(self) -> str | None:
        return self.items[self.at][1] if self.at < len(self.items) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        item = self.items[self.at]
        if expected is not None and item[1] != expected:
            raise ValueError(f"expected {expected!r}, got {item[1]!r}")
        self.at += 1
        return item

    def _or(self) -> Any:
        value = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            value = value if truthy(value) else right
        return value

    def _and(self) -> Any:
        value = self._compare()
        while self._peek() == "&&":
            self._take()
            right = self._compare()
            value = right if truthy(value) else value
        return value

    def _compare(self) -> Any:
        value = self._unary()
        while self._peek() in ("==", "!=", "<", ">", "<=", ">="):
            op = self._take()[1]
            right = self._unary()
            if op in ("==", "!="):
                value = _equal(value, right) == (op == "==")
            else:
                a, b = _number(value), _number(right)
                value = {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
        return value

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not truthy(self._unary())
        return self._postfix(self._primary())

    def _primary(self) -> Any:
        kind, text = self._take()
        if text == "(":
            value = self._or()
            self._take(")")
            return value
        if kind == "num":
            return float(text)
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind != "name":
            raise ValueError(f"unexpected {text!r}")
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if self._peek() == "(":
            self._take("(")
            args = []
            while self._peek() != ")":
                args.append(self._or())
                if self._peek() == ",":
                    self._take(",")
            self._take(")")
            return self.functions[text.lower()](*args)
        return self.contexts.get(text)

    def _postfix(self, value: Any) -> Any:
        while self._peek() in (".", "["):
            if self._take()[1] == ".":
                name = self._take()[1]
                value = _each(value) if name == "*" else _member(value, name)
            else:
                key = self._or()
                self._take("]")
                value = _member(value, key)
        return value


def _member(value: Any, key: Any) -> Any:
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return [item.get(key) for item in value]  # after `.*`: the property of each
    if isinstance(value, dict):
        return value.get(key)
    return None


def _each(value: Any) -> Any:
    return list(value.values()) if isinstance(value, dict) else value
