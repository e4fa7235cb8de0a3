"""Tables of the add-on. Domain nouns are fixed here; rename none of them casually."""

from datetime import datetime, timezone

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base, UTCDateTime


def utcnow():
    return datetime.now(timezone.utc)


class Installation(Base):
    """One Jira Cloud site that installed the add-on, keyed by its Connect `client_key`."""

    __tablename__ = "installations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_key: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    addon_key: Mapped[str] = mapped_column(String(80), nullable=False)
    base_url: Mapped[str] = mapped_column(String(255), nullable=False)
    display_url: Mapped[str | None] = mapped_column(String(255))
    display_url_servicedesk_help_center: Mapped[str | None] = mapped_column(String(255))
    product_type: Mapped[str | None] = mapped_column(String(40))
    description: Mapped[str | None] = mapped_column(Text)
    # "connect" for a row made by a Connect install, "forge" for the tenant row of a Forge-only
    # site (client_key "forge:<cloudId>", see addon.atlassian.forge.tenancy).
    platform: Mapped[str] = mapped_column(String(20), nullable=False, default="connect", server_default="connect")
    # Encrypted with crypto.SecretBox; never read this column without decrypting it.
    # None only on Forge tenants, which have no shared secret.
    shared_secret_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    oauth_client_id: Mapped[str | None] = mapped_column(String(255))
    installation_id: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # "installed" or "uninstalled"; an uninstalled site keeps its row until data erasure.
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="installed")
    # `iat` of the verified install token; an uninstall issued before it is stale and ignored.
    install_token_iat: Mapped[int] = mapped_column(BigInteger, nullable=False)
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    uninstalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )

    @property
    def is_active(self):
        return self.status == "installed"

    def __repr__(self):
        # Deliberately leaves out the shared secret, even encrypted.
        return f"<Installation {self.client_key} {self.base_url} {self.status}>"


class WebhookEvent(Base):
    """One webhook delivery from a Jira site, stored before it is acknowledged.

    Jira retries deliveries, so the same event may arrive more than once. Every copy has the same
    `dedupe_key`, and the unique constraint lets only the first one in.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("client_key", "dedupe_key", name="uq_webhook_events_client_dedupe"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_key: Mapped[str] = mapped_column(String(255), nullable=False)
    # Jira's `webhookEvent`, e.g. "comment_created" or "jira:issue_updated".
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    dedupe_key: Mapped[str] = mapped_column(String(255), nullable=False)
    issue_key: Mapped[str | None] = mapped_column(String(255))
    # The payload as Jira sent it. It contains comment bodies, which are personal data.
    # TODO: delete processed rows after a retention period once the data-erasure job exists.
    payload: Mapped[dict] = mapped_column(JSON, nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)

    def __repr__(self):
        return f"<WebhookEvent {self.id} {self.client_key} {self.name} {self.issue_key}>"


class SiteSetting(Base):
    """One setting of one installed site, as JSON; addon.settings defines the defaults."""

    __tablename__ = "site_settings"
    __table_args__ = (UniqueConstraint("installation_id", "key", name="uq_site_settings_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("installations.id", ondelete="CASCADE"), nullable=False
    )
    key: Mapped[str] = mapped_column(String(80), nullable=False)
    value: Mapped[object] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )
