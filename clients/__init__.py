"""papertrans clients: the Python client of the HTTP API, and PDF / LaTeX → Markdown converters.

>>> from papertrans.clients import Client                               # doctest: +SKIP
>>> with Client("http://127.0.0.1:8000") as c:              # doctest: +SKIP
...     result = c.translate(open("paper.md").read(), glossary={"attention": "注意力"})
"""

from ._glossary import load_glossary
from ._translate import STATE_FILE, JobState, job_key
from .client import (
    AsyncClient,
    Client,
    Comparison,
    Health,
    Job,
    ProgressCallback,
    SegmentResult,
    TermResult,
    TranslateResult,
    TranslateStats,
)
from .convert import (
    PdfDocument,
    PdfSupportMissing,
    TexDocument,
    latex_to_markdown,
    math_spans,
    pdf_to_markdown,
    tex_to_markdown,
)
from .errors import ApiError, ClientError, InputError, JobFailed, ServerUnavailable

__all__ = [
    "STATE_FILE",
    "ApiError",
    "AsyncClient",
    "Client",
    "ClientError",
    "Comparison",
    "Health",
    "InputError",
    "Job",
    "JobFailed",
    "JobState",
    "PdfDocument",
    "PdfSupportMissing",
    "ProgressCallback",
    "SegmentResult",
    "ServerUnavailable",
    "TermResult",
    "TexDocument",
    "TranslateResult",
    "TranslateStats",
    "job_key",
    "latex_to_markdown",
    "load_glossary",
    "math_spans",
    "pdf_to_markdown",
    "tex_to_markdown",
]
