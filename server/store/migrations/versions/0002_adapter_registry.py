"""The adapter registry in the store (for a fleet of replicas): versions and, per name, the active one.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "adapter_versions",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("int_id", sa.Integer, nullable=False, unique=True),  # vLLM's LoRA id: unique across the fleet
        sa.Column("folder", sa.String(1024), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "adapter_names",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("active", sa.Integer),
        sa.Column("history", sa.JSON, nullable=False),  # previously active versions, most recent last
    )


def downgrade() -> None:
    op.drop_table("adapter_names")
    op.drop_table("adapter_versions")
