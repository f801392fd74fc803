"""The store itself: migrations on open, recording translations, failures counted instead of raised."""

from __future__ import annotations

from pathlib import Path

import pytest

from papertrans.server.settings import Settings
from papertrans.server.store import SCHEMA_HEAD as HEAD
from papertrans.server.store import RecordNotFound, Store, StoreConflict, open_store

from .conftest import make_record

VERSIONS = Path(__file__).resolve().parents[2] / "server" / "store" / "migrations" / "versions"


def _newest_revision() -> str:
    """The highest numbered migration script (``NNNN_name.py``): the head every store is migrated to."""
    return max(p.name[:4] for p in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))


async def test_open_migrates_and_reopens(settings: Settings) -> None:
    st = await open_store(settings)
    health = await st.health()
    await st.close()
    assert health["ok"] is True
    assert health["schema_version"] == HEAD == _newest_revision()
    again = await open_store(settings)  # migrating a migrated database is a no-op
    assert (await again.health())["schema_version"] == HEAD
    await again.close()


async def test_sqlite_is_wal_with_full_sync(tmp_path: Path) -> None:
    st = await open_store(Settings(data_dir=tmp_path))
    async with st.read_session() as session:
        mode = (await session.execute(__import__("sqlalchemy").text("PRAGMA journal_mode"))).scalar()
        sync = (await session.execute(__import__("sqlalchemy").text("PRAGMA synchronous"))).scalar()
    await st.close()
    assert (tmp_path / "papertrans.db").exists()
    assert mode == "wal"
    assert sync == 2  # FULL


async def test_record_translation_round_trip(store: Store) -> None:
    rec = make_record("t-1", adapter="d2l", version=3)
    await store.record_translation(rec)
    await store.record_translation(rec)  # a retried request: the first write stands, no error, no duplicate
    got = await store.get_translation("t-1")
    assert store.write_failures == 0
    assert got["adapter"] == "d2l" and got["adapter_version"] == 3
    assert [s["segment_id"] for s in got["segments"]] == ["s0", "s1"]
    seg = got["segments"][0]
    assert seg["source"] == rec.segments[0].source
    assert seg["source_restored"] == "Attention $x$ number 0 :cite:`Bahdanau.2014`."
    assert seg["placeholders"] == rec.segments[0].placeholders


async def test_unknown_translation_is_not_found(store: Store) -> None:
    with pytest.raises(RecordNotFound) as info:
        await store.get_translation("nope")
    assert info.value.code == "unknown_translation"


async def test_store_failure_is_counted_not_raised(store: Store) -> None:
    failures: list[int] = []
    store.on_write_failure = lambda: failures.append(1)
    bad = make_record("t-bad")
    bad.segments[1].segment_id = bad.segments[0].segment_id  # violates the unique (translation, segment) key
    await store.record_translation(bad)  # must not raise into the request
    health = await store.health()
    assert store.write_failures == 1 and failures == [1]
    assert health["write_failures"] == 1 and "t-bad" in health["last_error"]
    with pytest.raises(RecordNotFound):  # and nothing half-written
        await store.get_translation("t-bad")


async def test_writes_answer_with_their_body_and_replays(store: Store) -> None:
    rec = make_record("t-w")
    await store.record_translation(rec)
    fb = {"translation_id": "t-w", "segment_id": "s0", "rating": "up", "correction": None, "correction_masked": None,
          "comment": None, "who": None, "req_hash": "h1"}
    first = await store.add_feedback(**fb, idempotency_key="k")
    again = await store.add_feedback(**fb, idempotency_key="k")
    assert not first.replayed and again.replayed and again.body == first.body and first.body["stored"]
    with pytest.raises(StoreConflict) as info:  # the same key with another body
        await store.add_feedback(**{**fb, "req_hash": "h2"}, idempotency_key="k")
    assert info.value.code == "idempotency_key_reused"
    with pytest.raises(RecordNotFound):
        await store.choose("no-such", "a", who=None, idempotency_key=None, req_hash="h")
