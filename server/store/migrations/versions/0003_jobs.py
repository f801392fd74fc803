"""Background jobs in the store (for a fleet): the job with its request and lease, its events, its finished segments.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),  # queued | running | done | failed
        sa.Column("owner", sa.String(256)),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Column("total", sa.Integer),
        sa.Column("done", sa.Integer, nullable=False),
        sa.Column("error", sa.JSON),
        sa.Column("result", sa.JSON),
        sa.Column("request", sa.JSON),  # dropped when the job ends
        sa.Column("lease_owner", sa.String(128)),  # the replica running it
        sa.Column("lease_until", sa.Float),  # it renews this while it runs; past it, any replica may take the job
    )
    op.create_index("ix_jobs_status_created", "jobs", ["status", "created_at"])
    op.create_table(
        "job_events",
        sa.Column("job_id", sa.String(64), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("body", sa.JSON, nullable=False),
    )
    op.create_table(
        "job_segments",
        sa.Column("job_id", sa.String(64), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("segment_id", sa.String(64), primary_key=True),
        sa.Column("outcome", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("job_segments")
    op.drop_table("job_events")
    op.drop_index("ix_jobs_status_created", "jobs")
    op.drop_table("jobs")
