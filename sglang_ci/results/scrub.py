"""Secret values scrubbed from every file a job wrote (logs, junit.xml, records,
result.json), after the job ends and before its folder is uploaded."""

from __future__ import annotations

import contextlib
from pathlib import Path

from sglang_ci.config.secrets import Scrubber

MAX_BYTES = 256 * 1024 * 1024  # a file larger than this is no text file of ours


def scrub_folder(folder: Path, scrubber: Scrubber) -> int:
    """Rewrites the files that held a secret value; returns how many did."""
    if not (scrubber.values or scrubber.by_name) or not folder.is_dir():
        return 0
    changed = 0
    for path in folder.rglob("*"):
        if not path.is_file() or path.stat().st_size > MAX_BYTES:
            continue
        with contextlib.suppress(OSError, UnicodeDecodeError):
            text = path.read_text()
            clean = scrubber.text(text)
            if clean != text:
                path.write_text(clean)
                changed += 1
    return changed
