"""LaTeX figures, tables and images → Markdown: images found next to the source, tabulars as GFM tables.

A float's captions and labels become one line under its images ("Figure: ...") or above its table ("Table: ...");
a tabular that is not a plain grid (spanning cells, nested environments, a ``|`` in a cell) stays LaTeX in a fence.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from pylatexenc import latexwalker as lw

from ._texmarkdown import DISPLAY, INLINE, fence
from ._texnodes import descend, last_arg, plain, verbatim

if TYPE_CHECKING:
    from ._texrender import Renderer

__all__ = ["figure", "image", "table_float", "tabular"]

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".svg", ".gif", ".pdf", ".eps")


def image(r: Renderer, node: lw.LatexMacroNode, alt: str) -> str:
    raw = plain(last_arg(node)).strip()
    path = _find_image(r, raw)
    r.images.append(path)
    return f"![{alt}]({path})"


def _find_image(r: Renderer, raw: str) -> str:
    candidates = [raw] if Path(raw).suffix.lower() in IMAGE_EXTS else [raw + ext for ext in IMAGE_EXTS] + [raw]
    for cand in candidates:
        full = r.image_root / cand
        if full.is_file():
            return Path(os.path.relpath(full, r.out_dir)).as_posix()
    r.warnings.append(f"image {raw!r} not found next to the LaTeX source")
    return Path(os.path.relpath(r.image_root / candidates[0], r.out_dir)).as_posix()


def _caption_and_labels(r: Renderer, body: list[lw.LatexNode]) -> tuple[str, str]:
    """All captions (sub-figures' first, as in the source) and labels of a float."""
    captions, labels = [], []
    for node in descend(body):
        if isinstance(node, lw.LatexMacroNode) and node.macroname in ("caption", "captionof", "subcaption"):
            captions.append(r.inline(last_arg(node)))
        elif isinstance(node, lw.LatexMacroNode) and node.macroname == "label":
            labels.append(r.keep(verbatim(node)))
    return " ".join(c for c in captions if c), " ".join(labels)


def figure(r: Renderer, body: list[lw.LatexNode]) -> str:
    caption, labels = _caption_and_labels(r, body)
    alt = caption if caption and INLINE not in caption and DISPLAY not in caption and "]" not in caption else ""
    images = [image(r, n, alt or "figure") for n in descend(body)
              if isinstance(n, lw.LatexMacroNode) and n.macroname == "includegraphics"]
    tables = [tabular(r, n) for n in descend(body)
              if isinstance(n, lw.LatexEnvironmentNode) and n.environmentname in ("tabular", "tabularx")]
    if not images and not tables:
        images = [fence(plain(body).strip(), "latex")] if plain(body).strip() else []
    parts = images + tables
    text = " ".join(x for x in ("Figure:", caption, labels) if x)
    if caption or labels:
        parts.append(text)
    return "\n\n".join(parts)


def table_float(r: Renderer, body: list[lw.LatexNode]) -> str:
    caption, labels = _caption_and_labels(r, body)
    parts = []
    if caption or labels:
        parts.append(" ".join(x for x in ("Table:", caption, labels) if x))
    tabulars = [n for n in descend(body)
                if isinstance(n, lw.LatexEnvironmentNode) and n.environmentname in ("tabular", "tabular*",
                                                                                   "tabularx", "longtable")]
    parts.extend(tabular(r, n) for n in tabulars)
    images = [image(r, n, "table") for n in descend(body)
              if isinstance(n, lw.LatexMacroNode) and n.macroname == "includegraphics"]
    parts.extend(images)
    return "\n\n".join(parts)


def tabular(r: Renderer, node: lw.LatexEnvironmentNode) -> str:
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
    cells = [[r.inline(c) for c in row] for row in rows]
    cells = [row for row in cells if any(c.strip() for c in row)]
    widths = {len(row) for row in cells}
    if len(widths) != 1 or not cells:
        simple = False
    if simple and any("|" in r.expand(c) or "\n" in r.expand(c) for row in cells for c in row):
        simple = False  # a pipe (e.g. |x| in a formula) would split the GFM cell
    if not simple:
        return fence(verbatim(node), "latex")
    header, *rest = cells
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rest]
    return "\n".join(lines)
