"""transformers (>= 5.6) imports torchvision.transforms.v2.functional at module level and
uses it only inside image processing, which the contract check never runs."""
