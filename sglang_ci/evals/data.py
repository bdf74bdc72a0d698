"""Eval data: a local JSONL file when given, else the hub through ``datasets``.

Offline runners pass ``--data PATH`` or set the eval's environment variable; with
neither, an offline runner gets one clear error naming both instead of a hub timeout.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sglang_ci.config.errors import UsageError


@dataclass(frozen=True)
class DataSource:
    name: str  # the eval, for messages
    env: str  # the environment variable naming a local file
    hub_path: str
    hub_config: str | None
    hub_split: str
    file_format: str  # what a local file must look like


GSM8K = DataSource(
    "gsm8k", "SGLANG_CI_GSM8K_DATA", "openai/gsm8k", "main", "test",
    "JSONL lines {\"question\", \"answer\"} as grade_school_math/data/test.jsonl",
)  # fmt: skip
HELLASWAG = DataSource(
    "hellaswag", "SGLANG_CI_HELLASWAG_DATA", "Rowan/hellaswag", None, "validation",
    "JSONL lines {\"activity_label\", \"ctx\", \"endings\", \"label\"} as hellaswag_val.jsonl",
)  # fmt: skip

_OFFLINE_VARS = ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")


def read_jsonl(path: Path, source: DataSource) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
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
    chosen = path or env.get(source.env)
    if chosen:
        return read_jsonl(Path(chosen), source)
    how = f"pass --data PATH ({source.file_format}) or set {source.env}"
    if any(env.get(var, "") not in ("", "0") for var in _OFFLINE_VARS):
        raise UsageError(f"{source.name} data: offline ({'/'.join(_OFFLINE_VARS)} set) and no"
                         f" local file; {how}")  # fmt: skip
    try:
        import datasets  # heavy; only when the hub is the source
    except ImportError:
        raise UsageError(f"{source.name} data: the datasets package is missing; {how}") from None
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
