"""Eval data: the file SGLang's eval reads, a local JSONL, or the hub's copy.

SGLang reads raw JSONL files from GitHub, not the hub: GSM8K from
grade-school-math's ``test.jsonl`` (GSM8K_URL of python/sglang/test/simple_eval_gsm8k.py
at 9040feebd8; simple_eval_mixed_prefix_gsm8k.py at 6ed5780c4f), HellaSwag from
``hellaswag_val.jsonl`` (python/sglang/test/test_programs.py at 1bd4f94598), each through
``download_and_cache_file`` and ``read_jsonl``. That download is the default here (cached;
GSM8K checked against the file's known SHA-256). ``--data PATH`` or the eval's
environment variable names a local file instead; ``--data hub`` loads the hub's copy
through ``datasets`` (HF ``openai/gsm8k`` main/test was built from the same test.jsonl,
line by line, by its original loading script; HellaSwag's labels are strings there).
Offline, with no file named, one clear error names both options instead of a timeout.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sglang_ci.config.errors import UsageError

HUB = "hub"  # --data hub: the hub's copy through datasets, not SGLang's file
CACHE_ENV = "SGLANG_CI_DATA_CACHE"  # where downloads are kept (default ~/.cache/sglang-ci)
DOWNLOAD_TIMEOUT_S = 120.0
# Name lookup and TCP connect to the host (or the proxy) before a download: with no
# network, one clear line at once instead of a resolver's or a connect's long timeouts.
REACH_TIMEOUT_S = 1.5


@dataclass(frozen=True)
class DataSource:
    name: str  # the eval, for messages
    env: str  # the environment variable naming a local file
    url: str  # the raw file SGLang's eval downloads
    sha256: str | None  # of that file, where known: a changed download is refused
    hub_path: str
    hub_config: str | None
    hub_split: str
    file_format: str  # what a local file must look like


GSM8K = DataSource(
    "gsm8k", "SGLANG_CI_GSM8K_DATA",
    "https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data/test.jsonl",
    # grade_school_math/data/test.jsonl, unchanged since its release commit b0bb162.
    "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
    "openai/gsm8k", "main", "test",
    "JSONL lines {\"question\", \"answer\"} as grade_school_math/data/test.jsonl",
)  # fmt: skip
HELLASWAG = DataSource(
    "hellaswag", "SGLANG_CI_HELLASWAG_DATA",
    "https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_val.jsonl", None,
    "Rowan/hellaswag", None, "validation",
    "JSONL lines {\"activity_label\", \"ctx\", \"endings\", \"label\"} as hellaswag_val.jsonl",
)  # fmt: skip

_OFFLINE_VARS = ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")


def read_jsonl(path: Path, source: DataSource) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                # sglang.utils.read_jsonl skips lines starting with "#"; a blank line,
                # which it would fail on, is skipped too.
                if line.startswith("#") or not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise UsageError(
                        f"{path}:{number}: not JSON ({error.msg}); expected {source.file_format}"
                    ) from None
                if not isinstance(record, dict):
                    raise UsageError(f"{path}:{number}: expected {source.file_format}")
                lines.append(record)
    except OSError as error:
        raise UsageError(f"{source.name} data {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"{source.name} data {path}: not UTF-8 (byte {error.start})") from None
    if not lines:
        raise UsageError(f"{source.name} data {path} is empty; expected {source.file_format}")
    return lines


def load_lines(
    source: DataSource, path: str | None, env: Mapping[str, str]
) -> list[dict[str, Any]]:
    """``path`` (or the eval's variable): a local JSONL or "hub"; neither: SGLang's file."""
    chosen = path or env.get(source.env)
    if chosen and chosen != HUB:
        return read_jsonl(Path(chosen), source)
    how = f"pass --data PATH ({source.file_format}) or set {source.env}"
    if any(env.get(var, "") not in ("", "0") for var in _OFFLINE_VARS):
        raise UsageError(f"{source.name} data: offline ({'/'.join(_OFFLINE_VARS)} set) and no"
                         f" local file; {how}")  # fmt: skip
    if chosen == HUB:
        return load_hub(source, how)
    return read_jsonl(download(source, cache_dir(env), how), source)


def cache_dir(env: Mapping[str, str]) -> Path:
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV])
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".cache")
    return Path(base) / "sglang-ci"


def download(source: DataSource, folder: Path, how: str) -> Path:
    """SGLang's download_and_cache_file, kept in our own cache (SGLang keeps it as
    /tmp/<basename> and reads whatever file already has that name)."""
    import requests  # here: the CLI reads DataSource in dry runs, which import no requests

    target = folder / f"{source.name}-{source.url.rsplit('/', 1)[-1]}"
    if target.is_file() and _verified(target.read_bytes(), source):
        return target
    require_network(source, source.url, how)
    try:
        response = requests.get(source.url, timeout=(REACH_TIMEOUT_S * 4, DOWNLOAD_TIMEOUT_S))
        response.raise_for_status()
    except requests.RequestException as error:
        raise UsageError(f"{source.name} data: cannot download {source.url}"
                         f" ({type(error).__name__}); {how}") from None  # fmt: skip
    if not _verified(response.content, source):
        raise UsageError(f"{source.name} data: {source.url} is not the file SGLang's eval"
                         f" was checked against (SHA-256 differs); {how}")  # fmt: skip
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.{os.getpid()}.part")
        partial.write_bytes(response.content)
        partial.replace(target)  # whole or absent, with parallel jobs sharing the cache
    except OSError as error:
        raise UsageError(f"{source.name} data: cannot keep it in {folder} ({error.strerror});"
                         f" set {CACHE_ENV}") from None  # fmt: skip
    return target


def unreachable(url: str, timeout: float = REACH_TIMEOUT_S) -> str | None:
    """Why ``url``'s host (or the proxy that reaches it) cannot be connected to within
    ``timeout`` seconds, DNS included; None when it can. The look-up runs in a daemon
    thread: a hung resolver ignores socket timeouts, and must not hold the caller."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        proxied = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = proxied.hostname or "", proxied.port or 80
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as error:
            outcome.append(f"{host}:{port}: {error.strerror or type(error).__name__}")

    worker = threading.Thread(target=connect, name="sglang-ci-reach", daemon=True)
    worker.start()
    worker.join(timeout)
    return outcome[0] if outcome else f"{host}:{port}: no answer within {timeout:g} s"


