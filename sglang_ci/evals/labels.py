"""Eval data whose labels cannot be scored is refused, in one line, before any request.

SGLang's GSM8K code asserts that every evaluated label parses
(``assert all(l != INVALID for l in labels)`` in few_shot_gsm8k.py at 6ed5780c4f):
data whose answers hold no number would otherwise score 1.0, gold and output both
INVALID. Its HellaSwag code indexes ``endings[label]`` for every example, so a label out
of range fails there too; an item with fewer than two endings leaves nothing to choose
and would always score as correct. A record the eval cannot even read (a null answer)
is refused the same way instead of ending in a traceback mid-run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sglang_ci.config.errors import UsageError

FIX = "fix or remove the record"


def _text(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def check_gsm8k(
    lines: Sequence[dict[str, Any]], used: int, parse: Callable[[str], float], invalid: int
) -> None:
    """The first ``used`` records (the shots and the evaluated ones): text fields, and a
    gold answer with a number."""
    for number, line in enumerate(lines[:used], 1):
        for name in ("question", "answer"):
            if not isinstance(line[name], str):
                raise UsageError(f"gsm8k data, record {number}: {name} is {_text(line[name])},"
                                 f" not text; {FIX}")  # fmt: skip
        if parse(line["answer"]) == invalid:
            raise UsageError(
                f"gsm8k data, record {number}: answer {_text(line['answer'])} has no number"
                f" (SGLang's GSM8K asserts every label parses); {FIX}"
            )


def hellaswag_label(line: dict[str, Any]) -> int | None:
    """The label as an index (the hub keeps it as text), or None when it is none."""
    label = line["label"]
    if isinstance(label, bool):
        return None
    if isinstance(label, int):
        return label
    if isinstance(label, str) and label.strip().isdigit():
        return int(label)
    return None


def check_hellaswag(lines: Sequence[dict[str, Any]], used: int) -> None:
    """The first ``used`` records: text fields, two or more text endings, a label that
    names one of them."""
    for number, line in enumerate(lines[:used], 1):
        where = f"hellaswag data, record {number}"
        for name in ("activity_label", "ctx"):
            if not isinstance(line[name], str):
                raise UsageError(f"{where}: {name} is {_text(line[name])}, not text; {FIX}")
        endings = line["endings"]
        if not isinstance(endings, list) or not all(isinstance(e, str) for e in endings):
            raise UsageError(f"{where}: endings is {_text(endings)}, not a list of text; {FIX}")
        if len(endings) < 2:
            raise UsageError(f"{where}: {len(endings)} ending(s), nothing to choose from"
                             f" (it would always score as correct); {FIX}")  # fmt: skip
        label = hellaswag_label(line)
        if label is None or not 0 <= label < len(endings):
            raise UsageError(f"{where}: label {_text(line['label'])} does not name one of its"
                             f" {len(endings)} endings (0..{len(endings) - 1}); {FIX}")  # fmt: skip
