"""The feedback store: a small facade over one repository per concern, all on one :class:`Database`.

``Store``'s methods are what the server, the exporter and rl call; each delegates to the repository of its concern
(:mod:`._translations`, :mod:`._memory`, :mod:`._cache`, :mod:`._idempotency`, :mod:`._feedback`,
:mod:`._comparisons`, :mod:`._stats`), which are also reachable as attributes (``store.translations`` ...).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from . import _migrate
from ._cache import CachedOutput, OutputCacheTable
from ._comparisons import Comparisons
from ._db import Database, resolve_url
from ._feedback import FeedbackWrites
from ._idempotency import Idempotency, WriteAction, WriteResult
from ._memory import Memory
from ._models import Segment, Translation
from ._records import TranslationRecord
from ._stats import FeedbackStats
from ._translations import Translations

__all__ = ["Store", "open_store"]

log = logging.getLogger(__name__)


class Store:
    """Async access to translations, segments, feedback, comparisons, translation memory, the output cache and
    statistics."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.url = url
        self.dialect = self.db.dialect
        self.translations = Translations(self.db)
        self.memory_table = Memory(self.db)
        self.output_cache = OutputCacheTable(self.db)
        self.idempotency = Idempotency(self.db)
        self.feedback = FeedbackWrites(self.idempotency)
        self.comparisons = Comparisons(self.idempotency)
        self.stats = FeedbackStats(self.db)

    # -- lifecycle and health -------------------------------------------------------------------------------------

    async def migrate(self) -> None:
        await _migrate.upgrade(self.db.write_engine)

    async def close(self) -> None:
        backlog = self.translations.backlog
        if backlog:
            await self.translations.flush_backlog()
        if backlog:
            log.error("store: %d translation record(s) could not be written before closing", len(backlog))
        await self.db.dispose()

    async def health(self) -> dict[str, Any]:
        """``ok`` is False when the database does not answer; write failures since start are reported too."""
        tr = self.translations
        info: dict[str, Any] = {
            "dialect": self.dialect,
            "write_failures": tr.write_failures,
            "last_error": tr.last_error,
            "schema_head": _migrate.HEAD,
        }
        try:
            info["schema_version"] = await _migrate.current_version(self.db.engine)
            info["ok"] = info["schema_version"] == _migrate.HEAD
        except Exception as exc:  # health must report, never raise
            info["ok"] = False
            info["error"] = f"{type(exc).__name__}: {exc}"
        if info["ok"] and tr.backlog:
            await tr.flush_backlog()
        info["backlog"] = len(tr.backlog)
        info["backlog_dropped"] = tr.backlog_dropped
        return info

    # the translate path's failure accounting lives with the translations; these keep the attributes callers use
    @property
    def write_failures(self) -> int:
        return self.translations.write_failures

    @property
    def last_error(self) -> str | None:
        return self.translations.last_error

    @property
    def on_write_failure(self) -> Callable[[], None] | None:
        return self.translations.on_write_failure

    @on_write_failure.setter
    def on_write_failure(self, callback: Callable[[], None] | None) -> None:
        self.translations.on_write_failure = callback

    # -- delegation -------------------------------------------------------------------------------------------------

    async def flush_backlog(self) -> int:
        return await self.translations.flush_backlog()

    async def record_translation(self, rec: TranslationRecord) -> None:
        await self.translations.record(rec)

    async def get_translation(self, translation_id: str) -> dict[str, Any]:
        return await self.translations.get(translation_id)

    async def get_segment(self, translation_id: str, segment_id: str) -> tuple[Translation, Segment]:
        return await self.translations.segment(translation_id, segment_id)

    async def memory(self, sources: Sequence[str], glossary_version: str | None) -> dict[str, str]:
        """Translation memory: accepted corrections by masked source (see :meth:`Memory.lookup`)."""
        return await self.memory_table.lookup(sources, glossary_version)

    async def cached_outputs(self, keys: Sequence[str]) -> dict[str, CachedOutput]:
        """The output cache: kept outputs by key (see :meth:`OutputCacheTable.get`)."""
        return await self.output_cache.get(keys)

    async def cache_outputs(
        self, entries: Sequence[tuple[str, CachedOutput]], *, model: str, adapter: str | None
    ) -> int:
        return await self.output_cache.put(entries, model=model, adapter=adapter)

    async def idempotent_write(self, scope: str, key: str | None, req_hash: str, action: WriteAction) -> WriteResult:
        return await self.idempotency.write(scope, key, req_hash, action)

    async def replay(self, scope: str, key: str | None, req_hash: str) -> dict[str, Any] | None:
        return await self.idempotency.replay(scope, key, req_hash)

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
        return await self.feedback.add(
            translation_id=translation_id,
            segment_id=segment_id,
            rating=rating,
            correction=correction,
            correction_masked=correction_masked,
            comment=comment,
            who=who,
            idempotency_key=idempotency_key,
            req_hash=req_hash,
        )

    async def add_comparison(
        self, values: dict[str, Any], *, who: str | None, idempotency_key: str | None, req_hash: str
    ) -> WriteResult:
        return await self.comparisons.add(values, who=who, idempotency_key=idempotency_key, req_hash=req_hash)

    async def choose(
        self, comparison_id: str, choice: str, *, who: str | None, idempotency_key: str | None, req_hash: str
    ) -> WriteResult:
        return await self.comparisons.choose(
            comparison_id, choice, who=who, idempotency_key=idempotency_key, req_hash=req_hash
        )

    async def feedback_stats(self) -> dict[str, Any]:
        return await self.stats.compute()

    # -- sessions for the store's other tables (jobs, adapter registry) and the exporter --------------------------

    def read_session(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self.db.read()

    def write_session(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self.db.write()


async def open_store(settings: Any) -> Store:
    """Open (and migrate) the store that ``settings`` names: ``settings.store.url`` or SQLite in ``data_dir``."""
    store = Store(resolve_url(settings.store.url, Path(settings.data_dir)))
    try:
        await store.migrate()
    except Exception:
        await store.close()
        raise
    return store
