"""Names imported at module level: decode_jpeg (sglang.srt.utils.common), ImageReadMode
and decode_image (transformers.image_utils, transformers >= 5.6)."""

import enum
from typing import Any


class ImageReadMode(enum.Enum):
    UNCHANGED = 0
    GRAY = 1
    GRAY_ALPHA = 2
    RGB = 3
    RGB_ALPHA = 4


def decode_jpeg(*_args: Any, **_kwargs: Any) -> Any:
    raise NotImplementedError("torchvision stand-in of the contract check: no image decoding")


def decode_image(*_args: Any, **_kwargs: Any) -> Any:
    raise NotImplementedError("torchvision stand-in of the contract check: no image decoding")
