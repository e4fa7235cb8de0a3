"""Single-use tickets that open the chat websocket from a Forge Custom UI page.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "forge_socket_tickets",
        sa.Column("ticket_hash", sa.String(64), primary_key=True),
        sa.Column("installation_id", sa.Integer,
                  sa.ForeignKey("installations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("forge_installation_id", sa.String(255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_forge_socket_tickets_expires_at", "forge_socket_tickets", ["expires_at"])


def downgrade():
    # Tickets live 60 s, so dropping them loses nothing a page cannot ask for again.
    op.drop_table("forge_socket_tickets")
