"""Alembic environment: run programmatically by ``server.store._migrate`` on an existing (sync-adapted) connection."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
# render_as_batch lets later migrations ALTER tables on SQLite (copy-and-move) with the same code as on PostgreSQL.
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
