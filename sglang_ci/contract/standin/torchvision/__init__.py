"""A stand-in for the few torchvision names that importing SGLang's argument parser
touches, used only inside the contract check (see sglang_ci.contract.parsers).

Why not the real one: torchvision from the package index pulls a CUDA build of torch,
several GB, to build a parser that never decodes an image. Nothing here does anything.
"""
