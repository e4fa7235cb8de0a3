"""Store agent presence, the routing state of each chat, and when its key user was last seen.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("customer_seen_at", sa.DateTime(timezone=True)))
    op.create_table(
        "agent_presence",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("installation_id", sa.Integer, sa.ForeignKey("installations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("display_name", sa.String(255)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("installation_id", "account_id", name="uq_agent_presence_agent"),
    )
    op.create_table(
        "chat_routing",
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("conversations.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("installation_id", sa.Integer, sa.ForeignKey("installations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("group_name", sa.String(255)),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("offered_to", sa.JSON, nullable=False),
        sa.Column("directed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("offer_round", sa.Integer, nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reoffer_at", sa.DateTime(timezone=True)),
        sa.Column("assignee_account_id", sa.String(128)),
        sa.Column("assignee_name", sa.String(255)),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("transferred_by_account_id", sa.String(128)),
        sa.Column("transfer_note", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_chat_routing_installation_id", "chat_routing", ["installation_id"])
    op.create_index("ix_chat_routing_reoffer_at", "chat_routing", ["reoffer_at"])
    op.create_index("ix_chat_routing_assignee_account_id", "chat_routing", ["assignee_account_id"])


def downgrade():
    op.drop_index("ix_chat_routing_assignee_account_id", table_name="chat_routing")
    op.drop_index("ix_chat_routing_reoffer_at", table_name="chat_routing")
    op.drop_index("ix_chat_routing_installation_id", table_name="chat_routing")
    op.drop_table("chat_routing")
    op.drop_table("agent_presence")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("customer_seen_at")
