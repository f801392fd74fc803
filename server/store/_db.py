"""The store's database: an async SQLAlchemy engine for reads and one for writes (SQLite WAL by default, PostgreSQL
by URL), and sessions that report a database that does not answer as :class:`StoreUnavailable`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from .errors import StoreUnavailable

__all__ = ["Database", "iso", "now", "resolve_url"]

# What a database that does not answer raises: SQLAlchemy's connection errors, and the socket's own (asyncpg raises
# ConnectionRefusedError / OSError on connect without SQLAlchemy wrapping them).
_AWAY = (OperationalError, InterfaceError, PoolTimeout, OSError)


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


def now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite returns naive datetimes; everything is stored in UTC
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


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


@asynccontextmanager
async def _session(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    try:
        async with maker() as session:
            yield session
    except _AWAY as exc:
        raise StoreUnavailable("store_unavailable", "the feedback store is not reachable; retry later") from exc


class Database:
    """The engines and the sessions every repository of the store works through."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        if self.dialect == "sqlite":
            self.engine = _sqlite_engine(url, immediate=False)
            self.write_engine = _sqlite_engine(url, immediate=True)
        else:
            self.engine = create_async_engine(url, pool_pre_ping=True)
            self.write_engine = self.engine
        self._read = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False)

    def read(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session for reads (``async with``); :class:`StoreUnavailable` when the database does not answer."""
        return _session(self._read)

    def write(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session for writes (on SQLite the one writer connection, ``BEGIN IMMEDIATE``)."""
        return _session(self._write)

    async def dispose(self) -> None:
        """Close every pooled connection (the engines stay usable: the next session connects again)."""
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()
