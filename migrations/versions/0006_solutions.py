"""Store proposed solutions and satisfaction answers.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "proposed_solutions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("message_id", sa.Integer, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("proposed_by_account_id", sa.String(128), nullable=False),
        sa.Column("proposed_by_name", sa.String(255)),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("answered_by_account_id", sa.String(128)),
        sa.Column("answered_by_name", sa.String(255)),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column("outcome", sa.String(20)),
        sa.Column("status_before", sa.String(120)),
        sa.Column("status_after", sa.String(120)),
        sa.Column("transitioned_by", sa.String(20)),
        sa.UniqueConstraint("conversation_id", "message_id", name="uq_proposed_solutions_message"),
    )
    op.create_index("ix_proposed_solutions_state", "proposed_solutions", ["conversation_id", "state"])
    op.create_table(
        "satisfaction_surveys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("solution_id", sa.Integer, sa.ForeignKey("proposed_solutions.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rating", sa.Integer),
        sa.Column("comment", sa.Text),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column("declined_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("solution_id", name="uq_satisfaction_surveys_solution"),
    )
    op.create_index("ix_satisfaction_surveys_conversation", "satisfaction_surveys", ["conversation_id"])


def downgrade():
    op.drop_index("ix_satisfaction_surveys_conversation", table_name="satisfaction_surveys")
    op.drop_table("satisfaction_surveys")
    op.drop_index("ix_proposed_solutions_state", table_name="proposed_solutions")
    op.drop_table("proposed_solutions")
