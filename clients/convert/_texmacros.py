"""LaTeX commands in running text: emphasis, code, footnotes, characters, references; what is dropped and kept.

A reference (``\\cite``, ``\\ref``, ``\\url``, ...) and an unknown macro are kept byte for byte as tokens: a
translation must not touch them, and a reader of the Markdown still sees what the author wrote.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pylatexenc import latexwalker as lw
from pylatexenc.latex2text import LatexNodes2Text

from ._texfloats import image
from ._texmarkdown import wrap
from ._texnodes import REF_MACROS, last_arg, verbatim

if TYPE_CHECKING:
    from ._texrender import Renderer

__all__ = ["SWITCH_BOLD", "SWITCH_EMPH", "macro"]

EMPH = frozenset({"emph", "textit", "textsl"})
BOLD = frozenset({"textbf"})
PLAIN = frozenset({"textrm", "textsf", "textup", "textnormal", "textsc", "underline", "mbox", "text", "textmd",
                   "uppercase", "MakeUppercase", "hbox", "makebox", "fbox", "framebox"})
DROP = frozenset({
    "maketitle", "noindent", "indent", "centering", "raggedright", "raggedleft", "vspace", "hspace", "vskip", "hskip",
    "newpage", "clearpage", "cleardoublepage", "pagebreak", "linebreak", "nolinebreak", "smallskip", "medskip",
    "bigskip", "bibliographystyle", "tableofcontents", "listoffigures", "listoftables", "thispagestyle", "pagestyle",
    "setlength", "addtolength", "setcounter", "addtocounter", "newcommand", "renewcommand", "providecommand",
    "DeclareMathOperator", "newtheorem", "usepackage", "documentclass", "appendix", "tiny", "scriptsize",
    "footnotesize", "small", "normalsize", "large", "Large", "LARGE", "huge", "Huge", "frontmatter", "mainmatter",
    "backmatter", "protect", "hline", "toprule", "midrule", "bottomrule", "cline", "addlinespace", "thanks",
    "keywords", "date", "title", "author", "affiliation", "email", "institute", "bibliography", "printbibliography",
    "let", "relax", "newblock", "null", "onecolumn", "twocolumn", "FloatBarrier", "balance", "and",
})
SWITCH_EMPH = frozenset({"em", "it", "itshape", "sl", "slshape"})
SWITCH_BOLD = frozenset({"bf", "bfseries"})
CHAR_MACROS = {"%": "%", "&": "&", "$": "\\$", "_": "\\_", "#": "\\#", "{": "{", "}": "}", " ": " ", ",": " ",
               ";": " ", ":": " ", "!": "", "/": "", "-": "", "\\": " ", "newline": " ", "ldots": "…", "dots": "…",
               "textellipsis": "…", "LaTeX": "LaTeX", "TeX": "TeX", "today": "", "textbackslash": "\\\\",
               "textasciitilde": "~", "S": "§", "P": "¶", "textendash": "–", "textemdash": "—", "quad": " ",
               "qquad": " ", "ie": "i.e.", "eg": "e.g.", "etal": "et al."}
ACCENTS = frozenset("'\"`^~=.uvHcdbrkt") | {"i", "j", "o", "O", "ss", "ae", "AE", "aa", "AA", "l", "L"}
_L2T = LatexNodes2Text()


# One branch per kind of command (ruff's complexity limit would scatter the one dispatch over helpers).
def macro(
    r: Renderer, node: lw.LatexMacroNode, items: list[lw.LatexNode], i: int
) -> str | tuple[str, int]:
    """The Markdown of a macro in text; with the index of the next node to read when it consumed the nodes after it
    (``items[i:]``)."""
    name = node.macroname
    if name in REF_MACROS:
        return r.keep(verbatim(node))
    if name in EMPH:
        return wrap(r.inline(last_arg(node)), "*")
    if name in BOLD:
        return wrap(r.inline(last_arg(node)), "**")
    if name == "texttt":
        code = _L2T.nodelist_to_text(last_arg(node)).strip()
        return f"`{code}`" if code and "`" not in code else code
    if name == "verb":
        argd = node.nodeargd
        code = getattr(argd, "verbatim_text", None) or verbatim(node)[6:-1]
        return f"`{code}`" if "`" not in code else r.keep(verbatim(node))
    if name in PLAIN:
        return r.inline(last_arg(node))
    if name == "footnote":
        r.footnotes.append(r.inline(last_arg(node)))
        return f"[^{len(r.footnotes)}]"
    if name in CHAR_MACROS:
        return CHAR_MACROS[name]
    if name in ("def", "gdef", "edef"):
        # \def\name#1{body}: skip the name, any parameter text and the body group.
        while i < len(items) and not isinstance(items[i], lw.LatexGroupNode):
            i += 1
        return "", min(i + 1, len(items))
    if name in DROP or name in SWITCH_EMPH or name in SWITCH_BOLD:
        return ""
    if name == "includegraphics":
        return image(r, node, alt="")
    if name in ("caption", "captionof"):
        return r.inline(last_arg(node))
    if name in ACCENTS:
        return str(_L2T.nodelist_to_text([node]))  # accents: \'e -> é
    # Unknown macro: keep it (with the groups that follow it directly) byte for byte.
    text = verbatim(node)
    while not node.macro_post_space and i < len(items) and isinstance(items[i], lw.LatexGroupNode):
        text += verbatim(items[i])
        i += 1
    return r.keep(text), i
