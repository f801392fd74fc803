"""The adapter registry's state in the store, so that every replica of a fleet sees the same versions and the same
active one (``server/adapters.py`` keeps it in a JSON file when one server owns its engine).

The state has the shape of that JSON file: ``{"next_id": int, "adapters": {name: {"active", "history",
"versions": [{"name", "version", "int_id", "folder", "created_at"}]}}}``. A save writes one adapter name's rows in one
transaction; two replicas registering the same version (or the same int id) at once collide on the primary/unique
key and the second gets :class:`StoreConflict`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ._store import Store
from .errors import StoreConflict

__all__ = ["AdapterTable"]

_meta = sa.MetaData()
_versions = sa.Table(
    "adapter_versions",
    _meta,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("int_id", sa.Integer, nullable=False, unique=True),
    sa.Column("folder", sa.String(1024), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
_names = sa.Table(
    "adapter_names",
    _meta,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("active", sa.Integer),
    sa.Column("history", sa.JSON, nullable=False),
)


class AdapterTable:
    """Reads and writes the registry state in ``store``'s database (migration 0002)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def load(self) -> dict[str, Any]:
        async with self.store.read_session() as session:
            versions = (await session.execute(sa.select(_versions).order_by(_versions.c.name, _versions.c.version)))
            names = (await session.execute(sa.select(_names))).mappings().all()
            rows = versions.mappings().all()
        adapters: dict[str, Any] = {
            str(n["name"]): {"active": n["active"], "history": list(n["history"] or []), "versions": []} for n in names
        }
        for v in rows:
            item = adapters.setdefault(str(v["name"]), {"active": None, "history": [], "versions": []})
            item["versions"].append(dict(v))
        next_id = max((int(v["int_id"]) for v in rows), default=0) + 1
        return {"next_id": next_id, "adapters": adapters}

    async def save(self, name: str, item: dict[str, Any] | None) -> None:
        """Replace the rows of adapter ``name`` (``None``: it is gone)."""
        try:
            async with self.store.write_session() as session, session.begin():
                await session.execute(sa.delete(_versions).where(_versions.c.name == name))
                await session.execute(sa.delete(_names).where(_names.c.name == name))
                if item is not None:
                    await session.execute(
                        sa.insert(_names), [{"name": name, "active": item["active"], "history": item["history"]}]
                    )
                    if item["versions"]:
                        await session.execute(sa.insert(_versions), [_version_row(v) for v in item["versions"]])
        except IntegrityError as exc:
            raise StoreConflict(
                "adapter_registry_conflict", f"adapter {name!r} changed on another replica at the same time; retry"
            ) from exc


def _version_row(v: dict[str, Any]) -> dict[str, Any]:
    return {k: v[k] for k in ("name", "version", "int_id", "folder", "created_at")}
