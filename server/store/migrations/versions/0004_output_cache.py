"""The output cache: a segment's kept model output by a hash of everything that produced it (server/store/_cache.py).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "output_cache",
        sa.Column("key", sa.String(64), primary_key=True),  # sha256 hex of the key parts
        sa.Column("output", sa.Text, nullable=False),  # masked model output of the kept attempt
        sa.Column("prompt", sa.Text, nullable=False),  # that attempt's prompt
        sa.Column("status", sa.String(32), nullable=False),  # ok | retried | needs_review; answer (a request)
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("model", sa.String(512), nullable=False),
        sa.Column("adapter", sa.String(256)),  # versioned name, NULL = the base model
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_output_cache_created_at", "output_cache", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_output_cache_created_at", "output_cache")
    op.drop_table("output_cache")
