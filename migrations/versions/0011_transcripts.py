"""Store the chat transcripts attached to resolved requests.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "transcript_attachments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("resolution_seq", sa.Integer, nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("language", sa.String(8)),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("claimed_until", sa.DateTime(timezone=True)),
        sa.Column("uncertain_since", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attached_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("conversation_id", "resolution_seq", name="uq_transcript_attachments_resolution"),
    )
    op.create_index("ix_transcript_attachments_due", "transcript_attachments", ["state", "next_attempt_at"])


def downgrade():
    op.drop_index("ix_transcript_attachments_due", table_name="transcript_attachments")
    op.drop_table("transcript_attachments")
