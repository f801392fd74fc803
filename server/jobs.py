"""Background translation jobs for long papers, with progress events that survive a reconnect.

A job runs the same :class:`server.pipeline.Translator` as ``POST /translate`` in a background task. Every finished
segment appends one event (sequential ``id``) and a final ``done``/``error`` event closes the stream. Events go to
``<data_dir>/jobs/<id>.events.jsonl`` as they happen and the job (with its result) to ``<id>.json``, so a client can
reconnect with ``Last-Event-ID`` or fetch the result later, also after a server restart (jobs interrupted by a
restart are reported as failed with ``interrupted``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from papertrans.server.errors import NotFound, PapertransError
from papertrans.server.metrics import Metrics
from papertrans.server.pipeline import SegmentOutcome, TranslateInput, Translator

__all__ = ["Job", "JobManager"]

log = logging.getLogger(__name__)
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
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


class JobManager:
    """Owns the job tasks; at most ``max_concurrent`` run at once (the rest wait in the queue)."""

    def __init__(self, translator: Translator, folder: Path, metrics: Metrics, max_concurrent: int = 2) -> None:
        self.translator = translator
        self.folder = folder
        self.metrics = metrics
        self._jobs: dict[str, Job] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(max_concurrent)

    # -- persistence --------------------------------------------------------------------------------------------
    def _meta_path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.json"

    def _events_path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.events.jsonl"

    def _save(self, job: Job) -> None:
        data = {k: v for k, v in job.summary().items()}
        tmp = self._meta_path(job.id).with_suffix(".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False))
        os.replace(tmp, self._meta_path(job.id))

    def _append_event(self, job: Job, event: dict[str, Any]) -> None:
        event = {"seq": len(job.events), **event}
        job.events.append(event)
        with self._events_path(job.id).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(event, ensure_ascii=False) + "\n")
        job.changed.set()
        job.changed = asyncio.Event()  # waiters of the next change wait on a fresh event

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for meta in self.folder.glob("*.json"):  # a job left running by a previous process will never finish
            try:
                data = json.loads(meta.read_text())
            except ValueError:
                continue
            if data.get("status") not in TERMINAL:
                data["status"] = "failed"
                data["error"] = {"error": "interrupted", "detail": "the server stopped while the job ran"}
                meta.write_text(json.dumps(data, ensure_ascii=False))

    def _load(self, job_id: str) -> Job:
        if not _JOB_ID.match(job_id):
            raise NotFound("unknown_job", f"no job {job_id!r}")
        job = self._jobs.get(job_id)
        if job is not None:
            return job
        meta = self._meta_path(job_id)
        if not meta.is_file():
            raise NotFound("unknown_job", f"no job {job_id!r}")
        data = json.loads(meta.read_text())
        job = Job(
            id=job_id,
            status=data["status"],
            created_at=data["created_at"],
            finished_at=data.get("finished_at"),
            total=data["progress"]["total"],
            done=data["progress"]["done"],
            error=data.get("error"),
            result=data.get("result"),
        )
        events = self._events_path(job_id)
        if events.is_file():
            job.events = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines() if line]
        if job.status in TERMINAL and not (job.events and job.events[-1]["type"] in ("done", "error")):
            job.events.append({"seq": len(job.events), "type": "error", **(job.error or {"error": "interrupted"})})
        return job

    # -- API ----------------------------------------------------------------------------------------------------
    def submit(self, req: TranslateInput) -> Job:
        self.translator.glossary(req.glossary)  # bad input fails the POST, not the job
        if req.adapter is not None:
            self.translator.adapters.lookup(req.adapter)
        job = Job(id=uuid.uuid4().hex)
        self._jobs[job.id] = job
        self._save(job)
        self._tasks[job.id] = asyncio.create_task(self._run(job, req), name=f"job-{job.id}")
        self._update_gauges()
        return job

    def get(self, job_id: str) -> Job:
        return self._load(job_id)

    async def events(self, job_id: str, after: int = -1) -> AsyncIterator[dict[str, Any]]:
        """Every event with ``seq > after``, then new ones as they come, until the final event."""
        job = self._load(job_id)
        seq = after + 1
        while True:
            changed = job.changed
            while seq < len(job.events):
                event = job.events[seq]
                seq += 1
                yield event
                if event["type"] in ("done", "error"):
                    return
            if job.status in TERMINAL and seq >= len(job.events):
                return
            await changed.wait()

    # -- running ------------------------------------------------------------------------------------------------
    async def _run(self, job: Job, req: TranslateInput) -> None:
        try:
            async with self._slots:
                job.status = "running"
                self._update_gauges()
                self._save(job)

                def on_segment(outcome: SegmentOutcome) -> None:
                    job.done += 1
                    self._append_event(
                        job, {"type": "segment", "done": job.done, "total": job.total, "segment": outcome.public()}
                    )

                def on_start(total: int) -> None:
                    job.total = total
                    self._append_event(job, {"type": "started", "total": total})

                result = await self.translator.run(req, on_segment=on_segment, on_start=on_start, translation_id=job.id)
            job.result = result.public()
            job.status = "done"
            job.finished_at = time.time()
            self._save(job)
            self._append_event(job, {"type": "done", "translation_id": result.translation_id, "stats": result.stats})
        except asyncio.CancelledError:
            job.status, job.error = "failed", {"error": "cancelled", "detail": "the server stopped"}
            job.finished_at = time.time()
            self._save(job)
            self._append_event(job, {"type": "error", **job.error})
            raise
        except Exception as exc:
            log.exception("job %s failed", job.id)
            job.error = (
                exc.to_json()
                if isinstance(exc, PapertransError)
                else {"error": "job_failed", "detail": f"{type(exc).__name__}: {exc}"}
            )
            job.status = "failed"
            job.finished_at = time.time()
            self._save(job)
            self._append_event(job, {"type": "error", **job.error})
        finally:
            self._tasks.pop(job.id, None)
            self._forget_old()
            self._update_gauges()

    def _forget_old(self, keep: int = 256) -> None:
        """Finished jobs leave memory (oldest first) once many have piled up; they stay readable from disk."""
        finished = [j for j in self._jobs.values() if j.status in TERMINAL]
        for job in sorted(finished, key=lambda j: j.created_at)[: max(0, len(finished) - keep)]:
            del self._jobs[job.id]

    def _update_gauges(self) -> None:
        counts = {"queued": 0, "running": 0}
        for job in self._jobs.values():
            if job.status in counts:
                counts[job.status] += 1
        for state, n in counts.items():
            self.metrics.jobs.labels(state).set(n)

    def queued(self) -> int:
        return sum(j.status == "queued" for j in self._jobs.values())

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
