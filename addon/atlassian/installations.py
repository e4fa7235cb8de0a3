"""The tenant store: one `Installation` row per Jira site, keyed by its Connect `client_key`.

Callers get model objects; the shared secret stays encrypted in them and is decrypted only by
`shared_secret_of`, at the moment a token is verified or signed.
"""

import logging

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..models import Installation, utcnow

log = logging.getLogger(__name__)

# Optional text fields of the `installed` payload and the columns that store them.
_OPTIONAL_FIELDS = {
    "displayUrl": "display_url",
    "displayUrlServicedeskHelpCenter": "display_url_servicedesk_help_center",
    "productType": "product_type",
    "description": "description",
    "oauthClientId": "oauth_client_id",
    "installationId": "installation_id",
}


def _database():
    return current_app.extensions["database"]


def _select_for_update(session, client_key):
    # populate_existing refreshes an object the session already holds, so the checks below see
    # the committed row; FOR UPDATE serialises concurrent lifecycle calls on PostgreSQL.
    statement = (
        select(Installation)
        .where(Installation.client_key == client_key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalar(statement)


def get_installation(client_key):
    """Return the installation of `client_key`, installed or uninstalled, or None."""
    if not client_key:
        return None
    statement = select(Installation).where(Installation.client_key == client_key)
    return _database().session.scalar(statement)


def get_active_installation(client_key):
    """Return the installation of `client_key` if the app is currently installed there, else None."""
    installation = get_installation(client_key)
    if installation is None or not installation.is_active:
        return None
    return installation


def shared_secret_of(installation):
    """Decrypt the shared secret of `installation`. Never log the result."""
    return current_app.extensions["secret_box"].decrypt(installation.shared_secret_encrypted)


def save_install(payload, token_iat):
    """Insert or replace the installation described by a verified `installed` payload.

    Everything changes in one transaction, so from the commit on only the new shared secret
    verifies tokens. An install whose token was issued before the stored one (`token_iat` older
    than `install_token_iat`) is a late or replayed delivery: the newer row is kept and returned.
    `payload` must already be validated (clientKey, key, baseUrl, sharedSecret present).
    """
    encrypted_secret = current_app.extensions["secret_box"].encrypt(payload["sharedSecret"])
    client_key = payload["clientKey"]

    # Two first installs of one client_key may race to insert; the loser's INSERT violates the
    # unique constraint and its second pass updates the winner's row instead.
    for attempt in (1, 2):
        try:
            with _database().transaction() as session:
                installation = _select_for_update(session, client_key)
                if installation is not None and token_iat < installation.install_token_iat:
                    log.info(
                        "Ignored install of client_key %s: its token was issued at %s, before the "
                        "stored install (%s)", client_key, token_iat, installation.install_token_iat,
                    )
                    return installation
                if installation is None:
                    installation = Installation(client_key=client_key)
                    session.add(installation)
                _apply_install(installation, payload, encrypted_secret, token_iat)
            return installation
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("Concurrent first install of client_key %s; retrying as an update", client_key)
    raise AssertionError("unreachable")


def _apply_install(installation, payload, encrypted_secret, token_iat):
    installation.addon_key = payload["key"]
    installation.base_url = payload["baseUrl"].rstrip("/")
    for field, column in _OPTIONAL_FIELDS.items():
        setattr(installation, column, payload.get(field) or None)
    installation.shared_secret_encrypted = encrypted_secret
    installation.status = "installed"
    installation.enabled = True
    installation.install_token_iat = token_iat
    installation.installed_at = utcnow()
    installation.uninstalled_at = None


def mark_uninstalled(client_key, token_iat):
    """Mark the installation of `client_key` uninstalled; return False when nothing changed.

    Nothing changes for an unknown client_key, or when the uninstall token was issued before the
    current install's token (a late delivery from an earlier installation).
    """
    with _database().transaction() as session:
        installation = _select_for_update(session, client_key)
        if installation is None:
            log.info("Ignored uninstall of unknown client_key %s", client_key)
            return False
        if token_iat < installation.install_token_iat:
            log.info(
                "Ignored stale uninstall of client_key %s: its token was issued at %s, before the "
                "current install (%s)", client_key, token_iat, installation.install_token_iat,
            )
            return False
        if installation.is_active:
            installation.status = "uninstalled"
            installation.uninstalled_at = utcnow()
    return True


def set_enabled(client_key, enabled):
    """Record the `enabled` or `disabled` lifecycle event of an installed site."""
    with _database().transaction() as session:
        installation = _select_for_update(session, client_key)
        if installation is None:
            return False
        installation.enabled = enabled
    return True
