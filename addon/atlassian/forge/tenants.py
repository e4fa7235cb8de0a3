"""The Forge tenant store: one `ForgeInstallation` row per Forge `installationId`.

Forge keys an app's data on `app.installationId`, which stays the same across upgrades and
changes on a reinstall. A site (`cloud_id`) may therefore hold several rows, old and new, so
`cloud_id` is indexed but not unique. The newest system token of each installation is kept
encrypted, because tokens arrive only with invocations and background work needs one later.
"""

import logging
from datetime import datetime, timedelta, timezone

import jwt
from flask import current_app
from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from ...db import Base, UTCDateTime
from ...models import Installation, utcnow

log = logging.getLogger(__name__)

# Atlassian's remote storage guide promises an `x-forge-oauth-system` token at least 55 minutes
# of life. That is the expiry assumed for a token whose own `exp` claim cannot be read.
ASSUMED_SYSTEM_TOKEN_LIFETIME = timedelta(minutes=55)

# A stored system token this close to its expiry is not handed out for background work.
SYSTEM_TOKEN_MARGIN = timedelta(minutes=2)

# Expired rows of the replay table are deleted once every this many recorded tokens.
_PRUNE_EVERY_RECORDS = 200
_records_since_prune = 0


class ForgeInstallation(Base):
    """One installation of the Forge app on a Jira site, keyed by the FIT's `app.installationId`."""

    __tablename__ = "forge_installations"

    installation_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    cloud_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    # `context.siteUrl` arrives only with calls from the UI; events leave the last known value.
    site_url: Mapped[str | None] = mapped_column(String(255))
    api_base_url: Mapped[str] = mapped_column(String(255), nullable=False)
    environment_type: Mapped[str | None] = mapped_column(String(40))
    environment_id: Mapped[str | None] = mapped_column(String(255))
    app_version: Mapped[str | None] = mapped_column(String(40))
    # None when the FIT carries no `app.license` (free, development or staging installations).
    license_active: Mapped[bool | None] = mapped_column(Boolean)
    # Encrypted with crypto.SecretBox; read it only through `system_token_of`.
    system_token_encrypted: Mapped[str | None] = mapped_column(Text)
    system_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "installed" or "uninstalled"; an uninstalled installation keeps its row until data erasure.
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="installed")
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    uninstalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # The Connect installation of the same site, when the app is installed both ways.
    connect_installation_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("installations.id", ondelete="SET NULL")
    )

    @property
    def is_active(self):
        return self.status == "installed"

    def __repr__(self):
        # Deliberately leaves out the system token, even encrypted.
        return f"<ForgeInstallation {self.installation_id} cloud {self.cloud_id} {self.status}>"


class ForgeSeenToken(Base):
    """The `jti` of a verified Forge Invocation Token, kept until the token expires.

    The primary key lets only the first use of a token through, in every worker process.
    """

    __tablename__ = "forge_seen_tokens"

    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)


def _database():
    return current_app.extensions["database"]


def _secret_box():
    return current_app.extensions["secret_box"]


def get_forge_installation(installation_id):
    """Return the installation of `installation_id`, installed or uninstalled, or None."""
    return _database().session.get(ForgeInstallation, installation_id)


def record_token_use(jti, expires_at):
    """Record the first use of the token `jti`; return False if it was already used."""
    global _records_since_prune

    try:
        with _database().transaction() as session:
            session.add(ForgeSeenToken(jti=jti, expires_at=expires_at))
    except IntegrityError:
        return False

    _records_since_prune += 1
    if _records_since_prune >= _PRUNE_EVERY_RECORDS:
        _records_since_prune = 0
        with _database().transaction() as session:
            session.execute(delete(ForgeSeenToken).where(ForgeSeenToken.expires_at < utcnow()))
    return True


def token_expiry(token, now=None):
    """Return the expiry of an `x-forge-oauth-*` token: its `exp` claim, or an assumed minimum.

    Atlassian documents these tokens as JWTs whose `exp` claim is their expiry, and otherwise as
    opaque. Their signature is not ours to check, so only `exp` is read.
    """
    now = now or utcnow()
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        exp = None
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        return datetime.fromtimestamp(exp, timezone.utc)
    return now + ASSUMED_SYSTEM_TOKEN_LIFETIME


