"""A registered stage must not make every `nox` call read SGLang's files again: the
registrations are kept in a private cache keyed by the files' mtimes and sizes (issue 21)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sglang_ci.cli import main_exit_code
from sglang_ci.config import registry_cache
from sglang_ci.config.model import load_config
from sglang_ci.config.registered import Registry, read_registry
from tests.conftest import FIXTURE_TOML, FIXTURES, write_sglang_checkout

RUN_SUITE = 'PER_COMMIT_SUITES = {HWBackend.CUDA: ["base-b-test-1-gpu-small"]}\n'
HEAD = "import unittest\ndef register_cuda_ci(**_):\n    pass\n"
MAIN = '\nif __name__ == "__main__":\n    unittest.main()\n'


def registered(est: int, suite: str = "base-b") -> str:
    return (f'{HEAD}register_cuda_ci(est_time={est}, stage="{suite}",'
            f' runner_config="1-gpu-small")\n{MAIN}')  # fmt: skip


FILES = {"core/test_a.py": registered(100), "core/test_b.py": registered(30)}


class CountingReader:
    """read_registry, counting its calls: the one seam these tests watch."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, checkout: Path | str) -> Registry:
        self.calls += 1
        return read_registry(checkout)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> CountingReader:
    counter = CountingReader()
    monkeypatch.setattr(registry_cache, "read_registry", counter)
    return counter


def test_an_unchanged_checkout_is_read_once(tmp_path: Path, reads: CountingReader) -> None:
    checkout = write_sglang_checkout(tmp_path / "sglang", FILES, RUN_SUITE)
    cache = tmp_path / "cache"
    first = registry_cache.cached_registry(checkout, cache)
    second = registry_cache.cached_registry(checkout, cache)
    assert reads.calls == 1
    assert second == first  # the same registrations and suite lists, from the cache
    assert cache.stat().st_mode & 0o777 == 0o700


def test_an_edited_added_or_removed_file_reads_again(tmp_path: Path, reads: CountingReader) -> None:
    checkout = write_sglang_checkout(tmp_path / "sglang", FILES, RUN_SUITE)
    cache = tmp_path / "cache"
    registry_cache.cached_registry(checkout, cache)
    edited = checkout / "test" / "registered" / "core" / "test_b.py"
    edited.write_text(registered(45))
    stamp = edited.stat().st_mtime_ns + 10**9  # a later mtime, whatever the clock's grain
    os.utime(edited, ns=(stamp, stamp))
    registry = registry_cache.cached_registry(checkout, cache)
    assert reads.calls == 2
    assert registry.suites(nightly=False)["base-b-test-1-gpu-small"] == {
        "test/registered/core/test_a.py": 100.0,
        "test/registered/core/test_b.py": 45.0,
    }
    (checkout / "test" / "registered" / "core" / "test_c.py").write_text(registered(5))
    assert len(registry_cache.cached_registry(checkout, cache).registrations) == 3
    (checkout / "test" / "registered" / "core" / "test_a.py").unlink()
    assert len(registry_cache.cached_registry(checkout, cache).registrations) == 2
    assert reads.calls == 4


def test_a_cache_folder_others_can_write_is_not_used(tmp_path: Path, reads: CountingReader) -> None:
    checkout = write_sglang_checkout(tmp_path / "sglang", FILES, RUN_SUITE)
    cache = tmp_path / "shared"
    cache.mkdir()
    cache.chmod(0o777)
    registry_cache.cached_registry(checkout, cache)
    registry_cache.cached_registry(checkout, cache)
    assert reads.calls == 2
    assert list(cache.iterdir()) == []  # nothing written where others could change it


def test_a_damaged_entry_is_read_again(tmp_path: Path, reads: CountingReader) -> None:
    checkout = write_sglang_checkout(tmp_path / "sglang", FILES, RUN_SUITE)
    cache = tmp_path / "cache"
    registry_cache.cached_registry(checkout, cache)
    (entry,) = cache.iterdir()
    entry.write_text('{"registrations": [{"file": 1}]')
    registry = registry_cache.cached_registry(checkout, cache)
    assert reads.calls == 2 and len(registry.registrations) == 2


def test_loading_stages_toml_twice_reads_the_checkout_once(
    tmp_path: Path, reads: CountingReader
) -> None:
    write_sglang_checkout(tmp_path / "sglang", FILES, RUN_SUITE)
    stage = ('\n[stages.files-b]\ngpus = 1\nrunner = "1-gpu-small"\ntimeout = 10\nregistered'
             ' = { suite = "base-b-test-1-gpu-small", checkout = "sglang" }\n')  # fmt: skip
    (tmp_path / "stages.toml").write_text(FIXTURE_TOML.read_text() + stage)
    shutil.copy(FIXTURES / "baselines.toml", tmp_path / "baselines.toml")
    env = {registry_cache.CACHE_ENV: str(tmp_path / "cache")}
    first = load_config(str(tmp_path / "stages.toml"), env, tmp_path)
    second = load_config(str(tmp_path / "stages.toml"), env, tmp_path)
    assert reads.calls == 1
    assert (
        list(second.files)
        == list(first.files)
        == ["test/registered/core/test_a.py", "test/registered/core/test_b.py"]
    )


def test_the_cache_folder_follows_the_environment() -> None:
    assert registry_cache.registry_cache_dir({"HOME": "/h"}) == Path("/h/.cache/sglang-ci/registry")
    assert registry_cache.registry_cache_dir({"HOME": "/h", "XDG_CACHE_HOME": "/x"}) == Path(
        "/x/sglang-ci/registry"
    )
    assert registry_cache.registry_cache_dir({registry_cache.CACHE_ENV: "/c"}) == Path("/c")
    assert registry_cache.registry_cache_dir({}) is None


def test_run_file_warns_when_the_file_is_not_in_the_suite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked before the file runs (run_file itself is the seam replaced here)."""
    from sglang_ci.run import file_job

    files = {**FILES, "other/test_a_only.py": registered(20, suite="base-a")}
    checkout = write_sglang_checkout(
        tmp_path / "sglang",
        files,
        RUN_SUITE.replace(
            '"base-b-test-1-gpu-small"', '"base-b-test-1-gpu-small", "base-a-test-1-gpu-small"'
        ),
    )

    def ran(*_args: object) -> object:
        raise SystemExit(0)  # stands for the run: the warning must come before it

    monkeypatch.setattr(file_job, "run_file", ran)
    argv = ["run-file", str(checkout), "test/registered/other/test_a_only.py"]
    with pytest.raises(SystemExit):
        main_exit_code([*argv, "--suite", "base-b-test-1-gpu-small"])
    assert capsys.readouterr().err.splitlines() == [
        "sglang-ci: warning: test/registered/other/test_a_only.py is not registered in suite"
        " 'base-b-test-1-gpu-small' (registered in: base-a-test-1-gpu-small); run_suite.py"
        " would not run it there"
    ]
    with pytest.raises(SystemExit):
        main_exit_code([*argv, "--suite", "base-a-test-1-gpu-small"])
    assert capsys.readouterr().err == ""
