"""Per-site settings with their defaults. Support leads change them on the admin pages."""

from flask import current_app
from sqlalchemy import select

from .models import SiteSetting

DEFAULTS = {
    # None means: the first service desk of the site, and its request type named CHAT_REQUEST_TYPE_NAME.
    "service_desk_id": None,
    "request_type_id": None,
    "product_areas": ["Achats", "Ventes", "Stocks", "Production", "Comptabilité", "Paie", "Autre"],
    # Consecutive messages of one author within this window may share one Jira comment, so that
    # Jira's per-issue write limits and JSM's e-mail per public comment do not flood anyone.
    "comment_batch_window_secs": 60,
    "support_email": None,
}

CHAT_REQUEST_TYPE_NAME = "Chat"


def get_settings(installation_id):
    """Return the settings of one installation: stored values over DEFAULTS."""
    session = current_app.extensions["database"].session
    rows = session.execute(select(SiteSetting).where(SiteSetting.installation_id == installation_id)).scalars()
    settings = dict(DEFAULTS)
    settings.update({row.key: row.value for row in rows if row.key in DEFAULTS})
    return settings


def set_setting(installation_id, key, value):
    """Store one setting; `key` must be one of DEFAULTS."""
    if key not in DEFAULTS:
        raise KeyError(f"unknown setting {key!r}; known settings: {', '.join(sorted(DEFAULTS))}")
    with current_app.extensions["database"].transaction() as session:
        row = session.execute(
            select(SiteSetting).where(SiteSetting.installation_id == installation_id, SiteSetting.key == key)
        ).scalar_one_or_none()
        if row is None:
            session.add(SiteSetting(installation_id=installation_id, key=key, value=value))
        else:
            row.value = value
