"""The registered-files contract (contract/registered.py) against a collector of the test's
own (the one faked seam): each disagreement is reported. The installed release's real
ci_register.py is compared by `nox -s contract` (0.5.12 and 0.5.23: no finding)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from sglang_ci.config.errors import ConfigError
from sglang_ci.config.registered import read_registry
from sglang_ci.contract.registered import (
    REFUSED,
    compare_partitions,
    compare_reading,
    compare_refusals,
)
from sglang_ci.plan.registered_view import sglang_lpt

RELEASE = "sglang 9.9"
Backend = enum.Enum("Backend", "CPU CUDA AMD NPU")


@dataclass
class Entry:
    """What ci_register.CIRegistry offers the comparison."""

    backend: Backend
    filename: str
    est_time: float
    suite: str | None = None
    nightly: bool = False
    disabled: str | None = None

    @property
    def effective_suite(self) -> str | None:
        return self.suite


def collector(
    alter: Callable[[Entry], Entry] = lambda e: e, refuse: bool = True, reverse_ties: bool = False
) -> SimpleNamespace:
    """A collector that reads files as ours does, changed by ``alter``; ``refuse=False``
    accepts what ours refuses; ``reverse_ties`` breaks LPT ties by the later file name."""

    def collect_tests(files: list[str], sanity_check: bool = True) -> list[Entry]:
        root = Path(files[0]).parents[3]  # <root>/test/registered/<folder>/<file>
        try:
            registry = read_registry(root)
        except ConfigError as error:
            if refuse:
                raise ValueError(str(error)) from None
            return []
        return [
            alter(Entry(Backend[r.backend.upper()], str(root / r.file), r.est_time, r.suite,
                        r.nightly, r.disabled))
            for r in registry.registrations
        ]  # fmt: skip

    def auto_partition(files: list[Entry], rank: int, size: int) -> list[Entry]:
        durations = {f.filename: f.est_time for f in files}
        if reverse_ties:
            names = {f"{n:04d}": f for n, f in enumerate(sorted(durations, reverse=True))}
            shards = sglang_lpt({n: durations[f] for n, f in names.items()}, size)
            chosen = [names[n] for n in shards[rank]]
        else:
            chosen = sglang_lpt(durations, size)[rank]
        return [next(f for f in files if f.filename == name) for name in chosen]

    return SimpleNamespace(
        collect_tests=collect_tests, auto_partition=auto_partition, CIRegistry=Entry,
        HWBackend=Backend,
    )  # fmt: skip


def test_a_collector_that_reads_as_ours_does_gives_no_finding(tmp_path: Path) -> None:
    fake = collector()
    assert compare_reading(tmp_path, fake, RELEASE) == []
    assert compare_refusals(tmp_path, fake, RELEASE) == []
    assert compare_partitions(fake, RELEASE) == []


def test_a_field_read_differently_is_reported_both_ways(tmp_path: Path) -> None:
    def longer(entry: Entry) -> Entry:
        if entry.filename.endswith("test_nested.py"):
            entry.est_time += 1
        return entry

    found = [f.message for f in compare_reading(tmp_path, collector(longer), RELEASE)]
    assert len(found) == 2 and all("test/registered/core/test_nested.py" in m for m in found)
    assert "10.0" in found[0] and found[0].startswith(RELEASE)
    assert "9.0" in found[1] and found[1].startswith("we read")


def test_a_refusal_only_one_side_makes_is_reported(tmp_path: Path) -> None:
    found = compare_refusals(tmp_path, collector(refuse=False), RELEASE)
    # the collector accepts every malformed file: each case is named once, as an error
    assert len(found) == len(REFUSED) and all(f.error for f in found)
    assert all(case in f.message for case, f in zip(REFUSED, found, strict=True))


def test_an_lpt_split_with_other_tie_breaks_is_reported() -> None:
    found = compare_partitions(collector(reverse_ties=True), RELEASE)
    assert len(found) == 1 and "auto_partition of sglang 9.9 splits" in found[0].message
