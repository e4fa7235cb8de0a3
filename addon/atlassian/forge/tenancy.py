"""The tenant of a Forge installation: the `Installation` row that all chat code keys on.

The chat, sync, SLA, FAQ and access code know one tenant row per site, the Connect
`Installation`. A Forge installation maps onto such a row in this order:

1. the tenant row already made for its site (client_key "forge:<cloudId>"), so that a reinstall,
   which brings a new installationId, keeps the site's chats;
2. the Connect installation of the same site, linked by `ForgeInstallation.connect_installation_id`,
   so that a site moving from Connect to Forge keeps its chats;
3. a new tenant row for the site, with platform "forge" and no shared secret.
"""

import logging

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from ...models import Installation, utcnow
from .tenants import ForgeInstallation

log = logging.getLogger(__name__)

PLATFORM_CONNECT = "connect"
PLATFORM_FORGE = "forge"
FORGE_CLIENT_KEY_PREFIX = "forge:"


def _database():
    return current_app.extensions["database"]


def forge_client_key(cloud_id):
    """Return the client_key of the tenant row made for the Forge-only site `cloud_id`."""
    return f"{FORGE_CLIENT_KEY_PREFIX}{cloud_id}"


def installation_for(forge_installation):
    """Return the tenant `Installation` of `forge_installation`, creating it for a Forge-only site.

    Returns None only when a tenant row would have to be created but the site URL is still
    unknown: trigger tokens carry no `context.siteUrl`, so a site is known by URL from its first
    call from a UI module on. The tenant row of a Forge-only site follows the status of the
    installation: it is active while `forge_installation` is. A linked Connect row is returned as
    it is, because the Connect lifecycle owns its status.
    """
    session = _database().session
    client_key = forge_client_key(forge_installation.cloud_id)

    tenant = session.scalar(select(Installation).where(Installation.client_key == client_key))
    if tenant is None and forge_installation.connect_installation_id is not None:
        # NOTE: a site that uninstalled its Connect app keeps an uninstalled row here, and chat
        # code that requires an active tenant refuses it until the Connect row is reactivated.
        connect_row = session.get(Installation, forge_installation.connect_installation_id)
        if connect_row is not None:
            return connect_row

    if tenant is None:
        if not forge_installation.site_url:
            log.debug(
                "No tenant yet for Forge installation %s on cloud %s: its site URL is unknown until "
                "a call from a UI module", forge_installation.installation_id, forge_installation.cloud_id,
            )
            return None
        return _create_tenant(forge_installation, client_key)

    if _tenant_outdated(tenant, forge_installation):
        tenant = _refresh_tenant(tenant.id, forge_installation)
    return tenant


def _tenant_outdated(tenant, forge_installation):
    expected_status = "installed" if forge_installation.is_active else "uninstalled"
    site_url = forge_installation.site_url
    return tenant.status != expected_status or (site_url and tenant.base_url != site_url.rstrip("/"))


def _create_tenant(forge_installation, client_key):
    # Two first calls of one site may race to insert; the loser reads the winner's row.
    try:
        with _database().transaction() as session:
            tenant = Installation(
                client_key=client_key,
                platform=PLATFORM_FORGE,
                addon_key=current_app.config.get("FORGE_APP_ID") or current_app.config["ADDON_KEY"],
                base_url=forge_installation.site_url.rstrip("/"),
                shared_secret_encrypted=None,
                enabled=True,
                status="installed" if forge_installation.is_active else "uninstalled",
                # Forge sends no Connect install token, so 0 sorts before the `iat` of any real one.
                install_token_iat=0,
            )
            session.add(tenant)
        log.info(
            "Created tenant %s for Forge installation %s on %s",
            client_key, forge_installation.installation_id, tenant.base_url,
        )
        return tenant
    except IntegrityError:
        log.info("Concurrent creation of tenant %s, so the stored row is used", client_key)
        return _database().session.scalar(select(Installation).where(Installation.client_key == client_key))


def _refresh_tenant(tenant_id, forge_installation):
    with _database().transaction() as session:
        tenant = session.get(Installation, tenant_id, with_for_update=True, populate_existing=True)
        if forge_installation.site_url:
            tenant.base_url = forge_installation.site_url.rstrip("/")
        if forge_installation.is_active and not tenant.is_active:
            tenant.status = "installed"
            tenant.installed_at = utcnow()
            tenant.uninstalled_at = None
            log.info("Tenant %s active again with Forge installation %s",
                     tenant.client_key, forge_installation.installation_id)
        elif not forge_installation.is_active and tenant.is_active and not _other_active(session, forge_installation):
            tenant.status = "uninstalled"
            tenant.uninstalled_at = utcnow()
            log.info("Tenant %s uninstalled with Forge installation %s",
                     tenant.client_key, forge_installation.installation_id)
    return tenant


def _other_active(session, forge_installation):
    # A site may hold an older installation that is still installed (e.g. another environment).
    return session.scalar(
        select(ForgeInstallation.installation_id)
        .where(
            ForgeInstallation.cloud_id == forge_installation.cloud_id,
            ForgeInstallation.installation_id != forge_installation.installation_id,
            ForgeInstallation.status == "installed",
        )
        .limit(1)
    ) is not None


def forge_installation_of(installation):
    """Return the newest active Forge installation serving the tenant `installation`, or None.

    A Forge tenant row is served by the installations of its cloudId; a Connect row by the Forge
    installations linked to it.
    """
    conditions = [ForgeInstallation.connect_installation_id == installation.id]
    if installation.platform == PLATFORM_FORGE and installation.client_key.startswith(FORGE_CLIENT_KEY_PREFIX):
        conditions.append(ForgeInstallation.cloud_id == installation.client_key[len(FORGE_CLIENT_KEY_PREFIX):])
    return _database().session.scalar(
        select(ForgeInstallation)
        .where(ForgeInstallation.status == "installed", or_(*conditions))
        .order_by(ForgeInstallation.installed_at.desc(), ForgeInstallation.last_seen_at.desc())
        .limit(1)
    )
