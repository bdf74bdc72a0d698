"""The real parsers of the pinned releases, built inside the contract environment."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

STANDIN = Path(__file__).resolve().parent / "standin"
# The modules of the parser's import chain that import torchvision at module level.
NEEDS_TORCHVISION = ("sglang.srt.utils.common", "sglang.srt.multimodal.internvl_utils")


def server_parser() -> argparse.ArgumentParser:
    """``ServerArgs.add_cli_args`` of the installed sglang, unmodified.

    The torchvision stand-in is on sys.path only while the few modules that need it are
    imported, then withdrawn: transformers decides whether torchvision exists when it is
    imported, and it must see none, or it would import parts the stand-in lacks.
    """
    sys.path.insert(0, str(STANDIN))
    try:
        for module in NEEDS_TORCHVISION:
            importlib.import_module(module)
    finally:
        sys.path.remove(str(STANDIN))
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
    from sglang.srt.server_args import ServerArgs

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
