"""Create the installations table.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "installations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("client_key", sa.String(255), nullable=False, unique=True),
        sa.Column("addon_key", sa.String(80), nullable=False),
        sa.Column("base_url", sa.String(255), nullable=False),
        sa.Column("display_url", sa.String(255)),
        sa.Column("display_url_servicedesk_help_center", sa.String(255)),
        sa.Column("product_type", sa.String(40)),
        sa.Column("description", sa.Text),
        sa.Column("shared_secret_encrypted", sa.Text, nullable=False),
        sa.Column("oauth_client_id", sa.String(255)),
        sa.Column("installation_id", sa.String(255)),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("install_token_iat", sa.BigInteger, nullable=False),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uninstalled_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade():
    op.drop_table("installations")
