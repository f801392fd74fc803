"""Schema migrations: Alembic, driven programmatically on open (no alembic.ini), scripts in ``migrations/``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["HEAD", "current_version", "upgrade"]

_SCRIPTS = Path(__file__).resolve().parent / "migrations"
# Any constant works: it only has to be the same for every process that migrates this database.
_PG_LOCK_ID = 0x7061707472616E73


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    return cfg


HEAD: str = ScriptDirectory.from_config(_config()).get_current_head() or ""


def _upgrade_sync(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Two servers starting at once must not both create the tables; the lock ends with the transaction.
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
    cfg = _config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def _version_sync(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the schema to head inside one transaction (SQLite: BEGIN IMMEDIATE, PostgreSQL: advisory lock)."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade_sync)


async def current_version(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_version_sync)
