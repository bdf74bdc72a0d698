"""What a value must be to reach a process: an argument or an environment entry.

Checked when stages.toml is read, so a value exec would refuse fails validation in one
line instead of the server's start.
"""

from __future__ import annotations

# Linux's MAX_ARG_STRLEN: one argument or NAME=value longer than this (its NUL included)
# makes exec fail with "Argument list too long" when the server starts.
MAX_PROCESS_STRING = 32 * 4096


def process_string_problem(text: str, prefix: str = "") -> str | None:
    """Why ``text`` cannot reach a process as an argument or an environment value."""
    if "\0" in text:
        return "holds a NUL byte, which no argument or environment value can carry"
    size = len(f"{prefix}{text}".encode(errors="surrogateescape")) + 1
    if size > MAX_PROCESS_STRING:
        return (f"is {size} bytes long; one argument or environment entry may be at most"
                f" {MAX_PROCESS_STRING} (Linux's MAX_ARG_STRLEN): pass a file instead")  # fmt: skip
    return None
