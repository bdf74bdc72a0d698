"""The real parsers of the pinned release, built inside its contract environment."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

STANDIN = Path(__file__).resolve().parent / "standin"


def server_parser() -> argparse.ArgumentParser:
    """``ServerArgs.add_cli_args`` of the installed sglang, unmodified.

    The torchvision stand-in is on sys.path while sglang's parser module is imported:
    sglang.srt.utils.common imports torchvision, and transformers (>= 5.6, which 0.5.12
    and later pin) imports it too and refuses to register sglang's image processors
    (AutoImageProcessor) without it. The stand-in has the names they import at module
    level; nothing in the parser's import chain calls them.
    """
    sys.path.insert(0, str(STANDIN))
    try:
        from sglang.srt.server_args import ServerArgs
    finally:
        sys.path.remove(str(STANDIN))

    parser = argparse.ArgumentParser(prog="sglang.launch_server")
    ServerArgs.add_cli_args(parser)
    return parser


def router_parser() -> argparse.ArgumentParser:
    from sglang_router.router_args import RouterArgs

    parser = argparse.ArgumentParser(prog="sglang_router.launch_router")
    RouterArgs.add_cli_args(parser)
    return parser


def sglang_package_dir() -> Path:
    spec = importlib.util.find_spec("sglang")
    if spec is None or spec.origin is None:
        raise RuntimeError("sglang is not installed in this environment")
    return Path(spec.origin).parent
