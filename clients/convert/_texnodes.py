"""LaTeX source → pylatexenc nodes, and the small accessors the renderer reads them with.

The parser is told the arguments of the macros and environments papers use (``\\href{..}{..}``, ``\\caption[..]{..}``,
theorem environments with an optional title, ...) so that their arguments become nodes instead of stray text; every
node keeps ``pos``/``len`` into the source, which is how formulas and references are copied byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence

from pylatexenc import latexwalker as lw
from pylatexenc import macrospec as ms

__all__ = [
    "MATH_ENVS",
    "REF_MACROS",
    "THEOREMS",
    "VERB_MACRO",
    "arg_nodes",
    "descend",
    "is_math_env",
    "last_arg",
    "node_args",
    "plain",
    "split_nodes",
    "verbatim",
    "walk",
]

MATH_ENVS = frozenset(
    f"{name}{star}"
    for name in ("equation", "align", "alignat", "gather", "multline", "flalign", "eqnarray", "displaymath",
                 "math", "dmath", "subequations")
    for star in ("", "*")
)
REF_MACROS = frozenset({
    "cite", "citep", "citet", "citealp", "citealt", "citeauthor", "citeyear", "citeyearpar", "parencite",
    "textcite", "autocite", "nocite", "ref", "eqref", "autoref", "cref", "Cref", "pageref", "nameref", "label",
    "url", "href", "footref", "vref",
})
THEOREMS = {
    name: name.capitalize()
    for name in ("theorem", "lemma", "proposition", "corollary", "definition", "remark", "example", "proof",
                 "assumption", "claim", "conjecture", "hypothesis", "note", "observation", "fact", "problem")
}
# Verbatim-like environments are lifted out of the source before parsing and stand in it as this macro, whose
# argument is the block's index.
VERB_MACRO = "PTVERBATIMBLOCK"


def _context_db() -> ms.LatexContextDb:
    db = lw.get_default_latex_context_db()
    db.add_context_category(
        "papertrans",
        prepend=True,
        macros=[
            ms.MacroSpec("href", "{{"),
            ms.MacroSpec("caption", "*[{"),
            ms.MacroSpec("captionof", "*{[{"),
            ms.MacroSpec("subcaption", "*[{"),
            ms.MacroSpec("bibitem", "[{"),
            ms.MacroSpec("paragraph", "*[{"),
            ms.MacroSpec("subparagraph", "*[{"),
            ms.MacroSpec("multicolumn", "{{{"),
            ms.MacroSpec("multirow", "{[{{"),
            ms.MacroSpec("includegraphics", "*[[{"),
            ms.MacroSpec("date", "{"),
            ms.MacroSpec("thanks", "{"),
            ms.MacroSpec("cline", "{"),
            ms.MacroSpec("vspace", "*{"),
            ms.MacroSpec("hspace", "*{"),
            ms.MacroSpec("setlength", "{{"),
            ms.MacroSpec("setcounter", "{{"),
            ms.MacroSpec("newtheorem", "*{[{["),
            ms.MacroSpec("DeclareMathOperator", "*{{"),
            ms.MacroSpec("email", "{"),
            ms.MacroSpec("affiliation", "{"),
            ms.MacroSpec("institute", "{"),
            ms.MacroSpec("keywords", "{"),
            ms.MacroSpec("bibliography", "{"),
            ms.MacroSpec("addlinespace", "["),
            ms.MacroSpec("textsc", "{"),
            ms.MacroSpec("mbox", "{"),
            ms.MacroSpec("footref", "{"),
            ms.MacroSpec("nameref", "{"),
            ms.MacroSpec(VERB_MACRO, "{"),
        ]
        + [ms.MacroSpec(name, "*[[{") for name in ("citet", "citealp", "citealt", "parencite", "textcite",
                                                    "autocite", "citeyearpar")]
        + [ms.MacroSpec(name, "*{") for name in ("Cref", "vref")],
        environments=[
            ms.EnvironmentSpec("minipage", "[[[{"),
            ms.EnvironmentSpec("tabularx", "{{"),
            ms.EnvironmentSpec("tabular*", "{[{"),
            ms.EnvironmentSpec("table*", "["),
            ms.EnvironmentSpec("figure*", "["),
            ms.EnvironmentSpec("wrapfigure", "[{[{"),
            ms.EnvironmentSpec("subfigure", "[{"),
            ms.EnvironmentSpec("thebibliography", "{"),
            ms.EnvironmentSpec("itemize", "["),
            ms.EnvironmentSpec("description", "["),
        ]
        + [ms.EnvironmentSpec(name, "[") for name in THEOREMS]
        + [ms.EnvironmentSpec(name, "[") for name in ("algorithm", "algorithm*", "algorithmic")],
    )
    return db


_DB = _context_db()


def walk(source: str) -> list[lw.LatexNode]:
    walker = lw.LatexWalker(source, latex_context=_DB, tolerant_parsing=True)
    nodes, _, _ = walker.get_latex_nodes()
    return list(nodes)


def verbatim(node: lw.LatexNode) -> str:
    """The exact source slice of a node (without the whitespace TeX eats after a control word)."""
    text: str = node.parsing_state.s[node.pos: node.pos + node.len]
    if isinstance(node, lw.LatexMacroNode) and node.macro_post_space:
        text = text[: len(text) - len(node.macro_post_space)] if text.endswith(node.macro_post_space) else text
    return text


def node_args(node: lw.LatexNode) -> list[lw.LatexNode | None]:
    argd = getattr(node, "nodeargd", None)
    return list(argd.argnlist) if argd is not None and argd.argnlist else []


def arg_nodes(arg: lw.LatexNode | None) -> list[lw.LatexNode]:
    if arg is None:
        return []
    if isinstance(arg, lw.LatexGroupNode):
        return list(arg.nodelist)
    return [arg]


def last_arg(node: lw.LatexNode) -> list[lw.LatexNode]:
    args = [a for a in node_args(node) if a is not None]
    return arg_nodes(args[-1]) if args else []


def plain(nodes: Sequence[lw.LatexNode]) -> str:
    return "".join(n.parsing_state.s[n.pos: n.pos + n.len] for n in nodes if n is not None)


def is_math_env(node: lw.LatexNode) -> bool:
    return isinstance(node, lw.LatexEnvironmentNode) and node.environmentname in MATH_ENVS


def descend(nodes: Sequence[lw.LatexNode | None]) -> list[lw.LatexNode]:
    """All nodes under ``nodes`` in document order (groups and environments opened, macro arguments included)."""
    out: list[lw.LatexNode] = []
    for node in nodes:
        if node is None:
            continue
        out.append(node)
        if isinstance(node, (lw.LatexGroupNode, lw.LatexEnvironmentNode)) and not is_math_env(node):
            out.extend(descend(node.nodelist))
        elif isinstance(node, lw.LatexMacroNode) and node.macroname not in ("caption", "captionof"):
            out.extend(descend(node_args(node)))
    return out


def split_nodes(nodes: Sequence[lw.LatexNode], names: tuple[str, ...]) -> list[list[lw.LatexNode]]:
    parts: list[list[lw.LatexNode]] = [[]]
    for node in nodes:
        if isinstance(node, lw.LatexMacroNode) and node.macroname in names:
            parts.append([])
        else:
            parts[-1].append(node)
    return parts
