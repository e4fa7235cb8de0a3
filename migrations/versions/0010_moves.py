"""Store conversation moves (mail, appointment, ERP tool, classic ticket).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "conversation_moves",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("target", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("moved_by_account_id", sa.String(128), nullable=False),
        sa.Column("moved_by_name", sa.String(255)),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_by_account_id", sa.String(128)),
        sa.Column("ended_by_name", sa.String(255)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("erp_tool", sa.JSON),
        sa.Column("slots", sa.JSON),
        sa.Column("duration_minutes", sa.Integer),
        sa.Column("slot_start", sa.DateTime(timezone=True)),
        sa.Column("chosen_by_account_id", sa.String(128)),
        sa.Column("chosen_at", sa.DateTime(timezone=True)),
        sa.Column("ics_uid", sa.String(255)),
        sa.Column("ics_language", sa.String(8)),
        sa.Column("ics_attachment_url", sa.Text),
        sa.Column("ics_text", sa.Text),
        sa.Column("sla_paused_until", sa.DateTime(timezone=True)),
        sa.Column("sla_resumed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_conversation_moves_state", "conversation_moves", ["conversation_id", "state"])
    op.create_index("ix_conversation_moves_sla_hold", "conversation_moves", ["sla_paused_until"])


def downgrade():
    op.drop_index("ix_conversation_moves_sla_hold", table_name="conversation_moves")
    op.drop_index("ix_conversation_moves_state", table_name="conversation_moves")
    op.drop_table("conversation_moves")
