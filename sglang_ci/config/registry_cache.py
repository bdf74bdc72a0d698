"""A checkout's registrations kept between loads, keyed by its files' mtimes and sizes.

Reading SGLang's ~770 registered files by AST costs seconds; every `nox` call loads
stages.toml, so a registered stage would make `nox -l` ten times slower. The key is each
file's path, mtime and size (and run_suite.py's), plus this reader's own source: an edit,
a new file, a removed one, a checkout of another commit or a new sglang-ci reads the
checkout again. Only a clean read is kept (an error is found again next time).

The cache lives in a folder private to the user (0700, owned by them): a cache someone
else could write would let them add file jobs to our runs, so any other folder is not used.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from sglang_ci.config.registered import RUN_SUITE, Registration, Registry, discover, read_registry

CACHE_ENV = "SGLANG_CI_REGISTRY_CACHE"
_READER = Path(__file__).with_name("registered.py")


def registry_cache_dir(env: Mapping[str, str]) -> Path | None:
    """$SGLANG_CI_REGISTRY_CACHE, else $XDG_CACHE_HOME/sglang-ci/registry, else
    $HOME/.cache/sglang-ci/registry; None (no cache) when none of them is set."""
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV])
    base = env.get("XDG_CACHE_HOME") or (env.get("HOME") and f"{env['HOME']}/.cache")
    return Path(base) / "sglang-ci" / "registry" if base else None


def fingerprint(checkout: Path) -> str:
    """What a read of ``checkout`` depends on: its files' paths, mtimes and sizes."""
    digest = hashlib.sha256(_READER.read_bytes())
    digest.update(str(checkout).encode())
    for name in [RUN_SUITE, *discover(checkout)]:
        info = (checkout / name).stat()
        digest.update(f"\0{name}\0{info.st_mtime_ns}\0{info.st_size}".encode())
    return digest.hexdigest()


def _private(folder: Path) -> bool:
    """Created 0700 if missing; usable only when owned by us and closed to others."""
    with contextlib.suppress(OSError):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        info = folder.lstat()
    except OSError:
        return False
    mine = info.st_uid == os.getuid() and stat.S_ISDIR(info.st_mode)
    return mine and not info.st_mode & (stat.S_IRWXG | stat.S_IRWXO)


def cached_registry(checkout: Path, cache: Path | None) -> Registry:
    """``read_registry(checkout)``, from the cache when the checkout has not changed."""
    if cache is None or not _private(cache):
        return read_registry(checkout)
    try:
        key = fingerprint(checkout)
    except OSError:  # not a checkout, or files vanishing: the reader says what is wrong
        return read_registry(checkout)
    entry = cache / f"{key}.json"
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        data = json.loads(entry.read_text())
        registrations = tuple(Registration(**r) for r in data["registrations"])
        known = {backend: frozenset(names) for backend, names in data["known"].items()}
        return Registry(checkout, registrations, known)
    registry = read_registry(checkout)
    data = {
        "registrations": [dataclasses.asdict(r) for r in registry.registrations],
        "known": {backend: sorted(names) for backend, names in registry.known_suites.items()},
    }
    with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
        partial = entry.with_name(f"{entry.name}.{os.getpid()}.part")
        partial.write_text(json.dumps(data))
        partial.replace(entry)  # whole or absent, with parallel loads
    return registry
