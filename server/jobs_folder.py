"""Jobs in the data folder, run by the one server that owns it (``Settings.job_queue``'s default for a local engine).

The :class:`server.jobs.JobQueue` of a single server: every job runs in a background task of this process. Events go to
``<data_dir>/jobs/<id>.events.jsonl`` as they happen and the job (with its result) to ``<id>.json``, so a client can
reconnect with ``Last-Event-ID`` or fetch the result later, also after a server restart.

Jobs survive a restart: the request is kept in ``<id>.request.json`` until the job finishes, and a job that was queued
or running when the server stopped (SIGTERM, or a crash) is queued again when the server starts (it restarts from its
first segment; its event stream gets a ``requeued`` event). Only a job whose request file is missing is reported as
failed with ``interrupted``.
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
from pathlib import Path
from typing import Any

from papertrans.server.jobs import (
    TERMINAL,
    Job,
    JobQueue,
    check_request,
    failure,
    request_from_json,
    request_json,
    unknown_job,
)
from papertrans.server.metrics import Metrics
from papertrans.server.pipeline import SegmentOutcome
from papertrans.server.translator import TranslateInput, Translator

__all__ = ["MAX_RESTARTS", "FolderJobManager"]

log = logging.getLogger(__name__)
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_RESTARTS = 3  # a job interrupted this many times (e.g. one that crashes the server) is failed, not retried again


class FolderJobManager(JobQueue):
    """Jobs in one folder; owns their tasks, at most ``max_concurrent`` run at once (the rest wait in the queue)."""

    def __init__(self, translator: Translator, folder: Path, metrics: Metrics, max_concurrent: int = 2) -> None:
        self.translator = translator
        self.folder = folder
        self.metrics = metrics
        self._jobs: dict[str, Job] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(max_concurrent)
        self._closing = False

    # -- persistence --------------------------------------------------------------------------------------------
    def _meta_path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.json"

    def _events_path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.events.jsonl"

    def _request_path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.request.json"

    def _save_request(self, job_id: str, req: TranslateInput) -> None:
        tmp = self._request_path(job_id).with_suffix(".tmp")
        tmp.write_text(json.dumps(request_json(req), ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self._request_path(job_id))

    def _read_request(self, job_id: str) -> TranslateInput | None:
        try:
            return request_from_json(json.loads(self._request_path(job_id).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _save(self, job: Job) -> None:
        data = {**job.summary(), "owner": job.owner}
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
        """Queue again every job a previous process left unfinished (call inside the running event loop)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for meta in sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime):
            if meta.name.endswith(".request.json") or not _JOB_ID.match(meta.stem):
                continue
            try:
                data = json.loads(meta.read_text())
            except ValueError:
                continue
            if data.get("status") in TERMINAL:
                continue
            req = self._read_request(meta.stem)
            job = self._load(meta.stem) if req is not None else None
            restarts = sum(e.get("type") == "requeued" for e in job.events) if job is not None else 0
            if req is None or restarts >= MAX_RESTARTS:  # nothing to resume from, or a job that keeps dying with us
                data["status"] = "failed"
                data["error"] = {"error": "interrupted", "detail": f"the server stopped while the job ran "
                                 f"({restarts} restart(s))"}
                meta.write_text(json.dumps(data, ensure_ascii=False))
                self._request_path(meta.stem).unlink(missing_ok=True)
                continue
            assert job is not None
            job.status, job.done, job.total, job.owner = "queued", 0, None, data.get("owner")
            self._jobs[job.id] = job
            self._save(job)
            self._append_event(job, {"type": "requeued", "detail": "the server restarted; the job starts again"})
            self._tasks[job.id] = asyncio.create_task(self._run(job, req), name=f"job-{job.id}")
            log.info("job %s queued again after a restart", job.id)
        self._update_gauges()

    def _load(self, job_id: str) -> Job:
        if not _JOB_ID.match(job_id):
            raise unknown_job(job_id)
        job = self._jobs.get(job_id)
        if job is not None:
            return job
        meta = self._meta_path(job_id)
        if not meta.is_file():
            raise unknown_job(job_id)
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
    def submit(self, req: TranslateInput, owner: str | None = None) -> Job:
        check_request(self.translator, req)
        job = Job(id=uuid.uuid4().hex, owner=owner)
        self._save_request(job.id, req)  # before the job exists on disk: a listed job can always be resumed
        self._jobs[job.id] = job
        self._save(job)
        self._tasks[job.id] = asyncio.create_task(self._run(job, req), name=f"job-{job.id}")
        self._update_gauges()
        return job

    def get(self, job_id: str) -> Job:
        return self._load(job_id)

    # the async face of JobQueue, the routes' interface
    async def create(self, req: TranslateInput, owner: str | None = None) -> Job:
        return self.submit(req, owner)

    async def lookup(self, job_id: str) -> Job:
        return self.get(job_id)

    async def unfinished_count(self, owner: str | None = None) -> int:
        return self.unfinished(owner)

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
            if self._closing:  # shutting down: leave it queued (its request file stays) for the next start
                job.status, job.done, job.total = "queued", 0, None
                self._save(job)
                raise
            job.status, job.error = "failed", {"error": "cancelled", "detail": "the job was cancelled"}
            job.finished_at = time.time()
            self._save(job)
            self._append_event(job, {"type": "error", **job.error})
            raise
        except Exception as exc:
            log.exception("job %s failed", job.id)
            job.error = failure(exc)
            job.status = "failed"
            job.finished_at = time.time()
            self._save(job)
            self._append_event(job, {"type": "error", **job.error})
        finally:
            self._tasks.pop(job.id, None)
            if job.status in TERMINAL:
                self._request_path(job.id).unlink(missing_ok=True)
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

    def unfinished(self, owner: str | None = None) -> int:
        """Queued or running jobs (of ``owner`` when given)."""
        return sum(
            j.status not in TERMINAL and (owner is None or j.owner == owner) for j in self._jobs.values()
        )

    async def close(self) -> None:
        """Stop: unfinished jobs stay queued on disk and run again at the next start."""
        self._closing = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
