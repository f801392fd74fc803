"""The feedback store: one object over an async SQLAlchemy engine (SQLite WAL by default, PostgreSQL by URL)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from papertrans import protect

from . import _migrate
from ._models import Comparison, Feedback, IdempotencyEntry, Segment, Translation
from ._records import TranslationRecord
from .errors import RecordNotFound, StoreConflict

__all__ = ["Store", "WriteResult", "open_store", "resolve_url"]

log = logging.getLogger(__name__)

# An idempotent write: runs inside the write transaction, returns the response body to remember.
WriteAction = Callable[[AsyncSession], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class WriteResult:
    """What an idempotent write answers: its body, and whether it is the remembered answer to an earlier request."""

    body: dict[str, Any]
    replayed: bool = False


def resolve_url(url: str | None, data_dir: Path) -> str:
    """The async SQLAlchemy URL: the configured one (driver added if missing) or SQLite in ``data_dir``."""
    if not url:
        data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(data_dir / 'papertrans.db').resolve()}"
    parsed = make_url(url)
    driver = {"postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}
    if parsed.drivername in driver:
        parsed = parsed.set(drivername=driver[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


def _sqlite_engine(url: str, *, immediate: bool) -> AsyncEngine:
    # One writer connection: writes queue in-process instead of fighting over SQLite's lock.
    pool = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 60} if immediate else {}
    engine = create_async_engine(url, **pool)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so that BEGIN is ours (see the "begin" hook).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")  # an acknowledged commit is on disk, not only in the OS cache
        cur.execute("PRAGMA busy_timeout=15000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: a read-then-write transaction (idempotency check, then insert)
        # can then never fail with SQLITE_BUSY when another process wrote in between.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite returns naive datetimes; everything is stored in UTC
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def request_hash(payload: dict[str, Any]) -> str:
    """A stable hash of a request body, so that a reused Idempotency-Key with another body is caught."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def adapter_label(adapter: str | None, version: int | None) -> str:
    if not adapter:
        return "base"
    return f"{adapter}@{version}" if version is not None else adapter


