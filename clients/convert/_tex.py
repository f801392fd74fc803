"""LaTeX project → Markdown that ``protect`` understands, with every formula kept byte for byte.

pylatexenc parses the (comment-free, input-expanded) source; every node carries ``pos``/``len``, so math (inline,
display, math environments) and references (``\\cite``, ``\\ref``, ``\\eqref``, ``\\label``, ``\\url``, ``\\href``, ...)
are copied as exact slices of the source. While the document is assembled those slices are held as opaque tokens (no
whitespace inside), so that whitespace clean-up, list indentation and block quoting can never touch a formula; they
are spliced back at the very end.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pylatexenc import latexwalker as lw
from pylatexenc import macrospec as ms
from pylatexenc.latex2text import LatexNodes2Text

from ..errors import InputError
from ._texsource import VERBATIM_ENVS, read_project

__all__ = ["TexDocument", "latex_to_markdown", "math_spans", "tex_to_markdown"]

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
HEADING_LEVELS = {"part": 1, "chapter": 1, "section": 2, "subsection": 3, "subsubsection": 4, "paragraph": 5,
                  "subparagraph": 6}
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
SPECIALS = {"~": " ", "--": "–", "---": "—", "``": "“", "''": "”", "`": "‘", "&": "&"}
THEOREMS = {
    name: name.capitalize()
    for name in ("theorem", "lemma", "proposition", "corollary", "definition", "remark", "example", "proof",
                 "assumption", "claim", "conjecture", "hypothesis", "note", "observation", "fact", "problem")
}
VERBATIM_BLOCKS = frozenset({"algorithm", "algorithm*", "algorithmic", "algorithm2e", "tikzpicture", "picture",
                             "pgfpicture", "forest", "tcolorbox"})
ACCENTS = frozenset("'\"`^~=.uvHcdbrkt") | {"i", "j", "o", "O", "ss", "ae", "AE", "aa", "AA", "l", "L"}
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".svg", ".gif", ".pdf", ".eps")
_VERB_MACRO = "PTVERBATIMBLOCK"
_INLINE = "\x00"
_DISPLAY = "\x01"
_TOKEN = re.compile("([\x00\x01])(\\d+)\\1")
_NEEDS_ESCAPE = re.compile(r"^(#|>|[-+*](\s|$)|\d+[.)](\s|$)|=+\s*$)")


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
            ms.MacroSpec(_VERB_MACRO, "{"),
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
_L2T = LatexNodes2Text()


@dataclass
class TexDocument:
    """The Markdown of a LaTeX project and what was learned converting it."""

    markdown: str
    title: str | None = None
    files: list[Path] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _walk(source: str) -> list[lw.LatexNode]:
    walker = lw.LatexWalker(source, latex_context=_DB, tolerant_parsing=True)
    nodes, _, _ = walker.get_latex_nodes()
    return list(nodes)


def _verbatim(node: lw.LatexNode) -> str:
    """The exact source slice of a node (without the whitespace TeX eats after a control word)."""
    text: str = node.parsing_state.s[node.pos: node.pos + node.len]
    if isinstance(node, lw.LatexMacroNode) and node.macro_post_space:
        text = text[: len(text) - len(node.macro_post_space)] if text.endswith(node.macro_post_space) else text
    return text


def _args(node: lw.LatexNode) -> list[lw.LatexNode | None]:
    argd = getattr(node, "nodeargd", None)
    return list(argd.argnlist) if argd is not None and argd.argnlist else []


def _arg_nodes(arg: lw.LatexNode | None) -> list[lw.LatexNode]:
    if arg is None:
        return []
    if isinstance(arg, lw.LatexGroupNode):
        return list(arg.nodelist)
    return [arg]


def _last_arg(node: lw.LatexNode) -> list[lw.LatexNode]:
    args = [a for a in _args(node) if a is not None]
    return _arg_nodes(args[-1]) if args else []


def _plain(nodes: Sequence[lw.LatexNode]) -> str:
    return "".join(n.parsing_state.s[n.pos: n.pos + n.len] for n in nodes if n is not None)


def _is_math_env(node: lw.LatexNode) -> bool:
    return isinstance(node, lw.LatexEnvironmentNode) and node.environmentname in MATH_ENVS


def math_spans(source: str) -> list[str]:
    """Every formula of a LaTeX source (inline, display, math environments), as exact source slices.

    Used to check that a conversion or a translation kept them all byte for byte.
    """
    found: list[str] = []

    def visit(nodes: Sequence[lw.LatexNode | None]) -> None:
        for node in nodes:
            if node is None:
                continue
            if isinstance(node, lw.LatexMathNode) or _is_math_env(node):
                found.append(_verbatim(node))
            elif isinstance(node, lw.LatexEnvironmentNode):
                if node.environmentname not in VERBATIM_ENVS:
                    visit(_args(node))
                    visit(node.nodelist)
            elif isinstance(node, lw.LatexGroupNode):
                visit(node.nodelist)
            elif isinstance(node, lw.LatexMacroNode) and node.macroname not in REF_MACROS:
                visit(_args(node))

    visit(_walk(source))
    return found


class _Renderer:
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
        mark = _DISPLAY if display else _INLINE
        return f"{mark}{len(self.tokens) - 1}{mark}"

    def expand(self, text: str) -> str:
        while _TOKEN.search(text):
            text = _TOKEN.sub(lambda m: self.tokens[int(m.group(2))], text)
        return text

    # --- inline ----------------------------------------------------------------------------------------------
    def inline(self, nodes: Sequence[lw.LatexNode | None]) -> str:
        """Render nodes as one run of inline Markdown (paragraph breaks become spaces)."""
        return " ".join(self.blocks(nodes, inline=True)).strip()

    # --- blocks ----------------------------------------------------------------------------------------------
    def blocks(self, nodes: Sequence[lw.LatexNode | None], *, inline: bool = False) -> list[str]:
        """Render a node list to Markdown blocks (strings holding tokens)."""
        out: list[str] = []
        para: list[str] = []

        def flush() -> None:
            text = _finish_paragraph("".join(para))
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
                para.append(self.keep(_verbatim(node), display=node.displaytype == "display"))
            elif isinstance(node, lw.LatexSpecialsNode):
                para.append(SPECIALS.get(node.specials_chars, node.specials_chars))
            elif isinstance(node, lw.LatexGroupNode):
                para.append(self.group(node.nodelist))
            elif isinstance(node, lw.LatexEnvironmentNode):
                if _is_math_env(node):
                    para.append(self.keep(_verbatim(node), display=True))
                else:
                    block(self.environment(node))
            elif isinstance(node, lw.LatexMacroNode):
                name = node.macroname
                if name in HEADING_LEVELS:
                    heading = self.heading(node)
                    # A \label right after a heading belongs to it.
                    j = i
                    while j < len(items) and isinstance(items[j], lw.LatexCharsNode) and not items[j].chars.strip():
                        j += 1
                    if j < len(items) and isinstance(items[j], lw.LatexMacroNode) and items[j].macroname == "label":
                        heading += " " + self.keep(_verbatim(items[j]))
                        i = j + 1
                    block(heading)
                elif name == _VERB_MACRO:
                    block(self.verbatim_blocks[int(_plain(_last_arg(node)))])
                elif name in ("title", "author"):
                    self.metadata(node)
                elif name in ("bibliography", "printbibliography"):
                    bbl = self.bibliography()
                    if bbl:
                        block(bbl)
                elif name in ("item", "bibitem"):
                    para.append(" ")  # stray item outside a list
                else:
                    rendered = self.macro(node, items, i)
                    if isinstance(rendered, tuple):
                        text, i = rendered
                    else:
                        text = rendered
                    para.append(text)
                    if node.macro_post_space and name not in REF_MACROS:
                        para.append(" ")
            else:
                para.append(self.keep(_verbatim(node)))
        flush()
        return out

    def group(self, nodes: Sequence[lw.LatexNode]) -> str:
        """``{...}`` in text: its content, honouring declarations such as ``{\\em ...}`` / ``{\\bf ...}``."""
        first = next((n for n in nodes if not (isinstance(n, lw.LatexCharsNode) and not n.chars.strip())), None)
        if isinstance(first, lw.LatexMacroNode) and first.macroname in SWITCH_EMPH | SWITCH_BOLD:
            rest = list(nodes[nodes.index(first) + 1:])
            return _wrap(self.inline(rest), "*" if first.macroname in SWITCH_EMPH else "**")
        return self.inline(nodes)

    def macro(self, node: lw.LatexMacroNode, items: list[lw.LatexNode], i: int) -> str | tuple[str, int]:
        name = node.macroname
        if name in REF_MACROS:
            return self.keep(_verbatim(node))
        if name in EMPH:
            return _wrap(self.inline(_last_arg(node)), "*")
        if name in BOLD:
            return _wrap(self.inline(_last_arg(node)), "**")
        if name == "texttt":
            code = _L2T.nodelist_to_text(_last_arg(node)).strip()
            return f"`{code}`" if code and "`" not in code else code
        if name == "verb":
            argd = node.nodeargd
            code = getattr(argd, "verbatim_text", None) or _verbatim(node)[6:-1]
            return f"`{code}`" if "`" not in code else self.keep(_verbatim(node))
        if name in PLAIN:
            return self.inline(_last_arg(node))
        if name == "footnote":
            self.footnotes.append(self.inline(_last_arg(node)))
            return f"[^{len(self.footnotes)}]"
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
            return self.image(node, alt="")
        if name in ("caption", "captionof"):
            return self.inline(_last_arg(node))
        if name in ACCENTS:
            return str(_L2T.nodelist_to_text([node]))  # accents: \'e -> é
        # Unknown macro: keep it (with the groups that follow it directly) byte for byte.
        text = _verbatim(node)
        while not node.macro_post_space and i < len(items) and isinstance(items[i], lw.LatexGroupNode):
            text += _verbatim(items[i])
            i += 1
        return self.keep(text), i

    def heading(self, node: lw.LatexMacroNode) -> str:
        level = HEADING_LEVELS[node.macroname]
        return "#" * level + " " + self.inline(_last_arg(node))

    def metadata(self, node: lw.LatexMacroNode) -> None:
        if node.macroname == "title":
            self.title = self.inline(_last_arg(node))
            return
        authors = _split_nodes(_last_arg(node), ("and", "\\"))
        self.authors = [a for a in (self.inline(part) for part in authors) if a]

    # --- environments ----------------------------------------------------------------------------------------
    def environment(self, node: lw.LatexEnvironmentNode) -> str:
        name = node.environmentname
        body = list(node.nodelist)
        if name in ("itemize", "enumerate", "description"):
            return self.listing(body, ordered=name == "enumerate")
        if name in ("figure", "figure*", "wrapfigure", "subfigure", "SCfigure"):
            return self.figure(body)
        if name in ("table", "table*"):
            return self.table_float(body)
        if name in ("tabular", "tabular*", "tabularx", "longtable"):
            return self.tabular(node)
        if name == "abstract":
            return "\n\n".join(["## Abstract", *self.blocks(body)])
        if name in THEOREMS:
            label = THEOREMS[name]
            opt = _args(node)
            if opt and opt[0] is not None:
                label += f" ({self.inline(_arg_nodes(opt[0]))})"
            parts = self.blocks(body)
            if parts:
                parts[0] = f"**{label}.** {parts[0]}"
            return "\n\n".join(parts or [f"**{label}.**"])
        if name in ("quote", "quotation", "verse"):
            return "\n>\n".join("\n".join(f"> {line}" for line in b.split("\n")) for b in self.blocks(body))
        if name == "thebibliography":
            return self.references(body)
        if name in VERBATIM_BLOCKS:
            return _fence(_verbatim(node), "latex")
        if name == "document":
            return "\n\n".join(self.blocks(body))
        # center, flushleft, minipage, unknown environments: their content.
        return "\n\n".join(self.blocks(body))

    def listing(self, body: list[lw.LatexNode], ordered: bool) -> str:
        items: list[tuple[lw.LatexMacroNode, list[lw.LatexNode]]] = []
        for node in body:
            if isinstance(node, lw.LatexMacroNode) and node.macroname == "item":
                items.append((node, []))
            elif items:
                items[-1][1].append(node)
        lines: list[str] = []
        for n, (item, content) in enumerate(items, start=1):
            marker = f"{n}. " if ordered else "- "
            blocks = self.blocks(content)
            opt = _args(item)
            if opt and opt[0] is not None:
                label = _wrap(self.inline(_arg_nodes(opt[0])), "**")
                blocks = [f"{label} {blocks[0]}" if blocks else label, *blocks[1:]]
            text = "\n\n".join(blocks) or ""
            pad = " " * len(marker)
            indented = "\n".join((pad + line) if line and k else line for k, line in enumerate(text.split("\n")))
            lines.append(marker + indented)
        return "\n".join(lines)

    def image(self, node: lw.LatexMacroNode, alt: str) -> str:
        raw = _plain(_last_arg(node)).strip()
        path = self.find_image(raw)
        self.images.append(path)
        return f"![{alt}]({path})"

    def find_image(self, raw: str) -> str:
        candidates = [raw] if Path(raw).suffix.lower() in IMAGE_EXTS else [raw + ext for ext in IMAGE_EXTS] + [raw]
        for cand in candidates:
            full = self.image_root / cand
            if full.is_file():
                return Path(os.path.relpath(full, self.out_dir)).as_posix()
        self.warnings.append(f"image {raw!r} not found next to the LaTeX source")
        return Path(os.path.relpath(self.image_root / candidates[0], self.out_dir)).as_posix()

    def _caption_and_labels(self, body: list[lw.LatexNode]) -> tuple[str, str]:
        """All captions (sub-figures' first, as in the source) and labels of a float."""
        captions, labels = [], []
        for node in _descend(body):
            if isinstance(node, lw.LatexMacroNode) and node.macroname in ("caption", "captionof", "subcaption"):
                captions.append(self.inline(_last_arg(node)))
            elif isinstance(node, lw.LatexMacroNode) and node.macroname == "label":
                labels.append(self.keep(_verbatim(node)))
        return " ".join(c for c in captions if c), " ".join(labels)

    def figure(self, body: list[lw.LatexNode]) -> str:
        caption, labels = self._caption_and_labels(body)
        alt = caption if caption and _INLINE not in caption and _DISPLAY not in caption and "]" not in caption else ""
        images = [self.image(n, alt or "figure") for n in _descend(body)
                  if isinstance(n, lw.LatexMacroNode) and n.macroname == "includegraphics"]
        tables = [self.tabular(n) for n in _descend(body)
                  if isinstance(n, lw.LatexEnvironmentNode) and n.environmentname in ("tabular", "tabularx")]
        if not images and not tables:
            images = [_fence(_plain(body).strip(), "latex")] if _plain(body).strip() else []
        parts = images + tables
        text = " ".join(x for x in ("Figure:", caption, labels) if x)
        if caption or labels:
            parts.append(text)
        return "\n\n".join(parts)

    def table_float(self, body: list[lw.LatexNode]) -> str:
        caption, labels = self._caption_and_labels(body)
        parts = []
        if caption or labels:
            parts.append(" ".join(x for x in ("Table:", caption, labels) if x))
        tabulars = [n for n in _descend(body)
                    if isinstance(n, lw.LatexEnvironmentNode) and n.environmentname in ("tabular", "tabular*",
                                                                                       "tabularx", "longtable")]
        parts.extend(self.tabular(n) for n in tabulars)
        images = [self.image(n, "table") for n in _descend(body)
                  if isinstance(n, lw.LatexMacroNode) and n.macroname == "includegraphics"]
        parts.extend(images)
        return "\n\n".join(parts)

    def tabular(self, node: lw.LatexEnvironmentNode) -> str:
        """A GFM table when the tabular is a plain grid, else the tabular kept verbatim in a ``latex`` fence."""
        rows: list[list[list[lw.LatexNode]]] = [[[]]]
        simple = True
        for child in node.nodelist:
            if isinstance(child, lw.LatexMacroNode) and child.macroname == "\\":
                rows.append([[]])
            elif isinstance(child, lw.LatexSpecialsNode) and child.specials_chars == "&":
                rows[-1].append([])
            elif isinstance(child, lw.LatexMacroNode) and child.macroname in ("hline", "toprule", "midrule",
                                                                              "bottomrule", "cline", "addlinespace"):
                continue
            else:
                if isinstance(child, lw.LatexMacroNode) and child.macroname in ("multicolumn", "multirow"):
                    simple = False
                if isinstance(child, lw.LatexEnvironmentNode):
                    simple = False
                rows[-1][-1].append(child)
        cells = [[self.inline(c) for c in row] for row in rows]
        cells = [row for row in cells if any(c.strip() for c in row)]
        widths = {len(row) for row in cells}
        if len(widths) != 1 or not cells:
            simple = False
        if simple and any("|" in self.expand(c) or "\n" in self.expand(c) for row in cells for c in row):
            simple = False  # a pipe (e.g. |x| in a formula) would split the GFM cell
        if not simple:
            return _fence(_verbatim(node), "latex")
        header, *rest = cells
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rest]
        return "\n".join(lines)

    def references(self, body: list[lw.LatexNode]) -> str:
        entries: list[list[lw.LatexNode]] = []
        for node in body:
            if isinstance(node, lw.LatexMacroNode) and node.macroname == "bibitem":
                entries.append([])
            elif entries:
                entries[-1].append(node)
        lines = [f"- {self.inline(e)}" for e in entries]
        return "\n\n".join(["## References", "\n".join(lines)]) if lines else "## References"

    def bibliography(self) -> str:
        """``\\bibliography{...}``: the references come from the project's ``.bbl`` file when there is one."""
        bbls = sorted(self.root.glob("*.bbl"))
        if not bbls:
            self.warnings.append("\\bibliography without a .bbl file: references left out (run bibtex first)")
            return ""
        from ._texsource import strip_comments

        text = strip_comments(bbls[0].read_text(encoding="utf-8", errors="replace"))
        return "\n\n".join(self.blocks(_walk(text)))


