"""Names imported at module level: InterpolationMode (sglang.srt.multimodal.internvl_utils)
and pil_to_tensor (transformers.image_utils, >= 5.6)."""

from typing import Any

from . import InterpolationMode

__all__ = ["InterpolationMode", "pil_to_tensor"]


def pil_to_tensor(*_args: Any, **_kwargs: Any) -> Any:
    raise NotImplementedError("torchvision stand-in of the contract check: no image decoding")
