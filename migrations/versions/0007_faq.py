"""Store the FAQ catalogue, self-service resolutions and ratings.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _installation():
    return sa.Column("installation_id", sa.Integer, sa.ForeignKey("installations.id", ondelete="CASCADE"),
                     nullable=False)


def upgrade():
    op.create_table(
        "faq_articles",
        sa.Column("id", sa.Integer, primary_key=True),
        _installation(),
        sa.Column("ref", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("url", sa.String(1000)),
        sa.Column("updated_by_account_id", sa.String(128)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("installation_id", "ref", name="uq_faq_articles_ref"),
    )
    op.create_table(
        "faq_kb_articles",
        sa.Column("id", sa.Integer, primary_key=True),
        _installation(),
        sa.Column("page_id", sa.String(40), nullable=False),
        sa.Column("space_key", sa.String(255)),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("excerpts", sa.JSON, nullable=False),
        sa.Column("url", sa.String(1000)),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("installation_id", "page_id", name="uq_faq_kb_articles_page"),
    )
    op.create_table(
        "faq_site_states",
        sa.Column("installation_id", sa.Integer, sa.ForeignKey("installations.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kb_attempted_at", sa.DateTime(timezone=True)),
        sa.Column("kb_synced_at", sa.DateTime(timezone=True)),
        sa.Column("kb_error", sa.Text),
        sa.Column("kb_article_count", sa.Integer, nullable=False),
        sa.Column("kb_query_count", sa.Integer, nullable=False),
    )
    op.create_table(
        "faq_impressions",
        sa.Column("id", sa.Integer, primary_key=True),
        _installation(),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("article_id", sa.String(120), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("organization_id", sa.String(40)),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("installation_id", "session_id", "article_id", name="uq_faq_impressions_session"),
    )
    op.create_index("ix_faq_impressions_article", "faq_impressions", ["installation_id", "article_id"])
    op.create_table(
        "faq_resolutions",
        sa.Column("id", sa.Integer, primary_key=True),
        _installation(),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("article_id", sa.String(120), nullable=False),
        sa.Column("article_title", sa.String(255), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("organization_id", sa.String(40)),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("product_area", sa.String(120)),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("issue_key", sa.String(80)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("installation_id", "session_id", name="uq_faq_resolutions_session"),
    )
    op.create_index("ix_faq_resolutions_article", "faq_resolutions", ["installation_id", "article_id"])
    op.create_table(
        "faq_ratings",
        sa.Column("id", sa.Integer, primary_key=True),
        _installation(),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("article_id", sa.String(120), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("organization_id", sa.String(40)),
        sa.Column("helpful", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("installation_id", "session_id", "article_id", name="uq_faq_ratings_session"),
    )
    op.create_index("ix_faq_ratings_article", "faq_ratings", ["installation_id", "article_id"])
    op.create_table(
        "faq_chat_articles",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("conversations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("article_id", sa.String(120), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("url", sa.String(1000)),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.UniqueConstraint("conversation_id", "article_id", name="uq_faq_chat_articles"),
    )
    op.create_table(
        "faq_scope_flags",
        sa.Column("id", sa.Integer, primary_key=True),
        _installation(),
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("conversations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("issue_key", sa.String(80), nullable=False),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("conversation_id", "source", name="uq_faq_scope_flags_source"),
    )


def downgrade():
    for table in ("faq_scope_flags", "faq_chat_articles", "faq_ratings", "faq_resolutions", "faq_impressions",
                  "faq_site_states", "faq_kb_articles", "faq_articles"):
        op.drop_table(table)
