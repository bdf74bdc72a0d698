"""Secret server flags (``--api-key``) go to the server through SGLang's own ``--config``
file route (``server_args_config_parser``: a YAML mapping merged under the command
line), never on its command line, where ``ps`` shows them to every user of the host.

The file is written as JSON (which YAML reads), private to this user (a 0700 folder of
its own, a 0600 file), and removed once the servers are ready (they have parsed their
arguments) or torn down. The server runs with the same settings: only the route of the
value differs. A command that already names a ``--config`` keeps its flags (SGLang takes
one config file).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from sglang_ci.config.secrets import looks_secret


def _split(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """``argv`` without its secret-looking flags, and those flags' values by name."""
    kept: list[str] = []
    moved: dict[str, str] = {}
    index = 0
    while index < len(argv):
        token = argv[index]
        flag, equals, value = token.partition("=")
        if token.startswith("--") and looks_secret(flag):
            if equals:
                moved[flag[2:]] = value
                index += 1
                continue
            if index + 1 < len(argv) and not argv[index + 1].startswith("--"):
                moved[flag[2:]] = argv[index + 1]
                index += 2
                continue
        kept.append(token)
        index += 1
    return kept, moved


class SecretArgs:
    """The private config files of one launch."""

    def __init__(self) -> None:
        self.folder: Path | None = None

    def hidden(self, command: list[str], role: str) -> list[str]:
        """``command`` with its secret flags moved into a private ``--config`` file."""
        if "--config" in command:
            return command
        kept, moved = _split(command)
        if not moved:
            return command
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="sglang-ci-args-"))  # 0700
        path = self.folder / f"{role}.yaml"  # SGLang wants a .yaml or .yml name
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(handle, "w") as out:
            json.dump(moved, out)
        return [*kept, "--config", str(path)]

    def remove(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
