"""Background translation jobs for long papers: what every job manager shares, and the interface the routes use.

A job runs the same :class:`server.translator.Translator` as ``POST /translate`` in a background task. Every finished
segment appends one event (sequential ``seq``) and a final ``done``/``error`` event closes the stream, so a client can
reconnect with ``Last-Event-ID`` or fetch the result later. Two managers implement :class:`JobQueue`:

- :class:`server.jobs_folder.FolderJobManager`: jobs in the data folder, run by the one server that owns it;
- :class:`server.jobs_db.DatabaseJobManager`: jobs in the database, shared by the replicas of a fleet.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from papertrans.server.domain_errors import DomainError, JobNotFound
from papertrans.server.translator import TranslateInput, Translator

__all__ = [
    "TERMINAL",
    "Job",
    "JobQueue",
    "check_request",
    "failure",
    "request_from_json",
    "request_json",
    "unknown_job",
]

TERMINAL = ("done", "failed")


@dataclass
class Job:
    id: str
    status: str = "queued"  # queued | running | done | failed
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    total: int | None = None
    done: int = 0
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    owner: str | None = None  # the client it counts against (an API-key fingerprint or an address)
    changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "progress": {"done": self.done, "total": self.total},
            "error": self.error,
            "result": self.result,
        }


class JobQueue(ABC):
    """What the routes and the app need from a job manager (``FolderJobManager`` or ``DatabaseJobManager``)."""

    @abstractmethod
    def start(self) -> None:
        """Start running jobs (inside the running event loop)."""

    @abstractmethod
    async def create(self, req: TranslateInput, owner: str | None = None) -> Job:
        """Queue a job for ``req`` (counted against ``owner``); bad input fails here, not in the job."""

    @abstractmethod
    async def lookup(self, job_id: str) -> Job:
        """The job (:class:`JobNotFound` when there is none)."""

    @abstractmethod
    async def unfinished_count(self, owner: str | None = None) -> int:
        """Queued or running jobs (of ``owner`` when given)."""

    @abstractmethod
    def queued(self) -> int:
        """Queued jobs, for ``/health``."""

    @abstractmethod
    def events(self, job_id: str, after: int = -1) -> AsyncIterator[dict[str, Any]]:
        """Every event with ``seq > after``, then new ones as they come, until the final event."""

    @abstractmethod
    async def close(self) -> None:
        """Stop; unfinished jobs run again later (at the next start, or on another replica)."""


def check_request(translator: Translator, req: TranslateInput) -> None:
    """Bad input (a glossary that does not parse, an adapter that cannot serve) fails the POST, not the job."""
    translator.glossary(req.glossary)
    if req.adapter is not None:
        translator.adapters.lookup(req.adapter)


def request_json(req: TranslateInput) -> dict[str, Any]:
    """A job's request as it is kept until the job finishes (a file, or a column)."""
    keep = {k: getattr(req, k) for k in ("keep_references", "keep_authors", "keep_captions")}
    return {"markdown": req.markdown, "adapter": req.adapter, "glossary": req.glossary, "output": req.output, **keep}


def request_from_json(data: dict[str, Any]) -> TranslateInput:
    """The request :func:`request_json` kept (``KeyError``/``TypeError`` when it is not one)."""
    glossary = [(str(a), str(b)) for a, b in data.get("glossary") or []]
    keep = {k: data.get(k) for k in ("keep_references", "keep_authors", "keep_captions")}
    return TranslateInput(data["markdown"], data.get("adapter"), glossary, data.get("output", "zh"), **keep)


def failure(exc: Exception) -> dict[str, Any]:
    """A failed job's ``error``: a domain error as the API would answer it, anything else as ``job_failed``."""
    if isinstance(exc, DomainError):
        return exc.to_json()
    return {"error": "job_failed", "detail": f"{type(exc).__name__}: {exc}"}


def unknown_job(job_id: str) -> JobNotFound:
    return JobNotFound("unknown_job", f"no job {job_id!r}")
