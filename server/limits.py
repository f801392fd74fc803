"""Backpressure: bounded concurrency per client and overall, a bounded wait, and quick 429/503 answers beyond.

``/translate`` holds a *running slot* while it translates: at most ``translate_running`` at once. Up to
``translate_waiting`` more wait (at most ``wait_timeout_s``) for a slot; beyond that, or after the wait, the answer is
503 ``server_busy`` with ``Retry-After``. One client (API key or address) may hold at most ``translate_per_client``
requests (running or waiting): above that, 429 ``too_many_requests``. Jobs count unfinished jobs per client and in
total the same way. A request is therefore answered or refused within ``wait_timeout_s`` plus its own translation
time, never queued without bound.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NoReturn

from papertrans import protect
from papertrans.server.errors import PayloadTooLarge, ServiceUnavailable, TooManyRequests
from papertrans.server.metrics import Metrics
from papertrans.server.settings import LimitsSettings

__all__ = ["Admission", "check_segments", "segment_limit"]


class Admission:
    """Admission control of one app instance (its state lives in this event loop)."""

    def __init__(self, limits: LimitsSettings, metrics: Metrics | None = None) -> None:
        self.limits = limits
        self.metrics = metrics
        self._slots = asyncio.Semaphore(limits.translate_running)
        self._per_client: Counter[str] = Counter()
        self._waiting = 0
        self._running = 0

    def _refuse(self, exc: TooManyRequests | ServiceUnavailable) -> NoReturn:
        if self.metrics is not None:
            self.metrics.rejections.labels(exc.code).inc()
        raise exc

    def _busy(self, detail: str) -> ServiceUnavailable:
        return ServiceUnavailable("server_busy", detail, retry_after=self.limits.retry_after_s)

    @asynccontextmanager
    async def translating(self, client: str) -> AsyncIterator[None]:
        """Hold one running slot for ``client`` while the body runs; refuse at once when over a limit."""
        lim = self.limits
        if self._per_client[client] >= lim.translate_per_client:
            self._refuse(
                TooManyRequests(
                    "too_many_requests",
                    f"at most {lim.translate_per_client} concurrent translations per client",
                    retry_after=lim.retry_after_s,
                )
            )
        if self._running + self._waiting >= lim.translate_running + lim.translate_waiting:
            self._refuse(self._busy(f"{self._waiting} requests are already waiting; try again later"))
        self._per_client[client] += 1
        self._waiting += 1  # counted before the first await, so concurrent arrivals see each other
        try:
            try:
                await asyncio.wait_for(self._slots.acquire(), timeout=lim.wait_timeout_s)
            except TimeoutError:
                self._refuse(self._busy(f"no translation slot freed within {lim.wait_timeout_s:g} s"))
            finally:
                self._waiting -= 1
            self._running += 1
            try:
                yield
            finally:
                self._running -= 1
                self._slots.release()
        finally:
            self._per_client[client] -= 1
            if self._per_client[client] <= 0:
                del self._per_client[client]

    def check_job(self, client: str, client_unfinished: int, total_unfinished: int) -> None:
        """Refuse a new job when the client (429) or the server (503) has too many unfinished jobs."""
        lim = self.limits
        if client_unfinished >= lim.jobs_per_client:
            self._refuse(
                TooManyRequests(
                    "too_many_jobs",
                    f"at most {lim.jobs_per_client} unfinished jobs per client",
                    retry_after=lim.retry_after_s,
                )
            )
        if total_unfinished >= lim.jobs_queued:
            self._refuse(self._busy(f"{total_unfinished} jobs are unfinished; try again later"))

    def snapshot(self) -> dict[str, int]:
        """For /health: running and waiting translations."""
        return {"running": self._running, "waiting": self._waiting}


def segment_limit(count: int, limit: int) -> None:
    """413 ``too_many_segments`` above the limit (checked before any engine work)."""
    if count > limit:
        raise PayloadTooLarge("too_many_segments", f"{count} segments > {limit}", limit=limit)


async def check_segments(markdown: str, limit: int) -> None:
    """Protect the document (in a thread: a large one takes a moment) and check its segment count."""
    count = len((await asyncio.to_thread(protect.protect, markdown)).segments)
    segment_limit(count, limit)
