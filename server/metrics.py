"""Prometheus metrics of one app instance.

Each app gets its own ``CollectorRegistry`` so that several apps (tests) never collide in the global registry.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


class Metrics:
    """Counters and gauges the server updates; rendered by ``GET /metrics``."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter("papertrans_requests", "HTTP requests", ["method", "route", "status"], registry=r)
        self.latency = Histogram(
            "papertrans_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=r,
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
        )
        self.tokens = Counter("papertrans_tokens", "Engine tokens", ["direction"], registry=r)
        self.segments = Counter("papertrans_segments", "Translated segments by final status", ["status"], registry=r)
        self.retries = Counter("papertrans_retries", "Segment retries", ["kind"], registry=r)
        self.fallbacks = Counter("papertrans_fallbacks", "Segments kept in the source language", registry=r)
        self.placeholder_failures = Counter(
            "papertrans_placeholder_failures", "Validation failures by reason (every attempt)", ["reason"], registry=r
        )
        self.queue_depth = Gauge("papertrans_queue_depth", "Engine requests in flight", registry=r)
        self.jobs = Gauge("papertrans_jobs", "Jobs by state", ["state"], registry=r)
        self.adapter_versions = Gauge(
            "papertrans_adapter_versions", "Registered versions per adapter", ["adapter"], registry=r
        )
        self.adapter_active = Gauge(
            "papertrans_adapter_active_version", "Active version per adapter (0 = none)", ["adapter"], registry=r
        )
        self.store_failures = Counter("papertrans_store_failures", "Failed writes to the store", registry=r)
        self.engine_errors = Counter("papertrans_engine_errors", "Engine requests that raised", registry=r)
        self.rejections = Counter(
            "papertrans_rejections", "Requests refused by a limit (429/503 with Retry-After)", ["reason"], registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """ASGI middleware counting requests and latency per route template (not per raw path: bounded labels)."""

        async def wrapped(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            start = time.perf_counter()
            status = [500]

            async def send_wrapper(message: Any) -> None:
                if message["type"] == "http.response.start":
                    status[0] = int(message["status"])
                await send(message)

            try:
                await app(scope, receive, send_wrapper)
            finally:
                route = str(scope.get("path_template") or "unmatched")
                self.requests.labels(scope.get("method", "?"), route, str(status[0])).inc()
                self.latency.labels(route).observe(time.perf_counter() - start)

        return wrapped
