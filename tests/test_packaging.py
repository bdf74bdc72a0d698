"""pyproject.toml, read as it is (the wheel test installs what it builds): the core stays
small, heavy packages are extras, and the router pin has one value."""

from __future__ import annotations

import re
import sys

import pytest

from sglang_ci.config.errors import UsageError
from sglang_ci.contract import SGLANG_ROUTER_VERSION
from tests.conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
HEAVY = ("datasets", "matplotlib", "nvidia-ml-py", "sglang-router", "pyarrow", "pandas")


def test_the_core_install_has_no_heavy_package() -> None:
    assert not [d for d in PROJECT["dependencies"] if d.startswith(HEAVY)]


def test_the_pd_extra_pins_the_router_the_contract_checks() -> None:
    assert PROJECT["optional-dependencies"]["pd"] == [f"sglang-router=={SGLANG_ROUTER_VERSION}"]


def test_each_heavy_package_has_its_extra() -> None:
    extras = PROJECT["optional-dependencies"]
    assert [d.split(">")[0] for d in extras["hub"]] == ["datasets"]
    assert [d.split(">")[0] for d in extras["gpu"]] == ["nvidia-ml-py"]
    assert [d.split(">")[0] for d in extras["plot"]] == ["matplotlib"]


def test_the_version_has_one_source() -> None:
    assert "version" not in PROJECT and PROJECT["dynamic"] == ["version"]


def test_data_hub_without_the_hub_extra_names_it_before_any_network_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sglang_ci.evals import data

    def no_network(*_args: object) -> None:
        raise AssertionError("the network was checked before the missing package")

    monkeypatch.setitem(sys.modules, "datasets", None)  # `import datasets` raises ImportError
    monkeypatch.setattr(data, "require_network", no_network)
    with pytest.raises(UsageError, match=re.escape("pip install 'sglang-ci[hub]'")):
        data.load_lines(data.GSM8K, data.HUB, {})
