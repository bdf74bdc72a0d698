"""Did the server really start with the settings we asked for? Read from /server_info.

SGLang rewrites a few values while resolving its arguments; those are accepted as
equal here, and only those: NEXTN runs as EAGLE, and NEXTN or EAGLE with a Gemma4
assistant draft runs as FROZEN_KV_MTP.
"""

from __future__ import annotations

from typing import Any

from sglang_ci.config.server_args import ArgValue

RESOLVED_AS: dict[tuple[str, str], set[str]] = {
    ("speculative-algorithm", "NEXTN"): {"NEXTN", "EAGLE", "FROZEN_KV_MTP"},
    ("speculative-algorithm", "EAGLE"): {"EAGLE", "FROZEN_KV_MTP"},
}


def _matches(flag: str, requested: ArgValue | None, actual: Any) -> bool:
    if requested is None or requested is False:
        return not actual  # not requested: must be off / unset (e.g. disable_cuda_graph)
    if requested is True:
        return bool(actual)
    if isinstance(requested, (int, float)) and not isinstance(requested, bool):
        try:
            return float(actual) == float(requested)
        except (TypeError, ValueError):
            return False
    if isinstance(requested, tuple):
        return [str(item) for item in (actual or [])] == list(requested)
    allowed = RESOLVED_AS.get((flag, str(requested)), {str(requested)})
    return str(actual) in allowed


def mismatches(
    flags: tuple[str, ...], requested: dict[str, ArgValue], info: dict[str, Any]
) -> list[str]:
    """One line per flag whose /server_info value differs from what was requested."""
    problems = []
    for flag in flags:
        key = flag.replace("-", "_")
        wanted = requested.get(flag)
        actual = info.get(key)
        if not _matches(flag, wanted, actual):
            shown = "unset/false" if wanted is None or wanted is False else repr(wanted)
            problems.append(f"{key} is {actual!r}, requested {shown}")
    return problems
