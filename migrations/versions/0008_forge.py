"""Store Forge installations and the ids of used Forge Invocation Tokens.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "forge_installations",
        sa.Column("installation_id", sa.String(255), primary_key=True),
        sa.Column("cloud_id", sa.String(64), nullable=False),
        sa.Column("site_url", sa.String(255)),
        sa.Column("api_base_url", sa.String(255), nullable=False),
        sa.Column("environment_type", sa.String(40)),
        sa.Column("environment_id", sa.String(255)),
        sa.Column("app_version", sa.String(40)),
        sa.Column("license_active", sa.Boolean),
        sa.Column("system_token_encrypted", sa.Text),
        sa.Column("system_token_expires_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uninstalled_at", sa.DateTime(timezone=True)),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("connect_installation_id", sa.Integer,
                  sa.ForeignKey("installations.id", ondelete="SET NULL")),
    )
    op.create_index("ix_forge_installations_cloud_id", "forge_installations", ["cloud_id"])
    op.create_table(
        "forge_seen_tokens",
        sa.Column("jti", sa.String(255), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_forge_seen_tokens_expires_at", "forge_seen_tokens", ["expires_at"])


def downgrade():
    op.drop_table("forge_seen_tokens")
    op.drop_table("forge_installations")
