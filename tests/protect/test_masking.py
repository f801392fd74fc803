"""Nothing protected reaches the model, and adversarial inputs are handled conservatively."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from papertrans import protect

from ._helpers import P, corpus_units, identity

# Must-preserve items as tests/data/README.md defines them (the d2l corpus: identical on both sides of a unit).
_MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+?\$", re.DOTALL)
_ROLE = re.compile(r":(?:numref|eqref|cite|label|ref):`([^`]+)`")
_CODE = re.compile(r"`([^`\n]+)`")
_URL = re.compile(r"\]\(([^)\s]+)")
_LEAK = re.compile(r"[$`\\]|https?://|www\.|:[a-z]+:`|\]\(")


def _all_dev_texts(corpus_dir: Path, corpus_docs: list[Path]) -> list[str]:
    return [p.read_text(encoding="utf-8") for p in corpus_docs] + [str(u["en"]) for u in corpus_units(corpus_dir)]


def test_no_protected_span_in_any_segment(corpus_dir: Path, corpus_docs: list[Path]) -> None:
    checked = 0
    for text in _all_dev_texts(corpus_dir, corpus_docs):
        pd = protect.protect(text)
        seen = "\n".join(s.text for s in pd.segments)
        leak = _LEAK.search(seen)
        assert leak is None, seen[max(0, leak.start() - 80) : leak.end() + 80]
        for role in _ROLE.finditer(text):
            assert role.group(1) not in seen, role.group(0)
        for url in _URL.finditer(text):
            assert url.group(1) not in seen, url.group(0)
        inventory = "".join("".join(s.placeholders.values()) for s in pd.segments)
        for m in _MATH.finditer(text):
            body = m.group(0).strip("$")
            if any(ch.isalpha() for ch in body) and len(body) > 3:
                assert body not in seen, m.group(0)
        checked += len(pd.segments)
        # inline math (display math is a block of its own and never reaches a segment) means placeholders
        inline = any(not m.group(0).startswith("$$") for m in _MATH.finditer(text))
        assert inventory or not pd.segments or not inline
    assert checked > 250


def test_every_must_preserve_item_is_in_some_placeholder(corpus_dir: Path) -> None:
    for unit in corpus_units(corpus_dir):
        text = str(unit["en"])
        pd = protect.protect(text)
        prose = "\n".join(s.text for s in pd.segments)
        for pattern in (_ROLE, _URL):
            for m in pattern.finditer(text):
                assert m.group(1) not in prose


ADVERSARIAL = {
    # name: (source, spans that must be masked whole, words that must stay translatable)
    "unbalanced_dollar": ("The price is $x and nothing closes it.", ["$x and nothing closes it."], ["price"]),
    "currency": ("It costs $5 and $10 in total.", ["$5", "$10"], ["costs", "total"]),
    "escaped_dollar": (r"Pay \$5 now, then $x^2$ later.", ["\\$", "$x^2$"], ["Pay", "later"]),
    "nested_braces": (r"So $\frac{a}{\sqrt{b_{i}}}$ and \(\{x\}\) hold.", [r"$\frac{a}{\sqrt{b_{i}}}$", r"\(\{x\}\)"],
                      ["hold"]),
    "math_in_link_text": ("See [the $x^2$ rule](http://x.org/a_(b)) here.", ["$x^2$", "](http://x.org/a_(b))"],
                          ["rule", "here"]),
    "code_span_with_dollar": ("Run `echo $HOME` and then $y$.", ["`echo $HOME`", "$y$"], ["Run"]),
    "placeholder_like": (P("Text ⟦1⟧ and ⟦ 2 ⟧ and ⟧ end."), [P("⟦1⟧"), P("⟦ 2 ⟧"), P("⟧")], ["Text", "end"]),
    "unclosed_environment": ("Prose \\begin{equation} x = 1 more words", ["\\begin{equation} x = 1 more words"],
                             ["Prose"]),
    "role_without_closing_backtick": ("As in :cite:`Smith.2020 and more words.", [":cite:`Smith.2020"],
                                      ["more", "words"]),
    "latex_refs": (r"By \cite{a,b} and \citep[p.~3]{c}, Fig.~\ref{f} and \eqref{e}\label{l}.",
                   [r"\cite{a,b}", r"\citep[p.~3]{c}", r"\ref{f}"], ["By"]),
    "verb_url_href": (r"Use \verb|a$b| and \url{http://x.y} and \href{http://z}{the site}.",
                      [r"\verb|a$b|", r"\url{http://x.y}", r"\href{http://z}{"], ["site"]),
    "html_and_footnote": ("Some <b>bold</b> text<br/> and a note[^1] here.", ["<b>", "</b>", "<br/>", "[^1]"],
                          ["bold", "note"]),
    "bare_url": ("Visit https://example.org/path. Then www.x.org too.", ["https://example.org/path", "www.x.org"],
                 ["Visit"]),
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_adversarial(name: str) -> None:
    source, masked, kept = ADVERSARIAL[name]
    pd = protect.protect(source)
    assert identity(source) == source
    (seg,) = pd.segments
    values = list(seg.placeholders.values())
    for span in masked:
        assert any(span in v for v in values), (span, values)
        assert span not in seg.style.token.sub(" ", seg.text)
    for word in kept:
        assert word in seg.text
    # the model's copy of the text, translated verbatim, restores to the source
    assert pd.restore({seg.id: seg.text}).text == source


def test_math_only_list_item_is_not_a_segment() -> None:
    pd = protect.protect("- $x$\n- `code`\n- real words here\n")
    assert [s.text for s in pd.segments] == ["real words here"]


def test_structural_blocks_pass_through() -> None:
    doc = (
        "---\ntitle: T\n---\n\n```python\nx = 'words'\n```\n\n    indented code words\n\n$$\nE = mc^2\n$$\n\n"
        "<div>\nhtml words\n</div>\n\n[ref]: http://x.org\n\n```{.python .input}\n%%tab all\n```\n\n"
        "| h |\n| --- |\n| c |\n\nprose\n"
    )
    texts = [s.text for s in protect.protect(doc).segments]
    assert texts == ["h", "c", "prose"]
    assert protect.protect(doc).title == "T"


def test_kinds_and_heading_path() -> None:
    doc = (
        "# Paper\n\nIntro text.\n\n## Method\n\n> quoted words\n\n- item words\n\n![alt words](a.png)\n\n"
        "### Detail\n\nDeep text[^n].\n\n## Results\n\nEnd text.\n\n[^n]: note words\n"
    )
    pd = protect.protect(doc)
    got = [(s.kind, s.text, s.heading_path) for s in pd.segments]
    assert got == [
        ("heading", "Paper", []),
        ("paragraph", "Intro text.", ["Paper"]),
        ("heading", "Method", ["Paper"]),
        ("quote", "quoted words", ["Paper", "Method"]),
        ("list_item", "item words", ["Paper", "Method"]),
        ("caption", "alt words", ["Paper", "Method"]),
        ("heading", "Detail", ["Paper", "Method"]),
        ("paragraph", P("Deep text⟦1⟧."), ["Paper", "Method", "Detail"]),
        ("heading", "Results", ["Paper"]),
        ("paragraph", "End text.", ["Paper", "Results"]),
        ("footnote", "note words", ["Paper", "Results"]),
    ]
    assert pd.title == "Paper"
    assert [s.id for s in pd.segments] == [f"s{i}" for i in range(len(pd.segments))]


@pytest.mark.parametrize("style", sorted(protect.STYLES))
def test_placeholder_like_source_text_is_masked_whole(style: str) -> None:
    prefixed = bool(protect.STYLES[style].prefix)  # for "<m1>" a lone ">" is ordinary text
    source = P("Text ⟦1⟧ and ⟦ 2 ⟧ and " + ("x" if prefixed else "⟧") + " end.", style)
    pd = protect.protect(source, style=style)
    (seg,) = pd.segments
    expected = {P("⟦1⟧", style): P("⟦1⟧", style), P("⟦2⟧", style): P("⟦ 2 ⟧", style)}
    if not prefixed:
        expected[P("⟦3⟧", style)] = P("⟧", style)
    assert seg.placeholders == expected
    # a translation that moves them around restores each to its own source bytes
    order = "⟦2⟧ 和 ⟦1⟧" if prefixed else "⟦3⟧ 和 ⟦2⟧ 和 ⟦1⟧"
    out = pd.restore({seg.id: P(f"文本 {order} 结束。", style)})
    assert out.reports[seg.id].status == "ok"
    restored = "⟦ 2 ⟧ 和 ⟦1⟧" if prefixed else "⟧ 和 ⟦ 2 ⟧ 和 ⟦1⟧"
    assert out.text == P(f"文本 {restored} 结束。", style)
