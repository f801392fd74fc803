"""The errors the server's domain code raises: what went wrong, never how HTTP says it.

Every error carries a machine-readable ``code`` (clients read it as the response's ``error``), a human ``detail`` and
optional ``extra`` fields that go into the response body (e.g. ``limit``). ``server/errors.py`` maps each class to an
HTTP status in one table; nothing here knows about statuses. The whole tree the edge maps::

    DomainError(code, detail, **extra)             this module
    ├── AdapterError                                the adapter registry (server/adapters.py)
    │   ├── AdapterNotFound        unknown_adapter, unknown_adapter_version, folder_not_found
    │   ├── InvalidAdapterRequest  invalid_adapter_name, invalid_adapter, folder_outside_store
    │   ├── UnusableAdapter        not_an_adapter, adapter_rank_too_large
    │   ├── AdaptersUnsupported    adapters_unsupported (the engine, e.g. a chat provider, serves no LoRA)
    │   └── AdapterConflict        no_previous_version, version_active, version_in_use, adapter_not_active,
    │                              adapter_not_loaded
    ├── PipelineError                               the translate pipeline (server/pipeline.py)
    │   ├── InvalidDocument        invalid_glossary
    │   └── DocumentTooLarge       too_many_segments (extra ``limit``)
    └── JobError                                    the job managers (server/jobs.py, server/jobs_db.py)
        └── JobNotFound            unknown_job
    EngineError …                                   server/engine/protocol.py (the engine's own tree)
    StoreError(code, detail) …                      server/store/errors.py (the store's own tree)

The engine and the store keep their own roots so that they stay usable without the server around them.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AdapterConflict",
    "AdapterError",
    "AdapterNotFound",
    "AdaptersUnsupported",
    "DocumentTooLarge",
    "DomainError",
    "InvalidAdapterRequest",
    "InvalidDocument",
    "JobError",
    "JobNotFound",
    "PipelineError",
    "UnusableAdapter",
]


class DomainError(Exception):
    """Base of the server's domain errors: ``code`` (machine-readable), ``detail`` and extra body fields."""

    def __init__(self, code: str, detail: str = "", **extra: Any) -> None:
        self.code = code
        self.detail = detail or code.replace("_", " ")
        self.extra = extra
        super().__init__(f"{self.code}: {self.detail}")

    def to_json(self) -> dict[str, Any]:
        """The error as a client sees it (also a failed job's ``error``)."""
        return {"error": self.code, "detail": self.detail, **self.extra}


class AdapterError(DomainError):
    """The adapter registry cannot do what was asked."""


class AdapterNotFound(AdapterError):
    """No such adapter, version, or folder in the adapter store."""


class InvalidAdapterRequest(AdapterError):
    """The request names an adapter or folder in a form the registry does not accept."""


class UnusableAdapter(AdapterError):
    """The folder exists but is not an adapter this server can load."""


class AdaptersUnsupported(AdapterError):
    """The engine serves no LoRA adapters (a chat provider other than our vLLM): a request naming one is refused."""


class AdapterConflict(AdapterError):
    """The registry's state does not allow it now (active, in use, not loaded, nothing to roll back to)."""


class PipelineError(DomainError):
    """The translate pipeline refuses the input."""


class InvalidDocument(PipelineError):
    """The input cannot be translated as given (e.g. a glossary that does not parse)."""


class DocumentTooLarge(PipelineError):
    """The document has more segments than the server translates in one request."""


class JobError(DomainError):
    """A job operation failed."""


class JobNotFound(JobError):
    """No job with that id."""
