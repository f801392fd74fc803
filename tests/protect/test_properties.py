"""Property tests on generated Markdown+LaTeX: identity, no leaks, and translations that keep every protected span."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from papertrans import protect

from ._helpers import identity

FRAGMENTS = [
    "word", "The model", " ", "  ", "\t", "\n", "\n\n", "\r\n", "\r", ".", ",", "$", "$$", "$x$", "$5", "\\$",
    "\\(", "\\)", "\\[", "\\]", "`", "``", "`a$b`", "[", "]", "(", ")", "](http://x.org)", "![alt](p.png)", "|",
    "| a | b |\n| - | - |\n", "> ", "- ", "1. ", "# ", "## ", "---\n", "```\n", "~~~\n", "    ", ":cite:`",
    ":numref:`fig`", ":label:`l`", ":end_tab:", "{", "}", "\\cite{k}", "\\ref{", "\\begin{equation}",
    "\\end{equation}", "\\emph{", "\\verb|", "<b>", "</b>", "<div>", "<!--", "-->", "[^1]", "[^1]: ", "中文", "😀", "𝔽", "https://a.b/c", "\\footnote{", "=", "===\n", "*", "_",
    # every placeholder form, whole, padded and broken: source text that merely looks like a placeholder
    *(f for st in protect.STYLES.values() for f in (st.open, st.close, st.make(1), f"{st.open} {st.prefix}2 {st.close}")),
]

documents = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)
_LEAK = re.compile(r"[$`]|https?://|:[a-z]+:`")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_identity_on_generated_documents(doc: str) -> None:
    assert identity(doc) == doc


@settings(max_examples=200, deadline=None)
@given(documents)
def test_no_dollar_backtick_url_or_role_reaches_the_model(doc: str) -> None:
    for seg in protect.protect(doc).segments:
        assert _LEAK.search(seg.text) is None, seg.text
        assert re.search(r"[^\W\d_]", seg.style.token.sub("", seg.text)), "a segment without letters"


def _translate(seg: protect.Segment) -> str:
    """A fake translation: prose replaced, placeholders kept (in reverse order, with stray spaces)."""
    st = seg.style
    numbers = [m.group(1) for k in seg.placeholders if (m := st.token.fullmatch(k))][::-1]
    return "译文" + "".join(f" {st.open} {st.prefix}{n} {st.close} 中" for n in numbers) + "。"


@settings(max_examples=200, deadline=None)
@given(documents)
def test_translations_keep_every_protected_span(doc: str) -> None:
    pd = protect.protect(doc)
    result = pd.restore({s.id: _translate(s) for s in pd.segments})
    assert all(r.status == "ok" for r in result.reports.values())
    for seg in pd.segments:
        for original in seg.placeholders.values():
            assert original in result.text
    # bilingual output keeps the whole source text in order, block by block
    bi = pd.restore({s.id: _translate(s) for s in pd.segments}, bilingual=True).text
    assert len(bi) >= len(doc)
