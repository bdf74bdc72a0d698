"""The stub's reading of SGLang's server arguments.

The stub accepts whatever ``sglang.launch_server`` is given (the runner swaps only the
module), keeps every flag so ``/server_info`` can report it flattened as SGLang does,
and reads the few that change its behaviour.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def _coerce(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def with_config_file(argv: Sequence[str]) -> list[str]:
    """SGLang's ``--config FILE`` (server_args_config_parser): the file's mapping as flags,
    placed before the command line's own, which win. The stub reads the JSON form of
    YAML only (what the runner writes), so it needs no YAML parser."""
    argv = list(argv)
    if "--config" not in argv:
        return argv
    index = argv.index("--config")
    if index + 1 == len(argv):
        raise ValueError("No config file specified after --config flag!")
    path = argv[index + 1]
    if not path.lower().endswith((".yaml", ".yml")):
        raise ValueError(f"Config file must be YAML format, got: {path}")
    with open(path, encoding="utf-8") as handle:
        config = json.load(handle)
    flags: list[str] = []
    for key, value in config.items():
        if value is True:
            flags.append(f"--{key}")
        elif isinstance(value, list):
            flags += [f"--{key}", *map(str, value)]
        elif value is not False:
            flags += [f"--{key}", str(value)]
    return flags + argv[:index] + argv[index + 2 :]


def parse_server_args(argv: Sequence[str]) -> dict[str, Any]:
    """``--tp-size 2 --enable-metrics`` -> ``{"tp_size": 2, "enable_metrics": True}``."""
    argv = with_config_file(argv)
    parsed: dict[str, Any] = {}
    index = 0
    while index < len(argv):
        token = argv[index]
        if not token.startswith("--"):
            raise ValueError(f"unexpected argument {token!r}: flags start with --")
        key = token[2:].replace("-", "_")
        values: list[str] = []
        index += 1
        while index < len(argv) and not argv[index].startswith("--"):
            values.append(argv[index])
            index += 1
        if not values:
            parsed[key] = True
        elif len(values) == 1:
            parsed[key] = _coerce(values[0])
        else:
            parsed[key] = [_coerce(value) for value in values]
    return parsed


@dataclass(frozen=True)
class StubSettings:
    model_path: str
    host: str
    port: int
    api_key: str | None
    served_model_name: str
    speculative_algorithm: str | None
    speculative_num_steps: int
    speculative_num_draft_tokens: int
    deterministic: bool
    enable_metrics: bool
    disaggregation_mode: str
    bootstrap_port: int | None
    tp_size: int
    transfer_backend: str = "mooncake"
    ib_device: str | None = None
    # SGLang takes it from the model's config unless --context-length says otherwise; the
    # stub has no model, so a config of 8192 tokens stands in (a token is a word here).
    context_length: int = 8192


def settings_from(args: dict[str, Any]) -> StubSettings:
    if "model_path" not in args or "port" not in args:
        raise ValueError("--model-path and --port are required, as for sglang.launch_server")
    algorithm = args.get("speculative_algorithm")
    return StubSettings(
        model_path=str(args["model_path"]),
        host=str(args.get("host", "127.0.0.1")),
        port=int(args["port"]),
        api_key=str(args["api_key"]) if "api_key" in args else None,
        served_model_name=str(args.get("served_model_name", args["model_path"])),
        speculative_algorithm=str(algorithm) if algorithm else None,
        speculative_num_steps=int(args.get("speculative_num_steps", 1)),
        speculative_num_draft_tokens=int(args.get("speculative_num_draft_tokens", 2)),
        deterministic=bool(args.get("enable_deterministic_inference", False)),
        enable_metrics=bool(args.get("enable_metrics", False)),
        disaggregation_mode=str(args.get("disaggregation_mode", "null")),
        bootstrap_port=(
            int(args["disaggregation_bootstrap_port"])
            if "disaggregation_bootstrap_port" in args
            else None
        ),
        tp_size=int(args.get("tp_size", 1)),
        transfer_backend=str(args.get("disaggregation_transfer_backend", "mooncake")),
        ib_device=(
            str(args["disaggregation_ib_device"]) if "disaggregation_ib_device" in args else None
        ),
        context_length=int(args.get("context_length") or 8192),
    )


def server_info_args(args: dict[str, Any]) -> dict[str, Any]:
    """The flattened server args as /server_info reports them, with SGLang's rewrites."""
    info: dict[str, Any] = {
        "disable_cuda_graph": False,
        "enable_metrics": False,
        "enable_deterministic_inference": False,
        "tp_size": 1,
        "dp_size": 1,
        "pp_size": 1,
        "speculative_algorithm": None,
        "speculative_eagle_topk": None,
        "speculative_draft_model_path": None,
        # ServerArgs defaults (server_args.py@5227b07669): ib device None = mooncake detects.
        "disaggregation_mode": "null",
        "disaggregation_transfer_backend": "mooncake",
        "disaggregation_bootstrap_port": 8998,
        "disaggregation_ib_device": None,
    }
    info.update(args)
    # SGLang's ServerArgs rewrites NEXTN to EAGLE: NEXTN is EAGLE with the MTP layers as
    # the draft. Reporting what the real server reports keeps the harness honest.
    if info["speculative_algorithm"] == "NEXTN":
        info["speculative_algorithm"] = "EAGLE"
    return info
