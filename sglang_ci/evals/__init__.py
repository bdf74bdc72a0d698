"""Accuracy evals scored exactly as SGLang's own test kits score them."""
