"""Store the files sent in the chat until, and after, they reach Jira as attachments.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "chat_attachments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("message_id", sa.Integer, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("uploader_account_id", sa.String(128), nullable=False),
        sa.Column("uploader_role", sa.String(20), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sync_state", sa.String(20), nullable=False),
        sa.Column("sync_attempts", sa.Integer, nullable=False),
        sa.Column("sync_error", sa.Text),
        sa.Column("next_sync_at", sa.DateTime(timezone=True)),
        sa.Column("sync_uncertain_since", sa.DateTime(timezone=True)),
        sa.Column("jira_attachment_id", sa.String(40)),
        sa.Column("jira_author_account_id", sa.String(128)),
        sa.UniqueConstraint("message_id", name="uq_chat_attachments_message"),
    )
    op.create_index("ix_chat_attachments_conversation", "chat_attachments", ["conversation_id"])
    op.create_index("ix_chat_attachments_sync", "chat_attachments", ["sync_state", "next_sync_at"])


def downgrade():
    op.drop_index("ix_chat_attachments_sync", table_name="chat_attachments")
    op.drop_index("ix_chat_attachments_conversation", table_name="chat_attachments")
    op.drop_table("chat_attachments")
