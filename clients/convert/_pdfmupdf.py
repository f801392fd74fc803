"""The optional pymupdf4llm backend (``--backend pymupdf4llm``, the ``pdf`` extra).

pymupdf / pymupdf4llm are AGPL-3.0, so they are imported lazily, only when this backend is chosen, and their absence
gives a clear message instead of an ImportError. Images are written next to the output and referenced relatively.
It keeps no formula: math comes out as scattered glyphs (use the default backend, or the LaTeX source).
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from types import ModuleType

from ..errors import InputError

__all__ = ["PdfSupportMissing", "convert_pymupdf4llm"]

_INSTALL_HINT = (
    "PDF support needs the optional 'pdf' extra: pip install 'papertrans[pdf]' "
    "(pymupdf + pymupdf4llm, licensed AGPL-3.0)"
)


class PdfSupportMissing(InputError):
    """The libraries of the chosen PDF backend are not installed."""

    def __init__(self, cause: str = "", hint: str = _INSTALL_HINT) -> None:
        super().__init__(hint + (f" [{cause}]" if cause else ""))


def _import() -> tuple[ModuleType, ModuleType]:
    try:
        import pymupdf
        import pymupdf4llm
    except ImportError as exc:
        raise PdfSupportMissing(str(exc)) from exc
    return pymupdf, pymupdf4llm


def convert_pymupdf4llm(path: Path, *, image_dir: Path | None = None, out_dir: Path | None = None,
                        password: str | None = None) -> tuple[str, int, list[Path]]:
    """(markdown, pages, images) by pymupdf4llm; raises ``InputError`` for an encrypted, damaged or image-only file."""
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
    return markdown, pages, images
