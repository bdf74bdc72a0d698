"""Reading the run ledger without trusting it: a file is acted on only when it is a
regular file owned by this user whose every field has the type the writer gives it.
Anything else (a truncated write, an edit, a file planted in a folder that was once
shared) is reported in one line and set aside into the ``set-aside`` subfolder, kept for
a person to look at, never read again and never acted on."""

from __future__ import annotations

import json
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sglang_ci.launch.ledger import Entry

SET_ASIDE = "set-aside"


class Malformed(ValueError):
    pass


@dataclass(frozen=True)
class Runner:
    pid: int
    create_time: float | None


@dataclass(frozen=True)
class LedgerFile:
    path: Path
    runner: Runner
    jobs: tuple[str, ...]
    results: tuple[str, ...]
    entries: tuple[Entry, ...]


def _pid(value: Any, name: str, optional: bool = True) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise Malformed(f"{name} is {value!r}, not a process id")
    return value


def _time(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise Malformed(f"{name} is {value!r}, not a start time")
    return float(value)


def _texts(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Malformed(f"{name} is not a list of text")
    return tuple(value)


def _entry(value: Any, number: int) -> Entry:
    where = f"entries[{number}]"
    if not isinstance(value, dict):
        raise Malformed(f"{where} is not an object")
    role, job, ports = value.get("role"), value.get("job"), value.get("ports")
    if not isinstance(role, str) or not isinstance(job, str):
        raise Malformed(f"{where}: role and job must be text")
    if not isinstance(ports, list) or not all(
        isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in ports
    ):
        raise Malformed(f"{where}.ports is not a list of ports")
    return Entry(role, job, list(ports), _pid(value.get("pid"), f"{where}.pid"),
                 _time(value.get("create_time"), f"{where}.create_time"),
                 _pid(value.get("pgid"), f"{where}.pgid"),
                 _pid(value.get("sid"), f"{where}.sid"))  # fmt: skip


def parse(path: Path) -> LedgerFile:
    """The file, checked; Malformed says what is wrong in a few words."""
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode):
            raise Malformed("not a regular file")
        if info.st_uid != os.getuid():
            raise Malformed(f"owned by uid {info.st_uid}, not by this user")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise Malformed(f"unreadable ({error})") from None
    except json.JSONDecodeError as error:
        raise Malformed(f"not JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise Malformed("not a JSON object")
    runner = data.get("runner")
    if not isinstance(runner, dict):
        raise Malformed("no runner")
    entries = data.get("entries")
    if not isinstance(entries, list):
        raise Malformed("entries is not a list")
    return LedgerFile(
        path,
        Runner(_pid(runner.get("pid"), "runner.pid", optional=False) or 0,
               _time(runner.get("create_time"), "runner.create_time")),
        _texts(data.get("jobs"), "jobs"),
        _texts(data.get("results"), "results"),
        tuple(_entry(entry, number) for number, entry in enumerate(entries)),
    )  # fmt: skip


def set_aside(path: Path, why: str) -> str:
    """Move the file out of the ledger's way (never delete it); the one line to print."""
    folder = path.parent / SET_ASIDE
    target = folder / f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        path.rename(target)
    except OSError as error:
        return (f"run ledger file {path} is malformed ({why}) and could not be set aside"
                f" ({error.strerror}): remove it by hand")  # fmt: skip
    return f"run ledger file {path} is malformed ({why}): ignored, moved to {target}"
