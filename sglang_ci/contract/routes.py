"""The routes a release's HTTP server serves, read from its source without importing it
(importing the server pulls in FastAPI, uvicorn and the whole runtime)."""

from __future__ import annotations

import ast
from pathlib import Path

_ROUTE_METHODS = {"get", "post", "put", "delete", "api_route"}


def decorated_routes(source: str) -> set[str]:
    """Paths of ``@app.get("/x")``, ``@app.api_route("/x", ...)`` and the like."""
    routes = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for decorator in node.decorator_list:
            if (
                isinstance(decorator, ast.Call)
                and isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr in _ROUTE_METHODS
                and decorator.args
                and isinstance(decorator.args[0], ast.Constant)
                and isinstance(decorator.args[0].value, str)
            ):
                routes.add(decorator.args[0].value)
    return routes


def mounted_routes(source: str) -> set[str]:
    """Paths of ``Mount("/metrics", ...)`` (Prometheus is mounted, not decorated)."""
    return {
        node.args[0].value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Mount"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def served_routes(package_dir: Path) -> set[str]:
    """Routes of sglang's HTTP server in the installed package at ``package_dir``."""
    server = package_dir / "srt" / "entrypoints" / "http_server.py"
    routes = decorated_routes(server.read_text(encoding="utf-8"))
    for module in (package_dir / "srt").rglob("*.py"):
        text = module.read_text(encoding="utf-8", errors="replace")
        if "Mount(" in text:
            routes |= mounted_routes(text)
    return routes
