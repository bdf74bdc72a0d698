"""sglang.srt.multimodal.internvl_utils imports InterpolationMode at module level."""

import enum


class InterpolationMode(enum.Enum):
    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
