"""Every math form is protected, wherever it stands (paragraphs, lists, tables, block quotes), and restores byte for
byte; escaped MathJax delimiters (``\\\\(`` … ``\\\\)``, ``\\\\[`` … ``\\\\]``, Markdown eating one backslash) included.
Adversarial: the same characters where they are not math (code spans, fenced code, a LaTeX line break) stay as they
are."""

from __future__ import annotations

import pytest

from papertrans import protect

from ._helpers import identity

# name -> (document, the math that must be masked: each must appear as one placeholder's original bytes)
CASES: dict[str, tuple[str, list[str]]] = {
    "dollar": ("The loss $L(\\theta)$ is small.", ["$L(\\theta)$"]),
    "double_dollar_inline": ("So $$a = b$$ holds here.", ["$$a = b$$"]),
    "paren": ("The loss \\(L = x^2\\) is small.", ["\\(L = x^2\\)"]),
    "bracket_inline": ("We have \\[E = mc^2\\] in the text.", ["\\[E = mc^2\\]"]),
    "escaped_paren": ("The loss \\\\(L(\\theta) = x^2\\\\) is small.", ["\\\\(L(\\theta) = x^2\\\\)"]),
    "escaped_bracket_inline": ("So \\\\[a+b\\\\] holds in the text.", ["\\\\[a+b\\\\]"]),
    "env_inline": ("Inline \\begin{equation}x=1\\end{equation} in words.", ["\\begin{equation}x=1\\end{equation}"]),
    "env_starred_inline": ("Inline \\begin{align*}x&=1\\end{align*} in words.", ["\\begin{align*}x&=1\\end{align*}"]),
    "list": (
        "- first item with $x_1$ here\n- second with \\\\(y_2\\\\) and \\(w_3\\) there\n",
        ["$x_1$", "\\\\(y_2\\\\)", "\\(w_3\\)"],
    ),
    "table": (
        "| name | value |\n|---|---|\n| the $x$ cell | and \\\\(y\\\\) here |\n| more \\(z\\) words | \\\\[q\\\\] too |\n",
        ["$x$", "\\\\(y\\\\)", "\\(z\\)", "\\\\[q\\\\]"],
    ),
    "quote": ("> Quote with $x$ and \\\\(y^2\\\\) words.\n> More \\(z\\) here.\n", ["$x$", "\\\\(y^2\\\\)", "\\(z\\)"]),
    "nested_quote_list": ("> - item with \\\\(a_1\\\\) words\n>   and $b_2$ more\n", ["\\\\(a_1\\\\)", "$b_2$"]),
}

# Display blocks: they pass through untouched (no segment contains any of their bytes).
DISPLAY: dict[str, tuple[str, str]] = {
    "double_dollar": ("Text before.\n\n$$\nE = mc^2\n$$\n\nText after.\n", "E = mc^2"),
    "bracket": ("Text before.\n\n\\[\nE = mc^2\n\\]\n\nText after.\n", "E = mc^2"),
    "escaped_bracket": ("Text before.\n\n\\\\[\nE = mc^2\n\\\\]\n\nText after.\n", "E = mc^2"),
    "equation": ("Text before.\n\n\\begin{equation}\na = b\n\\end{equation}\n\nText after.\n", "a = b"),
    "equation_star": ("Text before.\n\n\\begin{equation*}\na = b\n\\end{equation*}\n\nText after.\n", "a = b"),
    "align_star": ("Text before.\n\n\\begin{align*}\na &= b \\\\\nc &= d\n\\end{align*}\n\nText after.\n", "a &= b"),
    "gather": ("Text before.\n\n\\begin{gather}\na = b\n\\end{gather}\n\nText after.\n", "a = b"),
    "list_display": ("1. Item one has words:\n\n   $$\n   a = b\n   $$\n\n2. Item two words.\n", "a = b"),
    "list_escaped_display": ("- Item one has words:\n\n  \\\\[\n  a = b\n  \\\\]\n\n- Item two words.\n", "a = b"),
    "quote_display": ("> Quoted words here.\n>\n> $$\n> a = b\n> $$\n", "a = b"),
    "quote_env": ("> Quoted words here.\n>\n> \\begin{align}\n> a = b\n> \\end{align}\n", "a = b"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_inline_math_is_masked_whole(name: str) -> None:
    doc, maths = CASES[name]
    pd = protect.protect(doc)
    originals = [o for s in pd.segments for o in s.placeholders.values()]
    for math in maths:
        assert math in originals, (math, originals)
    for seg in pd.segments:  # no piece of a formula left for the model
        for math in maths:
            inner = math.strip("$\\()[]")
            assert len(inner) < 3 or inner not in seg.text, (inner, seg.text)
    assert identity(doc) == doc


@pytest.mark.parametrize("name", sorted(DISPLAY))
def test_display_math_passes_through(name: str) -> None:
    doc, body = DISPLAY[name]
    pd = protect.protect(doc)
    assert pd.segments, "the prose around the formula is still translated"
    for seg in pd.segments:
        assert body not in protect.unmask(seg.text, seg.placeholders, seg.style), seg.text
    assert identity(doc) == doc
    translated = pd.restore({s.id: "译" for s in pd.segments}).text
    assert body in translated and translated.count("译") == len(pd.segments)


@pytest.mark.parametrize(
    ("doc", "kept"),
    [
        ("Use `\\\\(` to open math in MathJax, really.", "`\\\\(`"),  # escaped opener in a code span: code, not math
        ("Write `\\\\(x\\\\)` in the source file.", "`\\\\(x\\\\)`"),
        ("Open with `\\\\(` and close with `\\\\)` in MathJax.", "`\\\\(`"),
    ],
)
def test_escaped_delimiters_in_code_spans_stay_code(doc: str, kept: str) -> None:
    (seg,) = protect.protect(doc).segments
    assert kept in seg.placeholders.values()  # masked as the code span it is, byte for byte
    assert identity(doc) == doc


def test_escaped_delimiters_in_fenced_code_are_untouched() -> None:
    doc = "Some words here.\n\n```latex\n\\\\(x\\\\) and \\\\[y\\\\]\n```\n"
    pd = protect.protect(doc)
    assert [s.text for s in pd.segments] == ["Some words here."]
    assert identity(doc) == doc


def test_an_unclosed_escaped_opener_is_not_math() -> None:
    # "\\[2pt]" is a LaTeX line break with spacing, "\\(" without a closer is an escaped backslash and a parenthesis:
    # only the two backslashes are masked, the words around stay translatable.
    for doc in ("First line \\\\[2pt] second line words.", "A backslash \\\\( opens nothing here in words."):
        (seg,) = protect.protect(doc).segments
        assert list(seg.placeholders.values()) == ["\\\\"]
        assert "words" in seg.text
        assert identity(doc) == doc
