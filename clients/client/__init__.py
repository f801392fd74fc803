"""The Python client of the papertrans HTTP API (``Client``, ``AsyncClient``) and its typed results."""

from ._client import AsyncClient, Client, ProgressCallback
from ._sse import SseParser
from ._types import (
    Comparison,
    GlossaryLike,
    Health,
    Job,
    SegmentResult,
    TermResult,
    TranslateResult,
    TranslateStats,
)

__all__ = [
    "AsyncClient",
    "Client",
    "Comparison",
    "GlossaryLike",
    "Health",
    "Job",
    "ProgressCallback",
    "SegmentResult",
    "SseParser",
    "TermResult",
    "TranslateResult",
    "TranslateStats",
]