def _descend(nodes: Sequence[lw.LatexNode | None]) -> list[lw.LatexNode]:
    """All nodes under ``nodes`` in document order (groups and environments opened, macro arguments included)."""
    out: list[lw.LatexNode] = []
    for node in nodes:
        if node is None:
            continue
        out.append(node)
        if isinstance(node, (lw.LatexGroupNode, lw.LatexEnvironmentNode)) and not _is_math_env(node):
            out.extend(_descend(node.nodelist))
        elif isinstance(node, lw.LatexMacroNode) and node.macroname not in ("caption", "captionof"):
            out.extend(_descend(_args(node)))
    return out


def _split_nodes(nodes: Sequence[lw.LatexNode], names: tuple[str, ...]) -> list[list[lw.LatexNode]]:
    parts: list[list[lw.LatexNode]] = [[]]
    for node in nodes:
        if isinstance(node, lw.LatexMacroNode) and node.macroname in names:
            parts.append([])
        else:
            parts[-1].append(node)
    return parts


def _wrap(text: str, mark: str) -> str:
    text = text.strip()
    return f"{mark}{text}{mark}" if text else ""


def _fence(text: str, lang: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{lang}\n{text}\n{fence}"


def _finish_paragraph(text: str) -> str:
    """Collapse a paragraph's whitespace (tokens hold the formulas, so this never touches one); display formulas go
    on their own lines inside the paragraph."""
    text = " ".join(text.split())
    text = re.sub(r" ?(\x01\d+\x01) ?", r"\n\1\n", text).strip("\n")
    if _NEEDS_ESCAPE.match(text):
        text = "\\" + text
    return text


def _unindent_blocks(blocks: list[str]) -> str:
    return "\n\n".join(b for b in blocks if b.strip())


# Deeper nesting of groups/environments is refused: pylatexenc and the renderer recurse once per level (a run of
# "{" or unclosed "\begin" would end in a RecursionError); real papers stay far below this.
MAX_NESTING = 100
_NESTING = re.compile(r"\\[{}]|\\(begin|end)\b|[{}]")
_VERBATIM_BEGIN = re.compile(r"\\begin\{(verbatim\*?|Verbatim|lstlisting|minted|alltt)\}(\[[^\]\n]*\])?(\{[^}\n]*\})?")


def _check_nesting(source: str) -> None:
    """One linear pass: the deepest nesting of ``{...}`` and ``\\begin...\\end`` (escaped braces do not count)."""
    depth = deepest = 0
    for m in _NESTING.finditer(source):
        token = m.group(0)
        if token in ("{", "\\begin"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_NESTING:
                    raise InputError(f"the LaTeX nests groups/environments deeper than {MAX_NESTING} levels")
        elif token in ("}", "\\end"):
            depth = max(0, depth - 1)


def _lift_verbatim(source: str, lift: Callable[[str, str, str, str], str]) -> str:
    """Replace each verbatim-like environment by ``lift(env, opt, arg, body)``, in one pass: the end of each is
    found with ``str.find`` and an environment that is never closed stops further search for it (a regex with a lazy
    body would rescan to the end of the text from every unclosed ``\\begin``: quadratic)."""
    out: list[str] = []
    pos = 0
    unclosed: set[str] = set()
    for m in _VERBATIM_BEGIN.finditer(source):
        env = m.group(1)
        if m.start() < pos or env in unclosed:
            continue
        end = source.find(f"\\end{{{env}}}", m.end())
        if end < 0:
            unclosed.add(env)
            continue
        out.append(source[pos : m.start()])
        out.append(lift(env, m.group(2) or "", m.group(3) or "", source[m.end() : end]))
        pos = end + len(f"\\end{{{env}}}")
    out.append(source[pos:])
    return "".join(out)


def latex_to_markdown(
    source: str, *, root: Path | None = None, out_dir: Path | None = None, files: Sequence[Path] = ()
) -> TexDocument:
    """Convert comment-free, input-expanded LaTeX (a whole document or a fragment) to Markdown."""
    root = (root or Path.cwd()).resolve()
    out_dir = (out_dir or root).resolve()
    renderer = _Renderer(root, out_dir, root)
    # Verbatim-like environments are lifted out before parsing (pylatexenc only knows \end{verbatim}).
    def lift(env: str, opt: str, arg: str, body: str) -> str:
        lang = ""
        if env == "minted" and arg:
            lang = arg[1:-1]
        elif env == "lstlisting" and "language=" in opt:
            lang = opt.split("language=", 1)[1].split(",")[0].strip("] ").lower()
        renderer.verbatim_blocks.append(_fence(body.strip("\n"), lang))
        return f"\\{_VERB_MACRO}{{{len(renderer.verbatim_blocks) - 1}}}"

    source = _lift_verbatim(source, lift)
    _check_nesting(source)
    try:
        return _convert(source, renderer, files)
    except RecursionError as exc:  # a shape the nesting check did not foresee: refuse it, never crash
        raise InputError("the LaTeX is nested too deeply to convert") from exc


def _convert(source: str, renderer: _Renderer, files: Sequence[Path]) -> TexDocument:
    nodes = _walk(source)
    document = next((n for n in nodes if isinstance(n, lw.LatexEnvironmentNode)
                     and n.environmentname == "document"), None)
    if document is not None:
        for node in _descend(nodes[: nodes.index(document)]):
            if isinstance(node, lw.LatexMacroNode) and node.macroname in ("title", "author"):
                renderer.metadata(node)
        body_nodes = list(document.nodelist)
    else:
        body_nodes = nodes
    body = renderer.blocks(body_nodes)
    head: list[str] = []
    if renderer.title:
        head.append(f"# {renderer.title}")
    if renderer.authors:
        head.append(", ".join(renderer.authors))
    notes = [f"[^{k}]: {text}" for k, text in enumerate(renderer.footnotes, start=1)]
    markdown = renderer.expand(_unindent_blocks(head + body + notes)) + "\n"
    title = renderer.expand(renderer.title) if renderer.title else None
    return TexDocument(markdown, title, list(files), renderer.images, renderer.warnings)


def tex_to_markdown(main: Path, *, out_dir: Path | None = None) -> TexDocument:
    """Convert a LaTeX project (its main file; ``\\input``/``\\include`` followed) to Markdown.

    Image paths in the Markdown are relative to ``out_dir`` (default: the main file's folder).
    """
    main = Path(main)
    if main.suffix.lower() not in (".tex", ".ltx", ".latex", ""):
        raise InputError(f"{main}: not a LaTeX file (expected .tex)")
    project = read_project(main)
    if not project.text.strip():
        raise InputError(f"{main}: the LaTeX source is empty")
    doc = latex_to_markdown(project.text, root=project.root, out_dir=out_dir, files=project.files)
    doc.warnings[:0] = project.warnings
    return doc
