"""Converters to Markdown that ``protect`` understands: LaTeX projects (``tex_to_markdown``) and PDFs."""

from ._pdf import PdfDocument, PdfSupportMissing, pdf_to_markdown
from ._tex import TexDocument, latex_to_markdown, math_spans, tex_to_markdown

__all__ = [
    "PdfDocument",
    "PdfSupportMissing",
    "TexDocument",
    "latex_to_markdown",
    "math_spans",
    "pdf_to_markdown",
    "tex_to_markdown",
]