def upsert_from_call(call):
    """Create or refresh the installation that the verified `call` names, and return it.

    Every call refreshes `last_seen_at`, the FIT's facts and the system token (when it expires
    later than the stored one). A call on an unknown installation creates it, because lifecycle
    events may arrive late. An uninstalled installation stays uninstalled: only `mark_installed`
    (the installed and upgraded events) turns it back.
    """
    encrypted_token, token_expires_at = None, None
    if call.system_token:
        encrypted_token = _secret_box().encrypt(call.system_token)
        token_expires_at = token_expiry(call.system_token)

    # Two first calls of one installation may race to insert; the loser updates the winner's row.
    for attempt in (1, 2):
        try:
            with _database().transaction() as session:
                installation = session.scalar(
                    select(ForgeInstallation)
                    .where(ForgeInstallation.installation_id == call.installation_id)
                    .with_for_update()
                    .execution_options(populate_existing=True)
                )
                if installation is None:
                    installation = ForgeInstallation(installation_id=call.installation_id, status="installed")
                    session.add(installation)
                    log.info("New Forge installation %s on cloud %s", call.installation_id, call.cloud_id)
                _apply_call(session, installation, call, encrypted_token, token_expires_at)
            _sync_tenant(installation)
            return installation
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("Concurrent first call of Forge installation %s; retrying as an update", call.installation_id)
    raise AssertionError("unreachable")


def _apply_call(session, installation, call, encrypted_token, token_expires_at):
    installation.cloud_id = call.cloud_id
    installation.api_base_url = call.api_base_url
    if call.site_url:
        installation.site_url = call.site_url
    installation.environment_type = call.environment.type
    installation.environment_id = call.environment.id
    if call.app_version:
        installation.app_version = call.app_version
    installation.license_active = call.license_active
    installation.last_seen_at = utcnow()

    # Calls may arrive out of order: keep whichever token lives longer.
    stored_expiry = installation.system_token_expires_at
    if encrypted_token and (stored_expiry is None or token_expires_at > stored_expiry):
        installation.system_token_encrypted = encrypted_token
        installation.system_token_expires_at = token_expires_at

    if installation.connect_installation_id is None:
        installation.connect_installation_id = _connect_installation_id(session, installation.site_url)


def _connect_installation_id(session, site_url):
    # NOTE: the Connect table stores no cloudId, so the link goes by the site's base URL only.
    # A site whose FIT names another URL (a custom domain) stays unlinked, and no admin link exists yet.
    if not site_url:
        return None
    return session.scalar(
        select(Installation.id)
        .where(Installation.base_url == site_url.rstrip("/"), Installation.platform == "connect")
        .order_by(Installation.id.desc())
        .limit(1)
    )


def mark_installed(installation_id):
    """Mark an installation installed again (the installed and upgraded events); return it, or None."""
    with _database().transaction() as session:
        installation = session.get(ForgeInstallation, installation_id, with_for_update=True, populate_existing=True)
        if installation is None:
            return None
        if not installation.is_active:
            installation.status = "installed"
            installation.installed_at = utcnow()
            installation.uninstalled_at = None
    _sync_tenant(installation)
    return installation


def mark_uninstalled(call):
    """Mark the installation of `call` uninstalled (the pre-uninstall event); return it, or None."""
    with _database().transaction() as session:
        installation = session.get(ForgeInstallation, call.installation_id, with_for_update=True, populate_existing=True)
        if installation is None:
            return None
        if installation.is_active:
            installation.status = "uninstalled"
            installation.uninstalled_at = utcnow()
    _sync_tenant(installation)
    return installation


def _sync_tenant(installation):
    # Creates the tenant row of a Forge-only site once its URL is known, and keeps its status.
    from .tenancy import installation_for

    installation_for(installation)


def system_token_of(installation, now=None):
    """Decrypt the stored system token of `installation`; None when it is missing or about to expire.

    Background writes fail closed on None: they wait for the next invocation to bring a token.
    Never log the result.
    """
    now = now or utcnow()
    if not installation.system_token_encrypted or installation.system_token_expires_at is None:
        return None
    if installation.system_token_expires_at - SYSTEM_TOKEN_MARGIN <= now:
        return None
    return _secret_box().decrypt(installation.system_token_encrypted)
