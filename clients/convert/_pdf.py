"""PDF → Markdown with pymupdf4llm (the optional ``pdf`` extra).

pymupdf / pymupdf4llm are AGPL-3.0, so they are imported lazily, only when a PDF is converted, and their absence gives
a clear message instead of an ImportError. Images are written next to the output and referenced relatively.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from ..errors import InputError

__all__ = ["PdfDocument", "PdfSupportMissing", "pdf_to_markdown"]

_INSTALL_HINT = (
    "PDF support needs the optional 'pdf' extra: pip install 'papertrans[pdf]' "
    "(pymupdf + pymupdf4llm, licensed AGPL-3.0)"
)


class PdfSupportMissing(InputError):
    """pymupdf4llm is not installed."""

    def __init__(self, cause: str = "") -> None:
        super().__init__(_INSTALL_HINT + (f" [{cause}]" if cause else ""))


@dataclass
class PdfDocument:
    markdown: str
    pages: int
    images: list[Path] = field(default_factory=list)


def _import() -> tuple[ModuleType, ModuleType]:
    try:
        import pymupdf
        import pymupdf4llm
    except ImportError as exc:
        raise PdfSupportMissing(str(exc)) from exc
    return pymupdf, pymupdf4llm


def _check_header(path: Path) -> None:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    with path.open("rb") as fh:
        head = fh.read(1024)
    if b"%PDF-" not in head:
        raise InputError(f"{path}: not a PDF file (no %PDF- header)")


def pdf_to_markdown(path: Path, *, image_dir: Path | None = None, out_dir: Path | None = None,
                    password: str | None = None) -> PdfDocument:
    """Convert a PDF to Markdown (headings, lists, tables; images saved in ``image_dir`` and linked relative to
    ``out_dir``). Raises ``InputError`` for a missing, non-PDF, encrypted or image-only (scanned) file."""
    path = Path(path)
    _check_header(path)
    pymupdf, pymupdf4llm = _import()
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except Exception as exc:  # pymupdf raises FileDataError / RuntimeError for damaged files
        raise InputError(f"{path}: not a readable PDF ({exc})") from exc
    with contextlib.closing(doc):
        if doc.needs_pass and not (password and doc.authenticate(password)):
            hint = "wrong --password" if password else "give --password, or decrypt it first (e.g. qpdf --decrypt)"
            raise InputError(f"{path}: the PDF is encrypted; {hint}")
        if doc.page_count == 0:
            raise InputError(f"{path}: the PDF has no pages")
        if not any(page.get_text("text").strip() for page in doc):
            raise InputError(
                f"{path}: the PDF has no text layer (a scan or image-only PDF); run OCR first (e.g. ocrmypdf)"
            )
        out_dir = (out_dir or path.parent).resolve()
        kwargs: dict[str, object] = {"use_ocr": False, "show_progress": False}
        if image_dir is not None:
            image_dir = image_dir.resolve()
            image_dir.mkdir(parents=True, exist_ok=True)
            kwargs.update(write_images=True, image_path=str(image_dir), image_format="png")
        before = set(image_dir.iterdir()) if image_dir is not None else set()
        # pymupdf4llm prints parser notes (e.g. "RapidOCR is missing") on stdout: keep them off the CLI's output.
        with contextlib.redirect_stdout(io.StringIO()):
            markdown = pymupdf4llm.to_markdown(doc, **kwargs)
        pages = doc.page_count
    images: list[Path] = []
    if image_dir is not None:
        images = sorted(set(image_dir.iterdir()) - before)
        if not images and not any(image_dir.iterdir()):
            image_dir.rmdir()
        rel = Path(os.path.relpath(image_dir, out_dir)).as_posix()
        # References come out with the absolute folder we passed; make them relative to the Markdown file.
        markdown = markdown.replace(str(image_dir) + os.sep, rel + "/").replace(str(image_dir) + "/", rel + "/")
    markdown = re.sub(r"[ \t]+\n", "\n", markdown)
    markdown = re.sub(r"\n{3,}", "\n\n", markdown).strip() + "\n"
    return PdfDocument(markdown=markdown, pages=pages, images=images)
