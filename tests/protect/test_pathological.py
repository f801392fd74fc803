"""Adversarial shapes that would make a naive scanner quadratic or recurse without bound: each must finish fast and
round-trip. The bound is generous (a quadratic scan of these inputs takes tens of seconds)."""

from __future__ import annotations

import time

import pytest

from papertrans import protect

from ._helpers import identity

CASES = {
    "open_brackets": "[" * 20000,
    "open_bracket_words": "[a " * 20000,
    "open_links": "[x](" * 10000,
    "open_images": "![a" * 10000,
    "backtick_runs": "`` ` " * 10000,
    "dollars": "$a " * 20000,
    "deep_quotes": "> " * 5000 + "x\n",
    "deep_lists": "".join("  " * i + "- x\n" for i in range(300)),
    "many_pipes": "|" * 20000 + "\n|-|\n",
    "unclosed_fences": "```\n" * 20000,
    "html_lines": "<div>\n" * 20000,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_pathological_input_is_fast_and_exact(name: str) -> None:
    text = CASES[name]
    t0 = time.perf_counter()
    assert identity(text) == text
    assert time.perf_counter() - t0 < 3.0


def test_deep_nesting_passes_through() -> None:
    text = "> " * 100 + "deep words\n\n> shallow words\n"
    pd = protect.protect(text)
    assert [s.text for s in pd.segments] == ["shallow words"]
