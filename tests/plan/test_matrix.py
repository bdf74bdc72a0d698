"""Job expansion and signatures as nox sees them."""

from __future__ import annotations

from sglang_ci.config.axes import expand, normalize_signature, signature


def test_expand_is_the_cartesian_product_in_axis_order() -> None:
    cells = expand(
        {"topk": [1, 3], "model": "m", "backend": ["a", "b"]}, ["model", "topk", "backend"]
    )
    assert [signature("spec", cell) for cell in cells] == [
        "spec(model='m', topk=1, backend='a')",
        "spec(model='m', topk=1, backend='b')",
        "spec(model='m', topk=3, backend='a')",
        "spec(model='m', topk=3, backend='b')",
    ]


def test_absent_axis_is_absent_from_signature() -> None:
    assert signature("sanity", expand({"model": "x"}, ["model", "topk"])[0]) == "sanity(model='x')"


def test_normalization_ignores_spacing_and_quotes_not_order() -> None:
    canonical = normalize_signature("spec(model='gemma4-31b', topk=3)")
    assert normalize_signature('spec( model = "gemma4-31b",topk=3 )') == canonical
    assert normalize_signature("spec(topk=3, model='gemma4-31b')") != canonical
