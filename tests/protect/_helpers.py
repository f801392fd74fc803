"""Shared helpers for the protect tests: the corpus (tests/data), the identity check, and a fixtures corpus."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from papertrans import protect

REPO = Path(__file__).resolve().parents[2]


def P(text: str, style: protect.PlaceholderStyle | str | None = None) -> str:
    """Write ``⟦n⟧`` (also padded, ``⟦ n ⟧``) and lone ``⟦`` / ``⟧`` in ``style`` (default: protect's default form),
    so that the tests read the same whichever form measured best."""
    st = style if isinstance(style, protect.PlaceholderStyle) else protect.STYLES[style] if style else protect.DEFAULT_STYLE
    text = re.sub(r"⟦(\s*)(\d+)(\s*)⟧", lambda m: f"{st.open}{m[1]}{st.prefix}{m[2]}{m[3]}{st.close}", text)
    return text.replace("⟦", st.open).replace("⟧", st.close)


def corpus_units(corpus_dir: Path) -> list[dict[str, object]]:
    with open(corpus_dir / "d2l_en_zh.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def identity(text: str) -> str:
    pd = protect.protect(text)
    return pd.restore({s.id: s.text for s in pd.segments}).text


def mask_like(target: protect.Segment, other: protect.Segment) -> str | None:
    """``other``'s masked text rewritten with ``target``'s placeholders (matched by original bytes), or None when the
    two inventories differ."""
    if Counter(target.placeholders.values()) != Counter(other.placeholders.values()):
        return None
    pool: dict[str, list[str]] = {}
    for ph, original in target.placeholders.items():
        pool.setdefault(original, []).append(ph)
    style = other.style
    return style.token.sub(lambda m: pool[other.placeholders[style.canonical(m)]].pop(0), other.text)


CORPUS: dict[str, str] = {
    "empty": "",
    "only_newlines": "\n\n\n",
    "only_math": "$$\nx = 1\n$$\n\n$y$\n\n\\[ z \\]\n",
    "only_inline_math": "$a+b$ $c$",
    "no_trailing_newline": "# Title\n\nLast paragraph without newline",
    "tabs": "# Tabs\n\n-\titem with\ttab\n\n\tindented code\n\nText\twith tab $x$\tand more.\n",
    "non_bmp": "# 𝒜 title 😀\n\nMath 𝔽 and emoji 🚀 with $\\mathbb{F}$ and 𠀀 CJK ext B.\n",
    "front_matter": "---\ntitle: \"A Paper\"\nauthor: X\n---\n\n# Heading\n\nBody text here.\n",
    "setext": "Title line\n==========\n\nSub title\n---------\n\nText.\n",
    "nested": "> - quoted list item with $x$\n>   continued\n>\n> > nested quote text\n\n1. one\n   1. nested `c`\n2. two\n",
    "table": "| a | b `x|y` |\n|:--|--:|\n| cell $p|q$ | \\| escaped |\n\nAfter.\n",
    "html": "<div align=\"center\">\n<img src=\"x.png\">\n</div>\n\nText with <span>inline</span> html.\n\n<!-- comment\nacross lines -->\n",
    "fences": "```python\nprint('$x$')\n```\n\n~~~\ncode\n~~~\n\n```{.python .input}\n%%tab all\n```\n\nAfter code.\n",
    "latex_envs": (
        "\\begin{equation}\na = b\n\\end{equation}\n\n\\begin{align*}\nx &= 1\\\\\ny &= 2\n\\end{align*}\n\n"
        "Text \\cite{k1,k2} and \\eqref{e} with \\footnote{a note with $x$}.\n"
    ),
    "link_defs": "See [the docs][d] and [^n].\n\n[d]: https://example.org \"Title\"\n[^n]: Footnote body text.\n",
    "roles": ":begin_tab:`pytorch`\n[Discussions](https://discuss.d2l.ai/t/1)\n:end_tab:\n\nSee :numref:`fig_x` and :cite:`A.2020`.\n",
    "placeholder_like": "Source with ⟦1⟧ and ⟦ 2 ⟧, a lone ⟧, {{3}}, <m4> and [M5].\n",
    "adversarial": "Costs $5 and $10. Unbalanced $x here.\n\nEscaped \\$ sign.\n\nUnclosed \\begin{align} x\n\nRole :cite:`open\n",
}


def with_crlf(text: str) -> str:
    return text.replace("\n", "\r\n")
