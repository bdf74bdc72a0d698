"""The contract with the SGLang release we target: every flag our jobs pass, every
endpoint we call and every router argument, checked against that release's own code.

This module is the one place that pins the release; the noxfile's ``contract`` and
``tests`` sessions install exactly these versions.
"""

SGLANG_VERSION = "0.5.10.post1"
SGLANG_ROUTER_VERSION = "0.3.2"

# What importing sglang.srt.server_args needs, and no more: its GPU dependencies stay out
# (sglang itself is installed with --no-deps). torch is the CPU build (2.13.0 is on the
# machines' disk; sglang pins 2.9.1, whose PyPI wheel is a multi-GB CUDA build); the
# parser only needs torch to import. transformers is the version sglang pins.
PARSER_IMPORTS = (
    "torch==2.13.0", "triton", "numpy", "tqdm", "pybase64", "requests", "IPython",
    "pydantic", "aiohttp", "safetensors", "orjson", "psutil", "packaging", "pillow",
    "starlette", "openai==2.6.1", "partial_json_parser", "huggingface_hub",
    "transformers==5.3.0", "pyzmq", "dill", "sentencepiece",
)  # fmt: skip
