"""sglang.srt.utils.common imports decode_jpeg at module level."""

from typing import Any


def decode_jpeg(*_args: Any, **_kwargs: Any) -> Any:
    raise NotImplementedError("torchvision stand-in of the contract check: no image decoding")
