"""Create the SLA clocks, their events and the scheduler leases.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sla_clocks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("installation_id", sa.Integer, sa.ForeignKey("installations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("tier", sa.String(40), nullable=False),
        sa.Column("priority", sa.String(40), nullable=False),
        sa.Column("window_minutes", sa.Integer, nullable=False),
        sa.Column("warning_percent", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pauses", sa.JSON, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("warning_at", sa.DateTime(timezone=True)),
        sa.Column("deadline_at", sa.DateTime(timezone=True)),
        sa.Column("next_due_at", sa.DateTime(timezone=True)),
        sa.Column("warned", sa.Boolean, nullable=False),
        sa.Column("breached", sa.Boolean, nullable=False),
        sa.Column("met_at", sa.DateTime(timezone=True)),
        sa.Column("met_by_account_id", sa.String(128)),
        sa.Column("stopped_at", sa.DateTime(timezone=True)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("property_version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("conversation_id", "kind", "round", name="uq_sla_clocks_round"),
    )
    op.create_index("ix_sla_clocks_next_due", "sla_clocks", ["next_due_at"])
    op.create_index("ix_sla_clocks_site_state", "sla_clocks", ["installation_id", "state"])
    op.create_table(
        "sla_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("clock_id", sa.Integer, sa.ForeignKey("sla_clocks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actions_done_at", sa.DateTime(timezone=True)),
        sa.Column("actions_done", sa.JSON, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.UniqueConstraint("clock_id", "kind", name="uq_sla_events_clock_kind"),
    )
    op.create_index("ix_sla_events_pending", "sla_events", ["actions_done_at", "next_attempt_at"])
    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade():
    op.drop_table("scheduler_leases")
    op.drop_table("sla_events")
    op.drop_table("sla_clocks")
