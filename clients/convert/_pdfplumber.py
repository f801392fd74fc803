"""The default PDF backend, on permissive libraries: pdfplumber + pdfminer.six (MIT) read glyphs with their fonts and
positions; pypdfium2 (Apache-2.0 / BSD-3-Clause, PDFium BSD-style) renders the crops of figures and display formulas.

Formulas are found glyph by glyph (math fonts, math characters, script geometry) and written as ``$…$`` (inline) or
``$$…$$`` blocks (display), the forms ``protect`` masks whole, so no part of a formula reaches the model.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ._pdfglyphs import Line, Rule, build_lines, page_glyphs, page_rules
from ._pdflayout import Box, heading_size, layout_page, render_block

__all__ = ["PlumberResult", "convert_pdfplumber"]

_SCALE = 2.0  # crops are rendered at 144 dpi


@dataclass
class PlumberResult:
    markdown: str
    pages: int
    images: list[Path]
    formulas: int


def _figures(page: Any) -> list[Box]:
    """Embedded pictures, and clusters of vector drawing big enough to be a figure."""
    boxes: list[Box] = []
    page_area = float(page.width) * float(page.height)
    for im in page.images:
        box = (float(im["x0"]), float(im["top"]), float(im["x1"]), float(im["bottom"]))
        area = (box[2] - box[0]) * (box[3] - box[1])
        if box[2] - box[0] > 20 and box[3] - box[1] > 20 and area < 0.5 * page_area:  # not a slide's background
            boxes.append(box)
    shapes = [(float(o["x0"]), float(o["top"]), float(o["x1"]), float(o["bottom"])) for o in list(page.curves)
              + [r for r in page.rects if float(r["bottom"]) - float(r["top"]) > 1.5]]
    clusters: list[list[float]] = []
    for s in shapes:
        for c in clusters:
            if s[0] <= c[2] + 8 and s[2] >= c[0] - 8 and s[1] <= c[3] + 8 and s[3] >= c[1] - 8:
                c[:] = [min(c[0], s[0]), min(c[1], s[1]), max(c[2], s[2]), max(c[3], s[3]), c[4] + 1]
                break
        else:
            clusters.append([*s, 1])
    for c in clusters:
        if c[4] >= 5 and c[2] - c[0] > 60 and c[3] - c[1] > 40 and (c[2] - c[0]) * (c[3] - c[1]) < 0.5 * page_area:
            boxes.append((c[0], c[1], c[2], c[3]))
    return boxes


class _Cropper:
    """Renders page regions to PNG files in ``image_dir``; paths are returned relative to ``out_dir``."""

    def __init__(self, pdf_path: Path, image_dir: Path, out_dir: Path, stem: str, password: str | None) -> None:
        self.pdf_path, self.image_dir, self.out_dir = pdf_path, image_dir, out_dir
        self.stem, self.password = stem, password
        self.doc: Any = None
        self.page_no = 0
        self.bitmap: Any = None
        self.written: list[Path] = []

    def page(self, page_no: int) -> None:
        self.page_no = page_no
        self.bitmap = None

    def __call__(self, box: Box, name: str) -> str | None:
        try:
            import pypdfium2 as pdfium
        except ImportError:
            return None
        if self.doc is None:
            self.doc = pdfium.PdfDocument(str(self.pdf_path), password=self.password)
        if self.bitmap is None:
            self.bitmap = self.doc[self.page_no].render(scale=_SCALE).to_pil()
        pad = 3
        x0, top, x1, bottom = (max(box[0] - pad, 0), max(box[1] - pad, 0), box[2] + pad, box[3] + pad)
        img = self.bitmap.crop(tuple(int(v * _SCALE) for v in (x0, top, x1, bottom)))
        self.image_dir.mkdir(parents=True, exist_ok=True)
        path = self.image_dir / f"{self.stem}-p{self.page_no + 1}-{name}.png"
        img.save(path)
        self.written.append(path)
        return Path(os.path.relpath(path, self.out_dir)).as_posix()

    def close(self) -> None:
        if self.doc is not None:
            self.doc.close()


def _open(path: Path, password: str | None) -> Any:
    import pdfplumber
    from pdfminer.pdfdocument import PDFPasswordIncorrect

    try:
        return pdfplumber.open(path, password=password or "")
    except Exception as exc:  # pdfplumber wraps pdfminer's errors (PDFSyntaxError, PDFPasswordIncorrect, …)
        inner = exc.args[0] if exc.args and isinstance(exc.args[0], Exception) else exc
        if isinstance(inner, PDFPasswordIncorrect):
            hint = "wrong --password" if password else "give --password, or decrypt it first (e.g. qpdf --decrypt)"
            raise InputError(f"{path}: the PDF is encrypted; {hint}") from exc
        raise InputError(f"{path}: not a readable PDF ({type(inner).__name__}: {inner})") from exc


@dataclass
class _Page:
    width: float
    height: float
    lines: list[Line]
    rules: list[Rule]
    figures: list[Box]


_CONTINUES = re.compile(r"[A-Za-z,;$]$")
_PARAGRAPH = re.compile(r"^(?![#|!>-]|\$\$|\d+\. )")


def _join_continued(parts: list[str]) -> list[str]:
    """A paragraph cut by a column or page break (no sentence end before, a lower-case word after) is one."""
    out: list[str] = []
    for part in parts:
        if (out and _PARAGRAPH.match(out[-1]) and _PARAGRAPH.match(part) and _CONTINUES.search(out[-1])
                and part[:1].islower()):
            out[-1] = out[-1] + " " + part
        else:
            out.append(part)
    return out


def convert_pdfplumber(path: Path, *, image_dir: Path | None, out_dir: Path, password: str | None) -> PlumberResult:
    pdf = _open(path, password)
    sizes: Counter[float] = Counter()
    data: list[_Page] = []
    with contextlib.closing(pdf):
        try:
            for page in pdf.pages:
                glyphs = page_glyphs(page)
                sizes.update(round(g.size, 1) for g in glyphs if g.text.isalpha() and not g.math)
                data.append(_Page(float(page.width), float(page.height), build_lines(glyphs), page_rules(page),
                                  _figures(page)))
                page.close()  # pdfplumber caches every object of a page; a long paper would keep them all
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{path}: not a readable PDF ({type(exc).__name__}: {exc})") from exc
    if not data:
        raise InputError(f"{path}: the PDF has no pages")
    if not any(p.lines for p in data):
        raise InputError(f"{path}: the PDF has no text layer (a scan or image-only PDF); run OCR first "
                         "(e.g. ocrmypdf)")
    body = sizes.most_common(1)[0][0] if sizes else 10.0
    heading_sizes = sorted({s for p in data for ln in p.lines if (s := heading_size(ln, body))}, reverse=True)
    cropper = _Cropper(path, image_dir, out_dir, path.stem, password) if image_dir is not None else None
    parts: list[str] = []
    counter = [0]
    try:
        for no, p in enumerate(data):
            if cropper is not None:
                cropper.page(no)
            blocks = layout_page(p.lines, p.rules, p.width, p.height, body, heading_sizes, p.figures)
            for k, block in enumerate(blocks):
                text = render_block(block, p.rules, counter, cropper, k + 1)
                if text.strip():
                    parts.append(text)
    finally:
        if cropper is not None:
            cropper.close()
    markdown = "\n\n".join(_join_continued(parts)).strip() + "\n"
    return PlumberResult(markdown, len(data), cropper.written if cropper else [], counter[0])

