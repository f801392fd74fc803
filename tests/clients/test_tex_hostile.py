"""Hostile LaTeX (issue 12): the converter either converts or refuses with a clear ``InputError`` — never a
RecursionError or another crash — and stays linear (bounded time) on long runs and unclosed environments."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from papertrans.clients.convert import latex_to_markdown
from papertrans.clients.errors import InputError

N = 40_000
BOUND_S = 15.0  # against quadratic blow-up: the unclosed-verbatim case took 11.5 s at 76k characters before the fix

CASES = {
    "open_braces": "{" * N,
    "close_braces": "}" * N,
    "dollars": "$" * N,
    "backslashes": "\\" * N,
    "unclosed_itemize": "\\begin{itemize}\\item x " * (N // 24),
    "unclosed_verbatim": "\\begin{verbatim} x " * (N // 19),
    "unclosed_sections": "\\section{" * (N // 9),
    "nested_groups": "{" * 5000 + "x" + "}" * 5000,
    "open_optional_args": "\\item[" * (N // 6),
    "unclosed_equation": "\\begin{equation}" * (N // 16),
    "comments": "a % c\n" * (N // 6),
    "lone_surrogates": "a \ud800 \\emph{x} \udfff " * (N // 20),
    "nul_bytes": "a\x00{b}\x00 " * (N // 8),
    "verb_runs": "\\verb|" * (N // 6),
    "text_math": "Word $x$ and \\emph{y}.\n\n" * (N // 24),
    "mixed_newlines": "Para.\r\n\r\nx\r\r\n$y$\n" * (N // 20),
}


def _convert(text: str) -> str | None:
    """The Markdown, or None when the converter refused the input with an InputError."""
    try:
        return latex_to_markdown(text).markdown
    except InputError as exc:
        assert str(exc), "a refusal says why"
        return None


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_latex_is_converted_or_refused_in_bounded_time(name: str) -> None:
    t0 = time.perf_counter()
    _convert(CASES[name])
    assert time.perf_counter() - t0 < BOUND_S, f"{name}: {time.perf_counter() - t0:.1f} s"


def test_deep_nesting_is_refused_clearly_and_shallow_nesting_converts() -> None:
    with pytest.raises(InputError, match="deeper than"):
        latex_to_markdown("{" * 5000 + "x" + "}" * 5000)
    assert "x" in latex_to_markdown("{" * 20 + "x" + "}" * 20).markdown


def test_verbatim_still_lifted_after_an_unclosed_one_of_another_kind() -> None:
    md = latex_to_markdown("\\begin{lstlisting} open\n\n\\begin{verbatim}\ncode {\n\\end{verbatim}\n\nText.").markdown
    assert "```" in md and "code {" in md


FRAGMENTS = ["{", "}", "$", "$$", "\\", "\\begin{itemize}", "\\end{itemize}", "\\item", "[", "]", "\\begin{verbatim}",
             "\\end{verbatim}", "\\section{", "\\emph{", "%", "\n", "\n\n", "\r\n", "\x00", "\ud800", "word ", "\\(",
             "\\)", "\\[", "\\]", "&", "\\\\", "\\cite{", "\\begin{equation}", "\\end{equation}", "\\verb|"]
runs = st.lists(st.tuples(st.sampled_from(FRAGMENTS), st.integers(1, 400)), min_size=1, max_size=10)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(runs)
def test_generated_latex_never_crashes(parts: list[tuple[str, int]]) -> None:
    text = "".join(fragment * count for fragment, count in parts)
    t0 = time.perf_counter()
    _convert(text)
    assert time.perf_counter() - t0 < BOUND_S / 3
