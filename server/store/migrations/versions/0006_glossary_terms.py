"""Glossary terms mined from readers' corrections: the admin's decision (accepted / rejected) per source term.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "glossary_terms",
        sa.Column("source_key", sa.String(500), primary_key=True),  # the term lower-cased, spaces collapsed
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),  # accepted | rejected
        sa.Column("support", sa.Integer, nullable=False),  # corrections that proposed it when it was decided
        sa.Column("who", sa.String(128)),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("glossary_terms")
