"""Hostile Markdown+LaTeX (issue 12): every shape from the issue at ~100k characters is protected and restored byte
for byte within a generous time bound, and a property test mixes long runs of the dangerous characters.

The bounds are against quadratic blow-up, not a speed target: each case takes well under a second here (measured
with benchmarks-free probes), while the quadratic footnote scan this test found took 34 s at 80k characters."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ._helpers import identity

N = 100_000
BOUND_S = 10.0

CASES = {
    "dollars": "$" * N,
    "dollar_words": "$a " * (N // 3),
    "double_dollars": "$$ a " * (N // 5),
    "backticks": "`" * N,
    "backtick_words": "`a " * (N // 3),
    "brackets": "[" * N,
    "footnote_refs": "[^1" * (N // 3),
    "links_open": "[a](" * (N // 4),
    "images_open": "![a](b " * (N // 6),
    "backslashes": "\\" * N,
    "paren_math_open": "\\( " * (N // 3),
    "bracket_math_open": "\\[ x " * (N // 5),
    "stars": "*" * N,
    "star_words": "*a " * (N // 3),
    "emphasis_mix": "*_" * (N // 2),
    "underscores": "a_b " * (N // 4),
    "braces": "{" * N,
    "angles": "<" * N,
    "html_open": "a <b x='" * (N // 8),
    "comments_open": "<!-- " * (N // 5),
    "roles_open": ":cite:`a " * (N // 9),
    "unclosed_environments": "\\begin{equation} x " * (N // 19),
    "unclosed_fences": "```\n" * (N // 4),
    "deep_lists": "".join("  " * i + "- x\n" for i in range(300)),
    "deep_quotes": "> " * (N // 2) + "x\n",
    "table_100k_rows": "| a | b |\n|---|---|\n" + "| $x$ | `y` |\n" * N,
    "lone_surrogates": "word \ud800 $x$ \udfff " * (N // 20),
    "nul_bytes": "a\x00$b\x00$ " * (N // 10),
    "mixed_newlines": "para\r\n\r\nx\r\r\n$y$\n\n" * (N // 20),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_shape_is_bounded_and_exact(name: str) -> None:
    text = CASES[name]
    bound = BOUND_S * max(1.0, len(text) / N)  # linear in the size (the 100k-row table is 1.2 M characters)
    t0 = time.perf_counter()
    assert identity(text) == text
    assert time.perf_counter() - t0 < bound, f"{name}: {time.perf_counter() - t0:.1f} s"


RUNS = ["$", "$$", "`", "``", "[", "]", "(", "[^", "\\", "\\(", "\\[", "*", "_", "{", "}", "<", ">", "|", "> ", "- ",
        "  ", "\n", "\r\n", "\r", "\x00", "\ud800", "\udfff", "a", "word ", "\\begin{equation}", "\\end{equation}",
        ":cite:`", "```\n", "<!--", "](", "![", "#", "1. ", "\t", "中"]

# a document = up to 12 runs, each a dangerous fragment repeated up to 3000 times (up to ~100k characters)
runs = st.lists(st.tuples(st.sampled_from(RUNS), st.integers(1, 3000)), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(runs)
def test_runs_of_dangerous_characters_stay_bounded(parts: list[tuple[str, int]]) -> None:
    text = "".join(fragment * count for fragment, count in parts)
    t0 = time.perf_counter()
    assert identity(text) == text
    assert time.perf_counter() - t0 < BOUND_S / 2, f"{len(text)} chars took {time.perf_counter() - t0:.1f} s"
