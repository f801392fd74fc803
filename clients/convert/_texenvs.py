"""LaTeX environments → Markdown blocks: lists, theorems, quotes, the abstract, floats, bibliographies.

An environment this does not know (``center``, ``minipage``, a paper's own) gives its content; one that draws
(``tikzpicture``, ``algorithm``, ...) is kept as LaTeX in a fence, since no Markdown says the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pylatexenc import latexwalker as lw

from ._texfloats import figure, table_float, tabular
from ._texmarkdown import fence, wrap
from ._texnodes import THEOREMS, arg_nodes, node_args, verbatim, walk
from ._texsource import strip_comments

if TYPE_CHECKING:
    from ._texrender import Renderer

__all__ = ["bibliography", "environment"]

VERBATIM_BLOCKS = frozenset({"algorithm", "algorithm*", "algorithmic", "algorithm2e", "tikzpicture", "picture",
                             "pgfpicture", "forest", "tcolorbox"})


# One branch per kind of environment (ruff's complexity limit would scatter the one dispatch over helpers).
def environment(r: Renderer, node: lw.LatexEnvironmentNode) -> str:
    name = node.environmentname
    body = list(node.nodelist)
    if name in ("itemize", "enumerate", "description"):
        return _listing(r, body, ordered=name == "enumerate")
    if name in ("figure", "figure*", "wrapfigure", "subfigure", "SCfigure"):
        return figure(r, body)
    if name in ("table", "table*"):
        return table_float(r, body)
    if name in ("tabular", "tabular*", "tabularx", "longtable"):
        return tabular(r, node)
    if name == "abstract":
        return "\n\n".join(["## Abstract", *r.blocks(body)])
    if name in THEOREMS:
        label = THEOREMS[name]
        opt = node_args(node)
        if opt and opt[0] is not None:
            label += f" ({r.inline(arg_nodes(opt[0]))})"
        parts = r.blocks(body)
        if parts:
            parts[0] = f"**{label}.** {parts[0]}"
        return "\n\n".join(parts or [f"**{label}.**"])
    if name in ("quote", "quotation", "verse"):
        return "\n>\n".join("\n".join(f"> {line}" for line in b.split("\n")) for b in r.blocks(body))
    if name == "thebibliography":
        return _references(r, body)
    if name in VERBATIM_BLOCKS:
        return fence(verbatim(node), "latex")
    if name == "document":
        return "\n\n".join(r.blocks(body))
    # center, flushleft, minipage, unknown environments: their content.
    return "\n\n".join(r.blocks(body))


def _listing(r: Renderer, body: list[lw.LatexNode], ordered: bool) -> str:
    items: list[tuple[lw.LatexMacroNode, list[lw.LatexNode]]] = []
    for node in body:
        if isinstance(node, lw.LatexMacroNode) and node.macroname == "item":
            items.append((node, []))
        elif items:
            items[-1][1].append(node)
    lines: list[str] = []
    for n, (item, content) in enumerate(items, start=1):
        marker = f"{n}. " if ordered else "- "
        blocks = r.blocks(content)
        opt = node_args(item)
        if opt and opt[0] is not None:
            label = wrap(r.inline(arg_nodes(opt[0])), "**")
            blocks = [f"{label} {blocks[0]}" if blocks else label, *blocks[1:]]
        text = "\n\n".join(blocks) or ""
        pad = " " * len(marker)
        indented = "\n".join((pad + line) if line and k else line for k, line in enumerate(text.split("\n")))
        lines.append(marker + indented)
    return "\n".join(lines)


def _references(r: Renderer, body: list[lw.LatexNode]) -> str:
    entries: list[list[lw.LatexNode]] = []
    for node in body:
        if isinstance(node, lw.LatexMacroNode) and node.macroname == "bibitem":
            entries.append([])
        elif entries:
            entries[-1].append(node)
    lines = [f"- {r.inline(e)}" for e in entries]
    return "\n\n".join(["## References", "\n".join(lines)]) if lines else "## References"


def bibliography(r: Renderer) -> str:
    """``\\bibliography{...}``: the references come from the project's ``.bbl`` file when there is one."""
    bbls = sorted(r.root.glob("*.bbl"))
    if not bbls:
        r.warnings.append("\\bibliography without a .bbl file: references left out (run bibtex first)")
        return ""
    text = strip_comments(bbls[0].read_text(encoding="utf-8", errors="replace"))
    return "\n\n".join(r.blocks(walk(text)))
