"""Shortcut to the HTTP client: ``from papertrans.client import Client, AsyncClient, ApiError``."""

from papertrans.clients.client import AsyncClient, Client, Comparison, Health, Job, TranslateResult
from papertrans.clients.errors import ApiError, ClientError, JobFailed, ServerUnavailable

__all__ = [
    "ApiError",
    "AsyncClient",
    "Client",
    "ClientError",
    "Comparison",
    "Health",
    "Job",
    "JobFailed",
    "ServerUnavailable",
    "TranslateResult",
]
