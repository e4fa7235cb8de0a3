"""Create subscriptions, key users and the audit log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("installation_id", sa.Integer, sa.ForeignKey("installations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("organization_id", sa.String(40), nullable=False),
        sa.Column("organization_name", sa.String(255), nullable=False),
        sa.Column("contract_reference", sa.String(80), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("ends_on", sa.Date),
        sa.Column("sla_tier", sa.String(40), nullable=False),
        sa.Column("product_areas", sa.JSON, nullable=False),
        sa.Column("main_contact_account_id", sa.String(128)),
        sa.Column("presented_on", sa.Date),
        sa.Column("activation_issue_key", sa.String(80)),
        sa.Column("seat_limit", sa.Integer),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("installation_id", "organization_id", name="uq_subscriptions_organization"),
    )
    op.create_table(
        "key_users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("installation_id", sa.Integer, sa.ForeignKey("installations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("subscription_id", sa.Integer, sa.ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("organization_id", sa.String(40), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by_account_id", sa.String(128)),
        sa.UniqueConstraint("subscription_id", "account_id", name="uq_key_users_account"),
    )
    op.create_index("ix_key_users_account", "key_users", ["installation_id", "account_id"])
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("installation_id", sa.Integer, sa.ForeignKey("installations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("actor_account_id", sa.String(128)),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("subscription_id", sa.Integer),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_audit_entries_site", "audit_entries", ["installation_id", "created_at"])


def downgrade():
    op.drop_table("audit_entries")
    op.drop_table("key_users")
    op.drop_table("subscriptions")
