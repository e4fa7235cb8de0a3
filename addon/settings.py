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
    # The SLA (see addon.sla.policy for the shapes and their validation). None: Europe/Paris,
    # Monday to Friday 09:00-12:00 and 14:00-18:00, French public holidays.
    "sla_calendar": None,
    # Response windows in business minutes per Jira priority, for each subscription tier.
    # A subscription whose tier is not listed gets the "standard" policy.
    "sla_policies": {
        "standard": {
            "first_response_minutes": {"Highest": 60, "High": 120, "Medium": 240, "Low": 480, "Lowest": 960},
            "next_response_minutes": None,
            "pause_while_waiting_for_customer": True,
            "warning_percent": 75,
            "escalation": {"internal_comment": True, "notify_account_ids": [], "notify_groups": [],
                           "raise_priority_to": None, "breached_property": True, "panel_alert": True},
        },
        "premium": {
            "first_response_minutes": {"Highest": 30, "High": 60, "Medium": 120, "Low": 240, "Lowest": 480},
            "next_response_minutes": {"Highest": 60, "High": 120, "Medium": 240, "Low": 480, "Lowest": 960},
            "pause_while_waiting_for_customer": True,
            "warning_percent": 75,
            "escalation": {"internal_comment": True, "notify_account_ids": [], "notify_groups": [],
                           "raise_priority_to": "Highest", "breached_property": True, "panel_alert": True},
        },
    },
    # The impact chosen on the chat start form, as a Jira priority name of the policies.
    "impact_priorities": {"blocking": "High", "degraded": "Medium", "question": "Low"},
    # Jira statuses in which the request waits for the customer (compared without case).
    "waiting_for_customer_statuses": ["Waiting for customer", "En attente du client"],
    # The Jira status a validated solution moves the request to, found as the target of a workflow
    # transition. None: the status named "Resolved", else the first status of category done.
    "solution_status": None,
    # The resolution filled in when that transition requires one. None: "Done", else the first allowed value.
    "solution_resolution": None,
    # The status "the problem persists" moves a resolved or waiting-for-customer request back to.
    "reopen_status": "Waiting for support",
    # Self-service at chat start (addon.faq). Extra fields of the start form; see
    # addon.faq.statement.clean_form_fields for their shape and validation.
    "start_form_fields": [],
    # Synonyms and abbreviations of the domain that the FAQ search expands, one per line, e.g.
    # "BL = bon de livraison" (addon.faq.analysis.parse_synonyms reads them).
    "faq_synonyms": "",
    # Copy the service desk's knowledge base hourly and propose its articles beside the catalogue's.
    "knowledge_base_sync": True,
    # "Cet article a résolu mon problème" opens a request already resolved, so every contact is traced.
    "self_service_opens_resolved_request": False,
    # The out-of-scope guard's texts and links; None: addon.faq.scope.DEFAULT_GUARD.
    "scope_guard": None,
    # Files in the chat (addon/chat/attachments_types.py): the largest size in bytes, and the kinds
    # accepted among "images", "pdf", "text" (text and log files) and "archives".
    "attachment_max_bytes": 10 * 1024 * 1024,
    "attachment_types": ["images", "pdf", "text", "archives"],
    # Which group of agents each product area's chats go to, the re-offer delay and the chats an
    # agent may hold at once; None: addon.workspace.routing.DEFAULT_ROUTING.
    "chat_routing": None,
    # The team's saved replies (addon.workspace.canned): shortcut, title, French and English text.
    "canned_replies": [],
    # The ERP's own tool that a chat can move to: {"name", "message_fr", "message_en", "link"} with
    # an https link (addon.web.move_api.clean_erp_tool); None: no such tool.
    "erp_tool": None,
    # Default length of an appointment proposed in the chat, in minutes.
    "appointment_minutes": 60,
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
    """Store one setting in a transaction of its own; `key` must be one of DEFAULTS."""
    with current_app.extensions["database"].transaction() as session:
        put_setting(session, installation_id, key, value)


def put_setting(session, installation_id, key, value):
    """Store one setting in the caller's transaction; `key` must be one of DEFAULTS."""
    if key not in DEFAULTS:
        raise KeyError(f"unknown setting {key!r}; known settings: {', '.join(sorted(DEFAULTS))}")
    row = session.execute(
        select(SiteSetting).where(SiteSetting.installation_id == installation_id, SiteSetting.key == key)
    ).scalar_one_or_none()
    if row is None:
        session.add(SiteSetting(installation_id=installation_id, key=key, value=value))
    else:
        row.value = value
