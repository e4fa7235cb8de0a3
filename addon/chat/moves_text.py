"""Texts of conversation moves: the comments traced on the request and the invitation's wording.

Like the solution steps (solution_text.py), the comments are in French, the language of the
support team's Jira site, and each names the agent who acted, because the app user writes them.
The invitation goes to the key user, so it is in their language ("fr" or "en").
"""

from .moves_models import MoveTarget

TARGET_NAMES = {
    MoveTarget.MAIL: "par e-mail",
    MoveTarget.APPOINTMENT: "sur rendez-vous",
    MoveTarget.ERP_TOOL: "dans l'outil de l'ERP",
    MoveTarget.CLASSIC_TICKET: "en ticket classique",
}


def _agent(move):
    return move.moved_by_name or move.moved_by_account_id


def local_time(moment, zone):
    """Format an instant as a French date and time in the calendar's time zone, e.g. 08/12/2026 14:00."""
    return f"{moment.astimezone(zone):%d/%m/%Y %H:%M} ({zone.key})"


def reason_comment(move):
    """Return the internal comment of a move, with the agent's reason."""
    return (f"{_agent(move)} a déplacé la discussion : poursuite {TARGET_NAMES[move.target]}.\n\n"
            f"Motif : « {move.reason} »")


def notice_comment(move, slot_starts=(), zone=None, portal_link=None):
    """Return the public comment that tells the key user where the conversation continues."""
    target = move.target
    if target == MoveTarget.MAIL:
        return (f"{_agent(move)} poursuit cette demande par e-mail : la discussion est fermée et les réponses "
                "du support arrivent désormais par e-mail. Répondez à ces e-mails pour continuer.")
    if target == MoveTarget.APPOINTMENT:
        slots = "\n".join(f"- {local_time(start, zone)}" for start in slot_starts)
        return (f"{_agent(move)} propose un rendez-vous ({move.duration_minutes} min). Choisissez un créneau "
                f"dans la discussion :\n{slots}")
    if target == MoveTarget.ERP_TOOL:
        tool = move.erp_tool or {}
        return (f"{_agent(move)} poursuit cette demande dans {tool.get('name')} : "
                f"{tool.get('message_fr')} {tool.get('link')}")
    return (f"{_agent(move)} poursuit cette demande en ticket classique : la discussion est fermée pour "
            f"cette demande, qui continue sur le portail : {portal_link}")


def confirmed_comment(move, customer_name, zone, attachment_url):
    """Return the public comment of the slot the key user chose, with the invitation's link."""
    text = (f"{customer_name} a choisi le rendez-vous du {local_time(move.slot_start, zone)} "
            f"({move.duration_minutes} min) proposé par {_agent(move)}.")
    if attachment_url:
        text += f" Invitation (.ics) : {attachment_url}"
    else:
        text += " L'invitation (.ics) n'a pas pu être jointe à la demande ; elle reste disponible dans la discussion."
    return text


def ended_comment(move, agent_name):
    """Return the public comment of a conversation brought back to the chat."""
    return (f"{agent_name} reprend la demande dans la discussion (elle se poursuivait "
            f"{TARGET_NAMES[move.target]}). Vous pouvez de nouveau écrire dans la discussion.")


def ended_reason_comment(move, agent_name, reason):
    """Return the internal comment of a bring-back, with the agent's reason."""
    return f"{agent_name} ramène la demande dans la discussion.\n\nMotif : « {reason} »"


INVITATION_TEXTS = {
    "fr": {
        "summary": "Rendez-vous support : {issue_key} {summary}",
        "description": ("Rendez-vous avec {agent} au sujet de la demande {issue_key} : {summary}\n"
                        "Proposé dans la discussion du portail : {portal_link}"),
    },
    "en": {
        "summary": "Support appointment: {issue_key} {summary}",
        "description": ("Appointment with {agent} about request {issue_key}: {summary}\n"
                        "Proposed in the portal chat: {portal_link}"),
    },
}


def invitation_texts(language, **values):
    """Return (summary, description) of the invitation in `language` ("fr" or "en", French otherwise)."""
    texts = INVITATION_TEXTS.get(language) or INVITATION_TEXTS["fr"]
    return texts["summary"].format(**values), texts["description"].format(**values)