def require_network(source: DataSource, url: str, how: str) -> None:
    why = unreachable(url)
    if why is not None:
        raise UsageError(f"{source.name} data: no network ({why}); {how}")


def _verified(content: bytes, source: DataSource) -> bool:
    return source.sha256 is None or hashlib.sha256(content).hexdigest() == source.sha256


def load_hub(source: DataSource, how: str) -> list[dict[str, Any]]:
    try:
        import datasets  # heavy (pyarrow, pandas): an extra, only when the hub is the source
    except ImportError:
        raise UsageError(
            f"{source.name} data: --data hub needs the datasets package: pip install"
            f" 'sglang-ci[hub]'; {how}"
        ) from None
    # datasets retries an unreachable hub for most of a minute before it gives up.
    require_network(source, os.environ.get("HF_ENDPOINT", "https://huggingface.co"), how)
    try:
        table = datasets.load_dataset(source.hub_path, source.hub_config, split=source.hub_split)
    except Exception as first:
        # Recent datasets releases refuse script-based repositories; the hub keeps a
        # parquet export of them on this revision.
        try:
            table = datasets.load_dataset(
                source.hub_path,
                source.hub_config,
                split=source.hub_split,
                revision="refs/convert/parquet",
            )
        except Exception:
            raise UsageError(
                f"{source.name} data: cannot load {source.hub_path} from the hub"
                f" ({type(first).__name__}); {how}"
            ) from None
    return [dict(row) for row in table]


def require_fields(lines: Sequence[dict[str, Any]], fields: tuple[str, ...], name: str) -> None:
    """One line naming the first record without a field the eval needs."""
    for number, line in enumerate(lines, 1):
        missing = [field for field in fields if field not in line]
        if missing:
            raise UsageError(
                f"{name} data, record {number}: no {', '.join(missing)} field;"
                f" expected {', '.join(fields)} (is it the other eval's data?)"
            )
