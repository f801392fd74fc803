"""Initial schema: translations, segments, feedback, comparisons, idempotency.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "translations",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("doc_hash", sa.String(128), nullable=False),
        sa.Column("model", sa.String(512), nullable=False),
        sa.Column("adapter", sa.String(256)),
        sa.Column("adapter_version", sa.Integer),
        sa.Column("prompt_template_version", sa.String(64), nullable=False),
        sa.Column("glossary_version", sa.String(128)),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index("ix_translations_doc_hash", "translations", ["doc_hash"])
    op.create_index("ix_translations_created_at", "translations", ["created_at"])
    op.create_table(
        "segments",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "translation_id", sa.String(64), sa.ForeignKey("translations.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("segment_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("output", sa.Text, nullable=False),
        sa.Column("translation", sa.Text, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("placeholders", sa.JSON, nullable=False),
        sa.UniqueConstraint("translation_id", "segment_id", name="uq_segments_translation_segment"),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "translation_id", sa.String(64), sa.ForeignKey("translations.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("segment_id", sa.String(64), nullable=False),
        sa.Column("rating", sa.String(8)),
        sa.Column("correction", sa.Text),
        sa.Column("correction_masked", sa.Text),
        sa.Column("comment", sa.Text),
        sa.Column("who", sa.String(128)),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index("ix_feedback_translation_segment", "feedback", ["translation_id", "segment_id"])
    op.create_index("ix_feedback_created_at", "feedback", ["created_at"])
    op.create_table(
        "comparisons",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "translation_id", sa.String(64), sa.ForeignKey("translations.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("segment_id", sa.String(64), nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        *[
            col
            for side in ("a", "b")
            for col in (
                sa.Column(f"{side}_label", sa.String(256), nullable=False),
                sa.Column(f"{side}_adapter", sa.String(256)),
                sa.Column(f"{side}_adapter_version", sa.Integer),
                sa.Column(f"{side}_output", sa.Text, nullable=False),
                sa.Column(f"{side}_text", sa.Text, nullable=False),
            )
        ],
        sa.Column("choice", sa.String(8)),
        sa.Column("who", sa.String(128)),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("chosen_at", _TS),
    )
    op.create_index("ix_comparisons_translation_id", "comparisons", ["translation_id"])
    op.create_table(
        "idempotency",
        sa.Column("scope", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(256), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response", sa.JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("idempotency", "comparisons", "feedback", "segments", "translations"):
        op.drop_table(table)
