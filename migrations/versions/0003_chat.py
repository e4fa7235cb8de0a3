"""Create the chat tables (conversations, messages, read marks) and site settings.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("installation_id", sa.Integer, sa.ForeignKey("installations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("issue_id", sa.String(40), nullable=False),
        sa.Column("issue_key", sa.String(80), nullable=False),
        sa.Column("project_key", sa.String(40), nullable=False),
        sa.Column("service_desk_id", sa.String(40), nullable=False),
        sa.Column("request_type_id", sa.String(40), nullable=False),
        sa.Column("organization_id", sa.String(40)),
        sa.Column("opened_by_account_id", sa.String(128), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("product_area", sa.String(120)),
        sa.Column("impact", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("jira_status", sa.String(120)),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("installation_id", "issue_id", name="uq_conversations_issue"),
    )
    op.create_index("ix_conversations_issue_key", "conversations", ["installation_id", "issue_key"])
    op.create_index("ix_conversations_opened_by", "conversations", ["installation_id", "opened_by_account_id"])

    op.create_table(
        "messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("client_message_id", sa.String(64)),
        sa.Column("author_account_id", sa.String(128)),
        sa.Column("author_role", sa.String(20), nullable=False),
        sa.Column("author_name", sa.String(255)),
        sa.Column("visibility", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("event_type", sa.String(40)),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("origin", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True)),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        sa.Column("jira_comment_id", sa.String(40)),
        sa.Column("jira_comment_updated", sa.String(40)),
        sa.Column("sync_state", sa.String(20), nullable=False),
        sa.Column("sync_attempts", sa.Integer, nullable=False),
        sa.Column("sync_error", sa.Text),
        sa.Column("next_sync_at", sa.DateTime(timezone=True)),
        sa.Column("sync_uncertain_since", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("conversation_id", "seq", name="uq_messages_seq"),
        sa.UniqueConstraint("conversation_id", "client_message_id", name="uq_messages_client_id"),
    )
    op.create_index("ix_messages_jira_comment", "messages", ["conversation_id", "jira_comment_id"])
    op.create_index("ix_messages_sync", "messages", ["sync_state", "next_sync_at"])

    op.create_table(
        "read_marks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("last_read_seq", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("conversation_id", "account_id", name="uq_read_marks"),
    )

    op.create_table(
        "site_settings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("installation_id", sa.Integer, sa.ForeignKey("installations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("value", sa.JSON),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("installation_id", "key", name="uq_site_settings_key"),
    )


def downgrade():
    op.drop_table("site_settings")
    op.drop_table("read_marks")
    op.drop_table("messages")
    op.drop_table("conversations")
