"""Jobs in the database, shared by the replicas of a fleet: any replica runs, resumes and streams them
(``Settings.job_queue``; default when the engine is a pool of ``vllm serve`` endpoints).

The same :class:`server.jobs.JobQueue` and events as :class:`server.jobs_folder.FolderJobManager` (``started``, one
``segment`` per finished segment, ``done`` or ``error``), with these differences:

- ``POST /jobs`` writes the job (with its request) to the store and returns; every replica's runner claims queued jobs
  (:meth:`server.store.JobTable.claim`), at most ``max_concurrent`` at a time per replica;
- the runner holds a lease and renews it every third of ``lease_s``; a replica that dies (``kill -9``) stops renewing,
  and after ``lease_s`` another replica claims the job and resumes it: the segments finished before are reused from the
  store (``job_segments``), not translated again; its stream gets a ``resumed`` event (with ``done``/``total``);
- every finished segment is written with its event in one transaction, so what a client saw is what a resume keeps;
- events are read from the store, so ``GET /jobs/{id}/events`` works on any replica (polled every ``poll_s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict
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
from papertrans.server.store import Claim, JobTable, LeaseLost
from papertrans.server.translator import TranslateInput, Translator

__all__ = ["DatabaseJobManager"]

log = logging.getLogger(__name__)


class DatabaseJobManager(JobQueue):
    """Jobs in the store's database; this replica runs some of them."""

    def __init__(
        self,
        translator: Translator,
        table: JobTable,
        metrics: Metrics,
        max_concurrent: int = 2,
        *,
        lease_s: float = 15.0,
        poll_s: float = 0.5,
        replica: str | None = None,
    ) -> None:
        self.translator = translator
        self.table = table
        self.metrics = metrics
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.replica = replica or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._slots = asyncio.Semaphore(max_concurrent)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._runner: asyncio.Task[None] | None = None
        self._queued = 0
        self._release_on_close = True

    # -- API ----------------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start claiming jobs (call inside the running event loop)."""
        self._runner = asyncio.create_task(self._claim_forever(), name=f"jobs-{self.replica}")

    async def create(self, req: TranslateInput, owner: str | None = None) -> Job:
        check_request(self.translator, req)
        job = Job(id=uuid.uuid4().hex, owner=owner)
        job.created_at = await self.table.insert(job.id, owner, request_json(req))
        self._queued += 1
        return job

    async def lookup(self, job_id: str) -> Job:
        row = await self.table.get(job_id)
        if row is None:
            raise unknown_job(job_id)
        return Job(
            id=row["id"],
            status=row["status"],
            created_at=row["created_at"],
            finished_at=row["finished_at"],
            total=row["total"],
            done=row["done"],
            error=row["error"],
            result=row["result"],
            owner=row["owner"],
        )

    async def unfinished_count(self, owner: str | None = None) -> int:
        return await self.table.unfinished(owner)

    def queued(self) -> int:
        """Queued jobs of the fleet, as of this replica's last look."""
        return self._queued

    async def events(self, job_id: str, after: int = -1) -> AsyncIterator[dict[str, Any]]:
        """Every event with ``seq > after``, then new ones as any replica writes them, until the final event."""
        seq = after
        while True:
            events = await self.table.events(job_id, seq)
            for event in events:
                seq = int(event["seq"])
                yield event
                if event["type"] in ("done", "error"):
                    return
            if not events:
                job = await self.lookup(job_id)
                if job.status in TERMINAL and not await self.table.events(job_id, seq):
                    return
                await asyncio.sleep(self.poll_s)

    async def close(self, *, release: bool = True) -> None:
        """Stop: running jobs go back to the queue (``release``) for any replica, finished segments kept.
        ``release=False`` leaves them leased, as a replica that dies does (tests)."""
        self._release_on_close = release
        if self._runner is not None:
            self._runner.cancel()
        tasks = [*self._tasks.values(), *([self._runner] if self._runner else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- running ------------------------------------------------------------------------------------------------
    async def _claim_forever(self) -> None:
        while True:
            await self._slots.acquire()
            claim: Claim | None = None
            try:
                claim = await self.table.claim(self.replica, self.lease_s)
                self._queued = await self.table.queued()
            except Exception as exc:  # the database may be away for a while: try again later
                log.warning("job claim failed: %s", exc)
            if claim is None:
                self._slots.release()
                await asyncio.sleep(self.poll_s)
                continue
            task = asyncio.create_task(self._run(claim), name=f"job-{claim.job_id}")
            self._tasks[claim.job_id] = task
            task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._tasks = {jid: t for jid, t in self._tasks.items() if t is not task}
        self._slots.release()

    async def _heartbeat(self, job_id: str, run: asyncio.Task[Any]) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self.table.renew(job_id, self.replica, self.lease_s)
            except LeaseLost:
                log.warning("job %s: lease lost (another replica took it); stopping here", job_id)
                run.cancel()
                return
            except Exception as exc:  # a missed renewal is retried; the lease has slack
                log.warning("job %s: lease renewal failed: %s", job_id, exc)

    async def _run(self, claim: Claim) -> None:
        job_id, lost = claim.job_id, False
        req = request_from_json(claim.request)
        done = {sid: SegmentOutcome(**o) for sid, o in claim.segments.items()}
        writes: asyncio.Queue[tuple[dict[str, Any], Any, Any]] = asyncio.Queue()
        counter: dict[str, int | None] = {"total": claim.total}
        finished = len(done)
        this = asyncio.current_task()
        assert this is not None
        beat = asyncio.create_task(self._heartbeat(job_id, this))

        async def writer() -> None:  # pipeline callbacks are synchronous: their writes go through here, in order
            nonlocal lost
            while True:
                event, segment, progress = await writes.get()
                try:
                    await self.table.append(job_id, self.replica, event, segment=segment, progress=progress)
                except LeaseLost:
                    lost = True
                    this.cancel()
                finally:
                    writes.task_done()

        write_task = asyncio.create_task(writer())

        def on_start(total: int) -> None:
            counter["total"] = total
            if not done:
                writes.put_nowait(({"type": "started", "total": total}, None, {"total": total}))

        def on_segment(outcome: SegmentOutcome) -> None:
            nonlocal finished
            finished += 1
            event = {"type": "segment", "done": finished, "total": counter["total"], "segment": outcome.public()}
            writes.put_nowait((event, (outcome.id, asdict(outcome)), {"done": finished}))

        try:
            if claim.resumed or done:
                detail = f"another replica stopped; {len(done)} finished segment(s) kept"
                resumed = {"type": "resumed", "done": len(done), "total": claim.total, "detail": detail}
                await self.table.append(job_id, self.replica, resumed)
            result = await self.translator.run(
                req, on_segment=on_segment, on_start=on_start, translation_id=job_id, done=done
            )
            await writes.join()
            end = {"type": "done", "translation_id": result.translation_id, "stats": result.stats}
            await self.table.finish(job_id, self.replica, "done", end, result=result.public(), done=finished)
        except LeaseLost:
            log.warning("job %s: lease lost; another replica finishes it", job_id)
        except asyncio.CancelledError:
            if not lost and self._release_on_close:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.table.release(job_id, self.replica))
            raise
        except Exception as exc:
            log.exception("job %s failed", job_id)
            error = failure(exc)
            with contextlib.suppress(LeaseLost):
                await writes.join()
                await self.table.finish(job_id, self.replica, "failed", {"type": "error", **error}, error=error)
        finally:
            beat.cancel()
            write_task.cancel()

