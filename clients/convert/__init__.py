"""Converters to Markdown that ``protect`` understands: LaTeX projects (``tex_to_markdown``), arXiv e-prints, PDFs."""

from ._eprint import extract_eprint, fetch_arxiv, find_main_tex, is_eprint
from ._pdf import DEFAULT_BACKEND, PDF_BACKENDS, PdfDocument, PdfSupportMissing, pdf_to_markdown
from ._tex import TexDocument, latex_to_markdown, math_spans, tex_to_markdown
from ._texsource import read_project, strip_comments

__all__ = [
    "DEFAULT_BACKEND",
    "PDF_BACKENDS",
    "PdfDocument",
    "PdfSupportMissing",
    "TexDocument",
    "extract_eprint",
    "fetch_arxiv",
    "find_main_tex",
    "is_eprint",
    "latex_to_markdown",
    "math_spans",
    "pdf_to_markdown",
    "read_project",
    "strip_comments",
    "tex_to_markdown",
]
