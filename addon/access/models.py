"""Tables of subscriptions, key users and the audit log.

A subscribing customer is a JSM organisation of one installed site. Support activates its
subscription and records the key users (utilisateurs clés) the customer named; only they may
chat, and only while the subscription is active.
"""

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime
from ..models import utcnow


class SubscriptionStatus:
    ACTIVE = "active"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    ALL = (ACTIVE, SUSPENDED, EXPIRED)


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("installation_id", "organization_id", name="uq_subscriptions_organization"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[int] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"), nullable=False)
    organization_id: Mapped[str] = mapped_column(String(40), nullable=False)
    organization_name: Mapped[str] = mapped_column(String(255), nullable=False)
    contract_reference: Mapped[str] = mapped_column(String(80), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=SubscriptionStatus.SUSPENDED)
    starts_on: Mapped[date] = mapped_column(Date, nullable=False)
    # The subscription expires by itself after this day (inclusive); None: no end date.
    ends_on: Mapped[date | None] = mapped_column(Date)
    sla_tier: Mapped[str] = mapped_column(String(40), nullable=False, default="standard")
    # Product areas of the chat start form that the subscription covers; empty: all of them.
    product_areas: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    main_contact_account_id: Mapped[str | None] = mapped_column(String(128))
    # The day the chat was presented to the subscriber (the activation request).
    presented_on: Mapped[date | None] = mapped_column(Date)
    activation_issue_key: Mapped[str | None] = mapped_column(String(80))
    seat_limit: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow,
                                                 onupdate=utcnow)

    def is_active_on(self, day):
        """Tell whether the subscription lets its key users chat on `day`."""
        if self.status != SubscriptionStatus.ACTIVE or day < self.starts_on:
            return False
        return self.ends_on is None or day <= self.ends_on


class KeyUser(Base):
    """A person a subscribing customer named to use the chat."""

    __tablename__ = "key_users"
    __table_args__ = (
        UniqueConstraint("subscription_id", "account_id", name="uq_key_users_account"),
        Index("ix_key_users_account", "installation_id", "account_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[int] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"), nullable=False)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False)
    account_id: Mapped[str] = mapped_column(String(128), nullable=False)
    organization_id: Mapped[str] = mapped_column(String(40), nullable=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    added_by_account_id: Mapped[str | None] = mapped_column(String(128))


class AuditEntry(Base):
    """One change of subscriptions or key users: who, what, when."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_site", "installation_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[int] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"), nullable=False)
    actor_account_id: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(60), nullable=False)
    subscription_id: Mapped[int | None] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    details: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
