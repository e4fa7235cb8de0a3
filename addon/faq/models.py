"""Tables of self-service: the FAQ/TUTO catalogue, the knowledge-base copy, and what key users did
with the articles proposed to them.

Article ids are strings shared by every table: a catalogue article's `ref` as the support lead
wrote it (e.g. "FAQ-012"), or KB_ID_PREFIX followed by the Confluence page id for an article of
the service desk's knowledge base. Statistics keep the id, so they outlive a deleted article.
"""

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime
from ..models import utcnow

# Prefix of the ids of knowledge-base articles; catalogue refs may not start with it.
KB_ID_PREFIX = "kb-"


class ArticleKind:
    FAQ = "faq"
    TUTO = "tuto"
    ALL = (FAQ, TUTO)


class ScopeSource:
    """The origin of an out-of-scope mark on a chat."""

    KEY_USER = "key_user"  # the guard warned the key user, who started the chat anyway
    AGENT = "agent"  # an agent flagged the chat from the issue view


class FaqArticle(Base):
    """An article of the add-on's own catalogue, managed on the settings page."""

    __tablename__ = "faq_articles"
    __table_args__ = (UniqueConstraint("installation_id", "ref", name="uq_faq_articles_ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[int] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"), nullable=False)
    ref: Mapped[str] = mapped_column(String(80), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False, default=ArticleKind.FAQ)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    tags: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    url: Mapped[str | None] = mapped_column(String(1000))
    updated_by_account_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class KbArticle(Base):
    """A local copy of one article of the service desk's knowledge base (a Confluence page).

    The JSM API returns a title and, per query, an excerpt that matches the query, never the whole
    page. `excerpts` keeps the distinct excerpts seen in the last sync, and the index uses them as
    the article's body.
    """

    __tablename__ = "faq_kb_articles"
    __table_args__ = (UniqueConstraint("installation_id", "page_id", name="uq_faq_kb_articles_page"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[int] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"), nullable=False)
    page_id: Mapped[str] = mapped_column(String(40), nullable=False)
    space_key: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    excerpts: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    # content.iframeSrc of the API: the page as JSM renders it for the portal.
    url: Mapped[str | None] = mapped_column(String(1000))
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class FaqSiteState(Base):
    """Per site: the version of the article set (raised by every change) and the state of the KB sync."""

    __tablename__ = "faq_site_states"

    installation_id: Mapped[int] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"),
                                                 primary_key=True)
    # Each process caches its index per site and rebuilds it when this number changes.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    kb_attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    kb_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    kb_error: Mapped[str | None] = mapped_column(Text)
    kb_article_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    kb_query_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class ArticleImpression(Base):
    """An article proposed on one start form: counted once per form session, however often typed."""

    __tablename__ = "faq_impressions"
    __table_args__ = (
        UniqueConstraint("installation_id", "session_id", "article_id", name="uq_faq_impressions_session"),
        Index("ix_faq_impressions_article", "installation_id", "article_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[int] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"), nullable=False)
    # Chosen by the start form when it opens, so that its suggestions, ratings and outcome go together.
    session_id: Mapped[str] = mapped_column(String(64), nullable=False)
    article_id: Mapped[str] = mapped_column(String(120), nullable=False)
    account_id: Mapped[str] = mapped_column(String(128), nullable=False)
    organization_id: Mapped[str | None] = mapped_column(String(40))
    shown_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class SelfServiceResolution(Base):
    """A key user's "this article solved my problem": the chat did not open."""

    __tablename__ = "faq_resolutions"
    __table_args__ = (
        UniqueConstraint("installation_id", "session_id", name="uq_faq_resolutions_session"),
        Index("ix_faq_resolutions_article", "installation_id", "article_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[int] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"), nullable=False)
    session_id: Mapped[str] = mapped_column(String(64), nullable=False)
    article_id: Mapped[str] = mapped_column(String(120), nullable=False)
    article_title: Mapped[str] = mapped_column(String(255), nullable=False)
    account_id: Mapped[str] = mapped_column(String(128), nullable=False)
    organization_id: Mapped[str | None] = mapped_column(String(40))
    # The key user's statement: summary, product area and first message as typed.
    summary: Mapped[str] = mapped_column(Text, nullable=False, default="")
    product_area: Mapped[str | None] = mapped_column(String(120))
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # The request opened already resolved, when the site settings request one (self_service_opens_resolved_request).
    issue_key: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ArticleRating(Base):
    """A key user's answer to "Cet article vous a-t-il aidé ?" for one article of one form session."""

    __tablename__ = "faq_ratings"
    __table_args__ = (
        UniqueConstraint("installation_id", "session_id", "article_id", name="uq_faq_ratings_session"),
        Index("ix_faq_ratings_article", "installation_id", "article_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[int] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"), nullable=False)
    session_id: Mapped[str] = mapped_column(String(64), nullable=False)
    article_id: Mapped[str] = mapped_column(String(120), nullable=False)
    account_id: Mapped[str] = mapped_column(String(128), nullable=False)
    organization_id: Mapped[str | None] = mapped_column(String(40))
    helpful: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class ChatArticle(Base):
    """An article that was proposed on the start form of a chat that opened anyway, for its agent."""

    __tablename__ = "faq_chat_articles"
    __table_args__ = (UniqueConstraint("conversation_id", "article_id", name="uq_faq_chat_articles"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    article_id: Mapped[str] = mapped_column(String(120), nullable=False)
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    url: Mapped[str | None] = mapped_column(String(1000))
    # 1 for the first article the form listed.
    rank: Mapped[int] = mapped_column(Integer, nullable=False)


class ScopeFlag(Base):
    """A chat marked as out of the chat's scope (training, customisation), by the key user or an agent."""

    __tablename__ = "faq_scope_flags"
    __table_args__ = (UniqueConstraint("conversation_id", "source", name="uq_faq_scope_flags_source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[int] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"), nullable=False)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    issue_key: Mapped[str] = mapped_column(String(80), nullable=False)
    # "training", "customisation", or "other" when an agent flags a chat the guard took for support.
    scope: Mapped[str] = mapped_column(String(20), nullable=False)
    source: Mapped[str] = mapped_column(String(20), nullable=False)
    account_id: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
