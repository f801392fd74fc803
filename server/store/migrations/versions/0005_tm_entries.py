"""Imported translation memory: entries read from TMX files, masked by protect like the segments they answer.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tm_entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source_hash", sa.String(64), nullable=False, unique=True),  # sha256 hex of the masked source
        sa.Column("source", sa.Text, nullable=False),  # masked, exactly as protect masks that text
        sa.Column("target", sa.Text, nullable=False),  # masked with the source's placeholders
        sa.Column("placeholders", sa.JSON, nullable=False),  # placeholder -> protected text (for export, display)
        sa.Column("length", sa.Integer, nullable=False),  # len(source): the fuzzy matcher's length band
        sa.Column("origin", sa.String(256)),  # what the import named (file name, label)
        sa.Column("created", sa.String(32)),  # the TMX creationdate as given
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_tm_entries_length", "tm_entries", ["length"])


def downgrade() -> None:
    op.drop_index("ix_tm_entries_length", "tm_entries")
    op.drop_table("tm_entries")
