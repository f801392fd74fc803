"""Jobs for long papers: ``POST /jobs``, ``GET /jobs/{id}``, ``GET /jobs/{id}/events`` (server-sent events)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import ServerSentEvent, ServerSentEventMessage

from papertrans.server.access import client_id, require_api_key
from papertrans.server.errors import BadRequest
from papertrans.server.jobs import JobQueue
from papertrans.server.limits import Admission, check_segments
from papertrans.server.routes._schemas import JobCreated, TranslateBody
from papertrans.server.routes.translate import check_input
from papertrans.server.settings import Settings

__all__ = ["JobController"]


class JobController(Controller):
    path = "/jobs"
    tags = ["jobs"]  # Litestar reads these class attributes
    guards = [require_api_key]  # with API keys configured, reading a job needs one too

    @post("/", status_code=202, summary="Start translating a (long) document in the background")
    async def create(
        self,
        data: JSONBody[TranslateBody],
        request: Request[Any, Any, Any],
        jobs: NamedDependency[JobQueue],
        settings: NamedDependency[Settings],
        admission: NamedDependency[Admission],
    ) -> JobCreated:
        req = check_input(data, settings)
        if data.evaluation:
            raise BadRequest("evaluation_not_supported", "evaluation translations go through POST /translate")
        client = client_id(request)
        admission.check_job(client, await jobs.unfinished_count(client), await jobs.unfinished_count())
        await check_segments(req.markdown, settings.limits.max_segments)  # a job too large fails the POST
        job = await jobs.create(req, owner=client)
        return JobCreated(id=job.id, status=job.status)

    @get("/{job_id:str}", summary="Progress, and the result when done")
    async def status(self, job_id: FromPath[str], jobs: NamedDependency[JobQueue]) -> dict[str, Any]:
        return (await jobs.lookup(job_id)).summary()

    @get("/{job_id:str}/events", summary="Server-sent events: one per finished segment, then done/error")
    async def events(
        self,
        job_id: FromPath[str],
        jobs: NamedDependency[JobQueue],
        request: Request[Any, Any, Any],
        after: FromQuery[int | None] = None,
    ) -> ServerSentEvent:
        last = request.headers.get("last-event-id")
        if after is None and last is not None:
            if not last.strip().lstrip("-").isdigit():
                raise BadRequest("invalid_last_event_id", "Last-Event-ID must be an integer")
            after = int(last)
        await jobs.lookup(job_id)  # 404 before the stream starts

        async def stream() -> AsyncIterator[ServerSentEventMessage]:
            async for event in jobs.events(job_id, after if after is not None else -1):
                yield ServerSentEventMessage(
                    data=json.dumps(event, ensure_ascii=False), event=event["type"], id=str(event["seq"])
                )

        return ServerSentEvent(stream())
