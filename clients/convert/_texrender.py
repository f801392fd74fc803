"""The renderer: pylatexenc nodes → Markdown blocks, with formulas and references held as tokens.

``Renderer.blocks`` reads a node list once, splitting paragraphs at blank lines; text, specials, groups and headings
are handled here, commands in ``_texmacros``, environments in ``_texenvs`` (floats in ``_texfloats``). Math (inline,
display, math environments) is never rendered: its exact source slice becomes a token (``keep``), and ``expand``
splices the slices back once the document is assembled.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from pylatexenc import latexwalker as lw

from ._texenvs import bibliography, environment
from ._texmacros import SWITCH_BOLD, SWITCH_EMPH, macro
from ._texmarkdown import DISPLAY, INLINE, TOKEN, finish_paragraph, wrap
from ._texnodes import REF_MACROS, VERB_MACRO, is_math_env, last_arg, plain, split_nodes, verbatim

__all__ = ["Renderer"]

HEADING_LEVELS = {"part": 1, "chapter": 1, "section": 2, "subsection": 3, "subsubsection": 4, "paragraph": 5,
                  "subparagraph": 6}
SPECIALS = {"~": " ", "--": "–", "---": "—", "``": "“", "''": "”", "`": "‘", "&": "&"}


class Renderer:
    """One conversion: its tokens, footnotes, images, warnings and metadata, and the rendering that fills them."""

    def __init__(self, root: Path, out_dir: Path, images_are_relative_to: Path) -> None:
        self.root = root
        self.out_dir = out_dir
        self.image_root = images_are_relative_to
        self.tokens: list[str] = []
        self.footnotes: list[str] = []
        self.images: list[str] = []
        self.warnings: list[str] = []
        self.title: str | None = None
        self.authors: list[str] = []
        self.verbatim_blocks: list[str] = []

    # --- tokens ----------------------------------------------------------------------------------------------
    def keep(self, text: str, display: bool = False) -> str:
        self.tokens.append(text)
        mark = DISPLAY if display else INLINE
        return f"{mark}{len(self.tokens) - 1}{mark}"

    def expand(self, text: str) -> str:
        while TOKEN.search(text):
            text = TOKEN.sub(lambda m: self.tokens[int(m.group(2))], text)
        return text

    # --- inline ----------------------------------------------------------------------------------------------
    def inline(self, nodes: Sequence[lw.LatexNode | None]) -> str:
        """Render nodes as one run of inline Markdown (paragraph breaks become spaces)."""
        return " ".join(self.blocks(nodes, inline=True)).strip()

    # --- blocks ----------------------------------------------------------------------------------------------
    # One branch per node kind: split up, the one scan would scatter over helpers that only make sense together.
    def blocks(self, nodes: Sequence[lw.LatexNode | None], *, inline: bool = False) -> list[str]:
        """Render a node list to Markdown blocks (strings holding tokens)."""
        out: list[str] = []
        para: list[str] = []

        def flush() -> None:
            text = finish_paragraph("".join(para))
            para.clear()
            if text:
                out.append(text)

        def block(text: str) -> None:
            if inline:
                para.append(f" {text} ")
                return
            flush()
            if text.strip():
                out.append(text)

        items = [n for n in nodes if n is not None]
        i = 0
        while i < len(items):
            node = items[i]
            i += 1
            if isinstance(node, lw.LatexCharsNode):
                parts = re.split(r"\n[ \t]*\n\s*", node.chars)
                for k, part in enumerate(parts):
                    if k:
                        if inline:
                            para.append(" ")
                        else:
                            flush()
                    para.append(part)
            elif isinstance(node, lw.LatexCommentNode):
                continue
            elif isinstance(node, lw.LatexMathNode):
                para.append(self.keep(verbatim(node), display=node.displaytype == "display"))
            elif isinstance(node, lw.LatexSpecialsNode):
                para.append(SPECIALS.get(node.specials_chars, node.specials_chars))
            elif isinstance(node, lw.LatexGroupNode):
                para.append(self.group(node.nodelist))
            elif isinstance(node, lw.LatexEnvironmentNode):
                if is_math_env(node):
                    para.append(self.keep(verbatim(node), display=True))
                else:
                    block(environment(self, node))
            elif isinstance(node, lw.LatexMacroNode):
                name = node.macroname
                if name in HEADING_LEVELS:
                    heading = self.heading(node)
                    # A \label right after a heading belongs to it.
                    j = i
                    while j < len(items) and isinstance(items[j], lw.LatexCharsNode) and not items[j].chars.strip():
                        j += 1
                    if j < len(items) and isinstance(items[j], lw.LatexMacroNode) and items[j].macroname == "label":
                        heading += " " + self.keep(verbatim(items[j]))
                        i = j + 1
                    block(heading)
                elif name == VERB_MACRO:
                    block(self.verbatim_blocks[int(plain(last_arg(node)))])
                elif name in ("title", "author"):
                    self.metadata(node)
                elif name in ("bibliography", "printbibliography"):
                    bbl = bibliography(self)
                    if bbl:
                        block(bbl)
                elif name in ("item", "bibitem"):
                    para.append(" ")  # stray item outside a list
                else:
                    rendered = macro(self, node, items, i)
                    if isinstance(rendered, tuple):
                        text, i = rendered
                    else:
                        text = rendered
                    para.append(text)
                    if node.macro_post_space and name not in REF_MACROS:
                        para.append(" ")
            else:
                para.append(self.keep(verbatim(node)))
        flush()
        return out

    def group(self, nodes: Sequence[lw.LatexNode]) -> str:
        """``{...}`` in text: its content, honouring declarations such as ``{\\em ...}`` / ``{\\bf ...}``."""
        first = next((n for n in nodes if not (isinstance(n, lw.LatexCharsNode) and not n.chars.strip())), None)
        if isinstance(first, lw.LatexMacroNode) and first.macroname in SWITCH_EMPH | SWITCH_BOLD:
            rest = list(nodes[nodes.index(first) + 1:])
            return wrap(self.inline(rest), "*" if first.macroname in SWITCH_EMPH else "**")
        return self.inline(nodes)

    def heading(self, node: lw.LatexMacroNode) -> str:
        level = HEADING_LEVELS[node.macroname]
        return "#" * level + " " + self.inline(last_arg(node))

    def metadata(self, node: lw.LatexMacroNode) -> None:
        if node.macroname == "title":
            self.title = self.inline(last_arg(node))
            return
        authors = split_nodes(last_arg(node), ("and", "\\"))
        self.authors = [a for a in (self.inline(part) for part in authors) if a]
