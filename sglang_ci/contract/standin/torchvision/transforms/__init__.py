"""InterpolationMode: imported at module level by transformers.image_utils (>= 5.6) and
sglang.srt.multimodal.internvl_utils; its members are the ones transformers maps."""

import enum


class InterpolationMode(enum.Enum):
    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"
