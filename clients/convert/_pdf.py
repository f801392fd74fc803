"""PDF → Markdown: one entry point over the backends.

- ``pdfplumber`` (default; pdfplumber + pdfminer.six, MIT; pypdfium2, Apache-2.0/BSD-3-Clause): formulas detected
  from fonts, glyph classes and script geometry and kept as ``$…$`` / ``$$…$$`` spans that ``protect`` masks.
- ``pymupdf4llm`` (optional ``pdf`` extra, AGPL-3.0): good prose layout, no formula detection.
- ``nougat`` / ``marker`` / ``mineru``: math OCR tools, used only when the user has installed one with its weights.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ._mathocr import OCR_BACKENDS, convert_ocr
from ._pdfmupdf import PdfSupportMissing, convert_pymupdf4llm

__all__ = ["DEFAULT_BACKEND", "PDF_BACKENDS", "PdfDocument", "PdfSupportMissing", "pdf_to_markdown"]

DEFAULT_BACKEND = "pdfplumber"
PDF_BACKENDS = ("pdfplumber", "pymupdf4llm", *OCR_BACKENDS)


@dataclass
class PdfDocument:
    markdown: str
    pages: int
    images: list[Path] = field(default_factory=list)
    backend: str = DEFAULT_BACKEND
    formulas: int = 0  # formula spans emitted (the pdfplumber backend counts them)


def _check_header(path: Path) -> None:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    with path.open("rb") as fh:
        head = fh.read(1024)
    if b"%PDF-" not in head:
        raise InputError(f"{path}: not a PDF file (no %PDF- header)")


def _page_count(path: Path, password: str | None) -> int:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(path), password=password)
    try:
        return len(doc)
    finally:
        doc.close()


def _tidy(markdown: str) -> str:
    markdown = re.sub(r"[ \t]+\n", "\n", markdown)
    return re.sub(r"\n{3,}", "\n\n", markdown).strip() + "\n"


def pdf_to_markdown(path: Path, *, image_dir: Path | None = None, out_dir: Path | None = None,
                    password: str | None = None, backend: str = DEFAULT_BACKEND) -> PdfDocument:
    """Convert a PDF to Markdown (headings, lists, tables, formulas; figures and display-formula crops saved in
    ``image_dir`` and linked relative to ``out_dir``). Raises ``InputError`` for a missing, non-PDF, encrypted or
    image-only (scanned) file, and for an unknown or uninstalled backend."""
    path = Path(path)
    if backend not in PDF_BACKENDS:
        raise InputError(f"unknown PDF backend {backend!r} (choose from {', '.join(PDF_BACKENDS)})")
    _check_header(path)
    out_dir = (out_dir or path.parent).resolve()
    if backend == "pymupdf4llm":
        markdown, pages, images = convert_pymupdf4llm(path, image_dir=image_dir, out_dir=out_dir, password=password)
        return PdfDocument(_tidy(markdown), pages, images, backend)
    if backend in OCR_BACKENDS:
        if password:
            raise InputError(f"the {backend} backend cannot open encrypted PDFs; decrypt it first "
                             "(e.g. qpdf --decrypt)")
        return PdfDocument(_tidy(convert_ocr(backend, path)), _page_count(path, password), [], backend)
    try:
        from ._pdfplumber import convert_pdfplumber
    except ImportError as exc:  # a base dependency removed by hand
        raise PdfSupportMissing(str(exc), "the default PDF backend needs pdfplumber: pip install pdfplumber") from exc
    result = convert_pdfplumber(path, image_dir=image_dir.resolve() if image_dir else None, out_dir=out_dir,
                                password=password)
    return PdfDocument(_tidy(result.markdown), result.pages, result.images, backend, result.formulas)
