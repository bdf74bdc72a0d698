"""Small eval samples the project writes itself, for rehearsals on the stub engine.

They are in the formats of GSM8K's test.jsonl and HellaSwag's validation JSONL, so the
evals read them exactly as they read the real data; the stub reads them as its answer
key. They are not the real data sets and their scores say nothing about a model.
"""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
GSM8K_SAMPLE = DATA_DIR / "gsm8k_sample.jsonl"
HELLASWAG_SAMPLE = DATA_DIR / "hellaswag_sample.jsonl"
