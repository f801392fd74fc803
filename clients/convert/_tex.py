"""LaTeX project → Markdown that ``protect`` understands, with every formula kept byte for byte.

pylatexenc parses the (comment-free, input-expanded) source; every node carries ``pos``/``len``, so math (inline,
display, math environments) and references (``\\cite``, ``\\ref``, ``\\eqref``, ``\\label``, ``\\url``, ``\\href``, ...)
are copied as exact slices of the source. While the document is assembled those slices are held as opaque tokens (no
whitespace inside), so that whitespace clean-up, list indentation and block quoting can never touch a formula; they
are spliced back at the very end.

This module is the entry point: guards on the raw source (verbatim lifted out, nesting bounded), then the parse
(``_texnodes``), the rendering (``_texrender``, with ``_texmacros``, ``_texenvs`` and ``_texfloats``) and the
assembly of title, authors, body and footnotes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pylatexenc import latexwalker as lw

from ..errors import InputError
from ._texmarkdown import fence, join_blocks
from ._texnodes import REF_MACROS, VERB_MACRO, descend, is_math_env, node_args, verbatim, walk
from ._texrender import Renderer
from ._texsource import VERBATIM_ENVS, read_project

__all__ = ["TexDocument", "latex_to_markdown", "math_spans", "tex_to_markdown"]


@dataclass
class TexDocument:
    """The Markdown of a LaTeX project and what was learned converting it."""

    markdown: str
    title: str | None = None
    files: list[Path] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def math_spans(source: str) -> list[str]:
    """Every formula of a LaTeX source (inline, display, math environments), as exact source slices.

    Used to check that a conversion or a translation kept them all byte for byte.
    """
    found: list[str] = []

    def visit(nodes: Sequence[lw.LatexNode | None]) -> None:
        for node in nodes:
            if node is None:
                continue
            if isinstance(node, lw.LatexMathNode) or is_math_env(node):
                found.append(verbatim(node))
            elif isinstance(node, lw.LatexEnvironmentNode):
                if node.environmentname not in VERBATIM_ENVS:
                    visit(node_args(node))
                    visit(node.nodelist)
            elif isinstance(node, lw.LatexGroupNode):
                visit(node.nodelist)
            elif isinstance(node, lw.LatexMacroNode) and node.macroname not in REF_MACROS:
                visit(node_args(node))

    visit(walk(source))
    return found


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
    renderer = Renderer(root, out_dir, root)
    # Verbatim-like environments are lifted out before parsing (pylatexenc only knows \end{verbatim}).
    def lift(env: str, opt: str, arg: str, body: str) -> str:
        lang = ""
        if env == "minted" and arg:
            lang = arg[1:-1]
        elif env == "lstlisting" and "language=" in opt:
            lang = opt.split("language=", 1)[1].split(",")[0].strip("] ").lower()
        renderer.verbatim_blocks.append(fence(body.strip("\n"), lang))
        return f"\\{VERB_MACRO}{{{len(renderer.verbatim_blocks) - 1}}}"

    source = _lift_verbatim(source, lift)
    _check_nesting(source)
    try:
        return _convert(source, renderer, files)
    except RecursionError as exc:  # a shape the nesting check did not foresee: refuse it, never crash
        raise InputError("the LaTeX is nested too deeply to convert") from exc


def _convert(source: str, renderer: Renderer, files: Sequence[Path]) -> TexDocument:
    nodes = walk(source)
    document = next((n for n in nodes if isinstance(n, lw.LatexEnvironmentNode)
                     and n.environmentname == "document"), None)
    if document is not None:
        for node in descend(nodes[: nodes.index(document)]):
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
    markdown = renderer.expand(join_blocks(head + body + notes)) + "\n"
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
