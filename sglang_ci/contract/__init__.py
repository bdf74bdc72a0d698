"""The contract with the SGLang releases we target: every flag our jobs pass, every
endpoint we call and every router argument, checked against each release's own code.

This module is the one place that pins the releases; the noxfile's ``contract`` sessions
(one per release, each in its own venv) and its ``tests`` session install exactly these.
"""

# The first release with the seed features (fwd_occupancy, FROZEN_KV_MTP, DeepSeek-V4).
SGLANG_FIRST = "0.5.12"
# The latest release on the index. To bump it: `pip index versions sglang`, set the
# newest here, give it a PARSER_IMPORTS entry (its wheel's Requires-Dist pins
# transformers; see what its parser import chain needs below), and run
# `nox -s "contract(sglang='NEW')"`.
SGLANG_LATEST = "0.5.23"
SGLANG_RELEASES = (SGLANG_FIRST, SGLANG_LATEST)
SGLANG_ROUTER_VERSION = "0.3.2"

# The CPU build of torch, pinned by its local version so that pip can never resolve the
# multi-GB CUDA build instead. The parser only imports torch; 2.13.0+cpu is on these
# machines' find-links path for Python 3.11 (sglang pins 2.11.0 / 2.14.1, whose PyPI
# wheels are CUDA builds). Elsewhere: the PyTorch CPU index has it.
TORCH_CPU = "torch==2.13.0+cpu"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# A Python that has that CPU wheel here, and that sglang 0.5.23 accepts (Requires-Python >= 3.11).
CONTRACT_PYTHON = "3.11"

# What importing sglang.srt.server_args needs, and no more, per release: sglang itself is
# installed with --no-deps, so its GPU dependencies stay out. Found by importing the
# parser in a bare venv and reading sys.modules afterwards; transformers and openai are
# the versions each release pins.
_PARSER_COMMON = (
    "triton", "numpy", "tqdm", "pybase64", "requests", "IPython", "pydantic", "aiohttp",
    "safetensors", "orjson", "psutil", "packaging", "pillow", "starlette",
    "huggingface_hub", "pyzmq", "dill",
)  # fmt: skip
PARSER_IMPORTS: dict[str, tuple[str, ...]] = {
    # openai, partial_json_parser and sentencepiece: imported by 0.5.12's chain only.
    "0.5.12": (*_PARSER_COMMON, "transformers==5.6.0", "openai==2.6.1",
               "partial_json_parser", "sentencepiece"),
    # msgspec: sglang.srt.platforms.interface, new in the chain since 0.5.12.
    "0.5.23": (*_PARSER_COMMON, "transformers==5.19.0", "msgspec"),
}  # fmt: skip