class Store:
    """Async access to translations, segments, feedback and comparisons."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        if self.dialect == "sqlite":
            self._engine = _sqlite_engine(url, immediate=False)
            self._write_engine = _sqlite_engine(url, immediate=True)
        else:
            self._engine = create_async_engine(url, pool_pre_ping=True)
            self._write_engine = self._engine
        self._read = async_sessionmaker(self._engine, expire_on_commit=False)
        self._write = async_sessionmaker(self._write_engine, expire_on_commit=False)
        self.write_failures = 0
        self.last_error: str | None = None
        # Set by the app to count failures in its own metrics registry.
        self.on_write_failure: Callable[[], None] | None = None
        # Translations that could not be recorded (database away): written, oldest first, once it answers again.
        # Bounded: beyond it the oldest are dropped and counted in ``backlog_dropped``.
        self._backlog: deque[TranslationRecord] = deque()
        self.backlog_max = 10_000
        self.backlog_dropped = 0

    async def migrate(self) -> None:
        await _migrate.upgrade(self._write_engine)

    async def close(self) -> None:
        if self._backlog:
            await self.flush_backlog()
        if self._backlog:
            log.error("store: %d translation record(s) could not be written before closing", len(self._backlog))
        await self._engine.dispose()
        if self._write_engine is not self._engine:
            await self._write_engine.dispose()

    async def health(self) -> dict[str, Any]:
        """``ok`` is False when the database does not answer; write failures since start are reported too."""
        info: dict[str, Any] = {
            "dialect": self.dialect,
            "write_failures": self.write_failures,
            "last_error": self.last_error,
            "schema_head": _migrate.HEAD,
        }
        try:
            info["schema_version"] = await _migrate.current_version(self._engine)
            info["ok"] = info["schema_version"] == _migrate.HEAD
        except Exception as exc:  # noqa: BLE001 - health must report, never raise
            info["ok"] = False
            info["error"] = f"{type(exc).__name__}: {exc}"
        if info["ok"] and self._backlog:
            await self.flush_backlog()
        info["backlog"] = len(self._backlog)
        info["backlog_dropped"] = self.backlog_dropped
        return info

    async def flush_backlog(self) -> int:
        """Write the translations kept while the database was away (oldest first); stops at the first failure."""
        written = 0
        while self._backlog:
            rec = self._backlog[0]
            try:
                await self._insert_translation(rec)
            except IntegrityError:
                if not await self._translation_exists(rec.id):
                    return written
            except Exception:  # noqa: BLE001 - still away: keep them for the next try
                return written
            self._backlog.popleft()
            written += 1
        if written:
            log.info("store: wrote %d translation(s) kept while the database was away", written)
        return written

    # -- the translate path -------------------------------------------------------------------------------------

    async def record_translation(self, rec: TranslationRecord) -> None:
        """Write one translation with its segments; never raises (failures are counted and shown in health)."""
        error: Exception | None = None
        for attempt in range(2):
            try:
                await self._insert_translation(rec)
                if self._backlog:  # the database is back: write what waited
                    await self.flush_backlog()
                return
            except Exception as exc:  # noqa: BLE001 - a store failure must not fail the translation
                # The same id twice (a retried request) is fine: the first write stands.
                if isinstance(exc, IntegrityError) and await self._translation_exists(rec.id):
                    return
                error = exc
            if attempt == 0:
                await asyncio.sleep(0.2)  # one retry: a transient lock or connection drop
        self.write_failures += 1
        self.last_error = f"record_translation {rec.id}: {type(error).__name__}: {error}"
        if len(self._backlog) >= self.backlog_max:
            self._backlog.popleft()
            self.backlog_dropped += 1
        self._backlog.append(rec)  # kept in memory; written when the database answers again
        if self.on_write_failure is not None:
            self.on_write_failure()  # e.g. the app's metrics counter (papertrans_store_failures)
        log.error("store: could not record translation %s: %s", rec.id, error)

    async def _translation_exists(self, translation_id: str) -> bool:
        try:
            async with self._read() as session:
                return (await session.get(Translation, translation_id)) is not None
        except Exception:  # noqa: BLE001 - only used to classify a failure
            return False

    async def _insert_translation(self, rec: TranslationRecord) -> None:
        async with self._write() as session, session.begin():
            session.add(
                Translation(
                    id=rec.id,
                    doc_hash=rec.doc_hash,
                    model=rec.model,
                    adapter=rec.adapter,
                    adapter_version=int(rec.adapter_version) if rec.adapter_version is not None else None,
                    prompt_template_version=rec.prompt_template_version,
                    glossary_version=rec.glossary_version,
                    settings=json.loads(json.dumps(rec.settings, default=str)),
                    created_at=rec.created_at,
                )
            )
            await session.flush()  # parent row first: PostgreSQL checks the foreign key per statement
            session.add_all(
                Segment(
                    translation_id=rec.id,
                    segment_id=s.segment_id,
                    position=i,
                    source=s.source,
                    prompt=s.prompt,
                    output=s.output,
                    translation=s.translation,
                    status=s.status,
                    reasons=list(s.reasons),
                    placeholders=dict(s.placeholders),
                )
                for i, s in enumerate(rec.segments)
            )

    # -- reads ----------------------------------------------------------------------------------------------------

    async def get_translation(self, translation_id: str) -> dict[str, Any]:
        async with self._read() as session:
            tr = await session.get(Translation, translation_id)
            if tr is None:
                raise RecordNotFound("unknown_translation", f"no translation {translation_id!r}")
            segs = (
                await session.scalars(
                    select(Segment).where(Segment.translation_id == translation_id).order_by(Segment.position)
                )
            ).all()
            fb = (
                await session.scalars(
                    select(Feedback).where(Feedback.translation_id == translation_id).order_by(Feedback.id)
                )
            ).all()
        by_segment: dict[str, list[dict[str, Any]]] = {}
        for f in fb:
            by_segment.setdefault(f.segment_id, []).append(
                {
                    "id": f.id,
                    "rating": f.rating,
                    "correction": f.correction,
                    "comment": f.comment,
                    "created_at": _iso(f.created_at),
                }
            )
        return {
            "id": tr.id,
            "doc_hash": tr.doc_hash,
            "model": tr.model,
            "adapter": tr.adapter,
            "adapter_version": tr.adapter_version,
            "prompt_template_version": tr.prompt_template_version,
            "glossary_version": tr.glossary_version,
            "settings": tr.settings,
            "created_at": _iso(tr.created_at),
            "segments": [
                {
                    "segment_id": s.segment_id,
                    "source": s.source,
                    "source_restored": protect.unmask(s.source, s.placeholders),
                    "translation": s.translation,
                    "output": s.output,
                    "status": s.status,
                    "reasons": s.reasons,
                    "placeholders": s.placeholders,
                    "feedback": by_segment.get(s.segment_id, []),
                }
                for s in segs
            ],
        }

    async def memory(self, sources: Sequence[str], glossary_version: str | None) -> dict[str, str]:
        """Translation memory: for each masked source, the newest accepted correction (masked) of a stored segment
        with exactly that source, translated under the same glossary version (None matches None)."""
        wanted = sorted(set(sources))
        found: dict[str, tuple[datetime, int, str]] = {}
        same_glossary = (
            Translation.glossary_version.is_(None)
            if glossary_version is None
            else Translation.glossary_version == glossary_version
        )
        async with self._read() as session:
            for start in range(0, len(wanted), 500):  # bounded IN lists (SQLite's variable limit)
                stmt = (
                    select(Segment.source, Feedback.correction_masked, Feedback.created_at, Feedback.id)
                    .join(Feedback, (Feedback.translation_id == Segment.translation_id)
                          & (Feedback.segment_id == Segment.segment_id))
                    .join(Translation, Translation.id == Segment.translation_id)
                    .where(Segment.source.in_(wanted[start : start + 500]), Feedback.correction_masked.is_not(None),
                           same_glossary)
                )
                for source, correction, created, fid in (await session.execute(stmt)).all():
                    if correction is not None and (source not in found or (created, fid) > found[source][:2]):
                        found[source] = (created, fid, correction)
        return {source: entry[2] for source, entry in found.items()}

    async def get_segment(self, translation_id: str, segment_id: str) -> tuple[Translation, Segment]:
        async with self._read() as session:
            tr = await session.get(Translation, translation_id)
            if tr is None:
                raise RecordNotFound("unknown_translation", f"no translation {translation_id!r}")
            seg = await session.scalar(
                select(Segment).where(Segment.translation_id == translation_id, Segment.segment_id == segment_id)
            )
            if seg is None:
                raise RecordNotFound("unknown_segment", f"translation {translation_id!r} has no segment {segment_id!r}")
            return tr, seg

    # -- idempotent writes ----------------------------------------------------------------------------------------

    async def idempotent_write(
        self, scope: str, key: str | None, req_hash: str, action: WriteAction
    ) -> WriteResult:
        """Run ``action`` once per (scope, key): the write and the remembered response commit together.

        A key reused with a different request body raises :class:`StoreConflict`.
        """
        for _ in range(3):
            try:
                async with self._write() as session, session.begin():
                    if key is not None:
                        prior = await session.get(IdempotencyEntry, (scope, key))
                        if prior is not None:
                            if prior.request_hash != req_hash:
                                raise StoreConflict(
                                    "idempotency_key_reused",
                                    "this Idempotency-Key was used with a different request body",
                                )
                            return WriteResult(prior.response, replayed=True)
                    body = await action(session)
                    if key is not None:
                        session.add(
                            IdempotencyEntry(
                                scope=scope,
                                key=key,
                                request_hash=req_hash,
                                status_code=0,  # legacy column (schema 0001): the API decides the status
                                response=body,
                                created_at=_now(),
                            )
                        )
                return WriteResult(body)
            except IntegrityError:
                # A concurrent request with the same key committed first (PostgreSQL): our transaction rolled back
                # as a whole, so loop and replay its response.
                if key is None:
                    raise
        raise StoreConflict("idempotency_conflict", "concurrent requests with the same Idempotency-Key")

    async def replay(self, scope: str, key: str | None, req_hash: str) -> dict[str, Any] | None:
        """The remembered response body for (scope, key), if any (:class:`StoreConflict` when the key came with
        another body)."""
        if key is None:
            return None
        async with self._read() as session:
            prior = await session.get(IdempotencyEntry, (scope, key))
        if prior is None:
            return None
        if prior.request_hash != req_hash:
            raise StoreConflict("idempotency_key_reused", "this Idempotency-Key was used with a different request body")
        return prior.response

    async def add_feedback(
        self,
        *,
        translation_id: str,
        segment_id: str,
        rating: str | None,
        correction: str | None,
        correction_masked: str | None,
        comment: str | None,
        who: str | None,
        idempotency_key: str | None,
        req_hash: str,
    ) -> WriteResult:
        async def action(session: AsyncSession) -> dict[str, Any]:
            row = Feedback(
                translation_id=translation_id,
                segment_id=segment_id,
                rating=rating,
                correction=correction,
                correction_masked=correction_masked,
                comment=comment,
                who=who,
                created_at=_now(),
            )
            session.add(row)
            await session.flush()
            return {"id": row.id, "translation_id": translation_id, "segment_id": segment_id, "stored": True}

        return await self.idempotent_write("feedback", idempotency_key, req_hash, action)

    async def add_comparison(
        self, values: dict[str, Any], *, who: str | None, idempotency_key: str | None, req_hash: str
    ) -> WriteResult:
        async def action(session: AsyncSession) -> dict[str, Any]:
            row = Comparison(id=uuid.uuid4().hex, who=who, created_at=_now(), **values)
            session.add(row)
            await session.flush()
            return comparison_view(row)

        return await self.idempotent_write("comparison", idempotency_key, req_hash, action)

    async def choose(
        self, comparison_id: str, choice: str, *, who: str | None, idempotency_key: str | None, req_hash: str
    ) -> WriteResult:
        async def action(session: AsyncSession) -> dict[str, Any]:
            row = await session.get(Comparison, comparison_id)
            if row is None:
                raise RecordNotFound("unknown_comparison", f"no comparison {comparison_id!r}")
            if row.choice is not None and row.choice != choice:
                raise StoreConflict("already_chosen", f"comparison {comparison_id!r} already has choice {row.choice!r}")
            row.choice = choice
            row.chosen_at = row.chosen_at or _now()
            if who:
                row.who = who
            return {"id": row.id, "choice": choice, "a": row.a_label, "b": row.b_label}

        # The body alone does not name the comparison (it is in the path): hash both, keeping the column's 64 chars.
        scoped = request_hash({"comparison_id": comparison_id, "body": req_hash})
        return await self.idempotent_write("choice", idempotency_key, scoped, action)

    # -- statistics -------------------------------------------------------------------------------------------------

    async def feedback_stats(self) -> dict[str, Any]:
        """Counts, thumbs ratio and GSB win rate per adapter version (``base`` = no adapter)."""
        async with self._read() as session:
            fb_rows = (
                await session.execute(
                    select(
                        Translation.adapter,
                        Translation.adapter_version,
                        Feedback.rating,
                        func.count(Feedback.correction),
                        func.count(Feedback.comment),
                        func.count(),
                    )
                    .join(Translation, Translation.id == Feedback.translation_id)
                    .group_by(Translation.adapter, Translation.adapter_version, Feedback.rating)
                )
            ).all()
            cmp_rows = (
                await session.execute(
                    select(Comparison.a_label, Comparison.b_label, Comparison.choice, func.count())
                    .where(Comparison.choice.is_not(None))
                    .group_by(Comparison.a_label, Comparison.b_label, Comparison.choice)
                )
            ).all()
            n_translations = await session.scalar(select(func.count()).select_from(Translation))
            n_comparisons = await session.scalar(select(func.count()).select_from(Comparison))
        per: dict[str, dict[str, Any]] = {}

        def slot(label: str) -> dict[str, Any]:
            return per.setdefault(
                label,
                {"up": 0, "down": 0, "corrections": 0, "comments": 0, "feedback": 0, "good": 0, "same": 0, "bad": 0},
            )

        for adapter, version, rating, n_corr, n_comment, n in fb_rows:
            s = slot(adapter_label(adapter, version))
            if rating in ("up", "down"):
                s[rating] += n
            s["corrections"] += n_corr
            s["comments"] += n_comment
            s["feedback"] += n
        for a_label, b_label, choice, n in cmp_rows:
            if choice == "same":
                slot(a_label)["same"] += n
                slot(b_label)["same"] += n
            else:
                winner, loser = (a_label, b_label) if choice == "a" else (b_label, a_label)
                slot(winner)["good"] += n
                slot(loser)["bad"] += n
        for s in per.values():
            thumbs = s["up"] + s["down"]
            s["thumbs_up_ratio"] = s["up"] / thumbs if thumbs else None
            judged = s["good"] + s["same"] + s["bad"]
            s["comparisons"] = judged
            # GSB: wins over all judgements (ties count half), and the usual (G - B) / (G + S + B).
            s["win_rate"] = (s["good"] + 0.5 * s["same"]) / judged if judged else None
            s["gsb"] = (s["good"] - s["bad"]) / judged if judged else None
        totals = {
            "translations": int(n_translations or 0),
            "feedback": sum(s["feedback"] for s in per.values()),
            "up": sum(s["up"] for s in per.values()),
            "down": sum(s["down"] for s in per.values()),
            "corrections": sum(s["corrections"] for s in per.values()),
            "comparisons": int(n_comparisons or 0),
            "comparisons_judged": sum(n for *_, n in cmp_rows),
        }
        return {"totals": totals, "adapters": per}

    # -- export support -------------------------------------------------------------------------------------------

    def read_session(self) -> AsyncSession:
        return self._read()


def comparison_view(row: Comparison) -> dict[str, Any]:
    """What a reader sees: the two texts in the stored order, without saying which adapter made which."""
    return {
        "id": row.id,
        "translation_id": row.translation_id,
        "segment_id": row.segment_id,
        "a": {"text": row.a_text},
        "b": {"text": row.b_text},
        "choice": row.choice,
    }


async def open_store(settings: Any) -> Store:
    """Open (and migrate) the store that ``settings`` names: ``settings.store.url`` or SQLite in ``data_dir``."""
    url = resolve_url(settings.store.url, Path(settings.data_dir))
    store = Store(url)
    try:
        await store.migrate()
    except Exception:
        await store.close()
        raise
    return store
