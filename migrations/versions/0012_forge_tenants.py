"""Let a Forge-only site be a tenant: record each installation's platform, allow no shared secret.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("installations") as batch:
        batch.add_column(sa.Column("platform", sa.String(20), nullable=False, server_default="connect"))
        batch.alter_column("shared_secret_encrypted", existing_type=sa.Text, nullable=True)


def downgrade():
    # A Forge tenant has no shared secret, so its rows cannot survive the NOT NULL constraint.
    # Its chats hang on the row, so the downgrade stops rather than delete them.
    forge_tenants = op.get_bind().scalar(sa.text("SELECT COUNT(*) FROM installations WHERE platform = 'forge'"))
    if forge_tenants:
        raise RuntimeError(
            f"Cannot downgrade below 0012: {forge_tenants} installations are Forge tenants without a "
            "shared secret; export or delete them (installations.platform = 'forge') first."
        )
    with op.batch_alter_table("installations") as batch:
        batch.alter_column("shared_secret_encrypted", existing_type=sa.Text, nullable=False)
        batch.drop_column("platform")
