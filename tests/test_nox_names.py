"""The noxfile's check of `nox -s` names: what nox itself would match passes."""

from __future__ import annotations

from sglang_ci.nox_names import unknown_session

KNOWN = [
    "tests",
    "contract",
    "contract(sglang='0.5.12')",
    "spec(model='gemma4-31b', topk=1)",
    "spec(model='gemma4-31b', topk=3)",
]


def test_nox_s_python_suffixed_names_and_spacing_are_known() -> None:
    """nox names a session with a Python `name-<version>`; a signature's spacing and
    quotes do not count. None of these may be refused."""
    for name in ("contract-3.12(sglang='0.5.12')", "tests-3.10", "contract-3.12",
                 'spec(model="gemma4-31b",topk=3)'):  # fmt: skip
        assert unknown_session([name], KNOWN) is None, name


def test_a_misspelt_session_gets_the_closest() -> None:
    line = unknown_session(["spec(model='gemma4-31b', topk=4)"], KNOWN)
    assert line is not None and "Perhaps you meant 'spec(model='gemma4-31b', topk=3)'" in line


def test_keywords_in_another_order_get_the_session_with_the_same_values() -> None:
    """nox matches the keyword order too; the closest spelling of the reordered name is
    the other topk, so the hint must come from the values, not the spelling."""
    line = unknown_session(["spec(topk=1, model='gemma4-31b')"], KNOWN)
    assert line is not None
    assert line.endswith("""Perhaps you meant "spec(model='gemma4-31b', topk=1)"?""")
