"""Starting a chat: the key user's statement becomes a JSM request marked as opened by chat."""

import logging

from sqlalchemy import select

from ..access.keyusers import key_user_memberships
from ..atlassian.installations import get_active_installation
from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import JiraError
from ..errors import AddonError, InvalidInput, NotFound, PermissionDenied
from ..faq import intake
from ..settings import CHAT_REQUEST_TYPE_NAME, get_settings
from ..sla import clock as sla_clock
from ..sync.comment_text import normalize_text, validate_message
from . import fanout
from .access import Rejection, rejection_error, rejection_of
from .actions import database, wake_outbox
from .models import (
    AuthorRole,
    Conversation,
    ConversationState,
    Impact,
    Message,
    MessageKind,
    Origin,
    SyncState,
    Visibility,
)

log = logging.getLogger(__name__)

CHAT_PROPERTY_KEY = "supportchat"
CHAT_LABEL = "chat"
# Jira rejects a summary longer than 255 characters.
SUMMARY_MAX_CHARS = 255


class JiraUnreachable(AddonError):
    code = "jira_unavailable"
    status = 503


def areas_of(subscription, settings):
    """Return the product areas a subscription covers, in the order of the settings' list.

    A subscription without areas covers every area of the settings.
    """
    areas = list(settings.get("product_areas") or [])
    covered = list(subscription.product_areas or [])
    if not covered:
        return areas
    if not areas:
        return covered
    return [area for area in areas if area in covered]


def subscription_for(viewer, organization_id=None):
    """Return the active subscription of which `viewer` is a key user, that the new chat is for.

    A key user of several subscribing organisations names one with `organization_id`.
    """
    memberships = key_user_memberships(viewer.installation_id, viewer.account_id)
    if not memberships:
        raise rejection_error(rejection_of(viewer.installation_id, viewer.account_id) or Rejection.NOT_KEY_USER)
    if organization_id not in (None, ""):
        for subscription in memberships:
            if subscription.organization_id == str(organization_id):
                return subscription
        raise PermissionDenied(
            f"Vous n'êtes pas utilisateur clé d'un contrat actif de l'organisation {str(organization_id)[:40]!r} ; "
            "choisissez une organisation proposée. / You are not a key user of an active subscription "
            f"of organization {str(organization_id)[:40]!r}; choose one of the organizations offered.")
    if len(memberships) > 1:
        raise InvalidInput("Vous êtes utilisateur clé de plusieurs organisations : choisissez celle pour "
                           "laquelle vous ouvrez la discussion (organization_id). / You are a key user of "
                           "several organizations: choose the one this chat is for (organization_id).")
    return memberships[0]


def _validate(summary, product_area, impact, message, settings):
    summary = normalize_text(summary or "").strip()
    if not summary:
        raise InvalidInput("Le résumé est vide : décrivez la demande en une phrase. "
                           "/ The summary is empty: describe the request in one sentence.")
    if len(summary) > SUMMARY_MAX_CHARS or "\n" in summary:
        raise InvalidInput(f"Le résumé doit tenir sur une ligne de {SUMMARY_MAX_CHARS} caractères au plus "
                           f"({len(summary)}). / The summary must be one line of at most "
                           f"{SUMMARY_MAX_CHARS} characters ({len(summary)}).")
    if impact not in Impact.ALL:
        raise InvalidInput(f"Impact inconnu {impact!r} : choisissez {', '.join(Impact.ALL)}. "
                           f"/ Unknown impact {impact!r}: choose {', '.join(Impact.ALL)}.")
    areas = settings.get("product_areas") or []
    if areas and product_area not in areas:
        raise InvalidInput(f"Domaine inconnu {product_area!r} : choisissez dans la liste proposée. "
                           f"/ Unknown product area {product_area!r}: pick one from the list.")
    message = normalize_text(message or "")
    try:
        validate_message(message)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    return summary, message


def _find_started(viewer, client_message_id):
    """Return the conversation this viewer already started with `client_message_id`, if any."""
    if not client_message_id:
        return None
    statement = (
        select(Conversation)
        .join(Message, Message.conversation_id == Conversation.id)
        .where(Conversation.installation_id == viewer.installation_id,
               Conversation.opened_by_account_id == viewer.account_id,
               Message.client_message_id == client_message_id)
    )
    return database().session.execute(statement).scalar_one_or_none()


def _desk_and_type(jira, settings):
    desk_id = settings.get("service_desk_id")
    if not desk_id:
        desks = jira.service_desk.get_service_desks() or []
        if not desks:
            raise JiraUnreachable("Aucun service desk n'existe sur ce site. / This site has no service desk.")
        desk_id = str(desks[0]["id"])
    type_id = settings.get("request_type_id")
    if not type_id:
        page = jira.service_desk.get_request_types(desk_id) or {}
        types = page.get("values", []) if isinstance(page, dict) else page
        chat_types = [t for t in types if t.get("name") == CHAT_REQUEST_TYPE_NAME]
        if not chat_types:
            raise JiraUnreachable(
                f"Le service desk {desk_id} n'a pas de type de demande « {CHAT_REQUEST_TYPE_NAME} » ; "
                "un administrateur doit en choisir un dans les paramètres. "
                f"/ Service desk {desk_id} has no “{CHAT_REQUEST_TYPE_NAME}” request type; "
                "an administrator must choose one in the settings."
            )
        type_id = str(chat_types[0]["id"])
    return str(desk_id), str(type_id)


def _organization_of(jira, viewer, organization_id):
    page = jira.request("GET", "rest/servicedeskapi/organization", params={"accountId": viewer.account_id}) or {}
    organizations = [str(org["id"]) for org in page.get("values", [])]
    if organization_id is not None:
        if str(organization_id) not in organizations:
            raise InvalidInput("Vous n'êtes pas membre de cette organisation. / You are not a member of this organization.")
        return str(organization_id)
    return organizations[0] if len(organizations) == 1 else None


def _set_priority(jira, issue_key, settings, impact):
    """Give the request the Jira priority that the settings map the chosen impact to.

    The SLA window follows that priority too. A site whose priority scheme lacks the name keeps the
    request's default priority: the chat still starts, and a warning says which name is missing.
    """
    priority = (settings.get("impact_priorities") or {}).get(impact)
    if not priority:
        return
    try:
        jira.set_priority(issue_key, priority)
    except JiraError as error:
        log.warning("Setting priority %r on %s failed, it keeps its default: %s", priority, issue_key, error)


def start_chat(viewer, *, summary, product_area, impact, message, client_message_id=None, organization_id=None,
               extra_fields=None, shown_articles=None, continue_out_of_scope=False, lang=None):
    """Open a JSM request for the key user's statement and return the new conversation.

    The request is raised on behalf of the key user and shared with their organisation. The
    `supportchat` issue property and the `chat` label mark it, and the first message is its description.
    Self-service (addon.faq.intake) checks the statement first: not vague, valid `extra_fields`,
    and `continue_out_of_scope` for a training or customisation request. It records the articles
    of `shown_articles` that the start form proposed.
    """
    installation = get_active_installation(viewer.client_key)
    if installation is None:
        raise NotFound("Le module n'est plus installé sur ce site. / The app is no longer installed on this site.")
    settings = get_settings(installation.id)
    subscription = subscription_for(viewer, organization_id)
    summary, message = _validate(summary, product_area, impact, message, settings)
    if product_area not in areas_of(subscription, settings) and (settings.get("product_areas") or
                                                                 subscription.product_areas):
        raise InvalidInput(f"Le contrat de {subscription.organization_name} ne couvre pas le domaine "
                           f"{product_area!r} : choisissez dans la liste proposée. / The subscription of "
                           f"{subscription.organization_name} does not cover product area {product_area!r}: "
                           "pick one from the list.")
    started = _find_started(viewer, client_message_id)
    if started is not None:
        return started
    extras = intake.prepare(installation.id, settings, summary=summary, message=message, fields=extra_fields,
                            shown_articles=shown_articles, continue_out_of_scope=continue_out_of_scope, lang=lang)

    try:
        with jira_client_for(installation) as jira:
            desk_id, type_id = _desk_and_type(jira, settings)
            organization = _organization_of(jira, viewer, subscription.organization_id)
            fields = {"summary": summary, "description": extras.description(message)}
            fields.update(extras.request_fields)
            if organization:
                # NOTE: the local site takes the organisation in the `organization` field; on Jira
                # Cloud the Organizations field of the request type must be on the form for this.
                fields["organization"] = [organization]
            created = jira.service_desk.create_customer_request(desk_id, type_id, fields,
                                                                raise_on_behalf_of=viewer.account_id)
            issue_key, issue_id = created["issueKey"], str(created["issueId"])
            project_key = issue_key.rsplit("-", 1)[0]
            jira.set_issue_property(issue_key, CHAT_PROPERTY_KEY, {
                "enabled": "true", "state": ConversationState.OPEN, "openedBy": viewer.account_id,
                "organizationId": organization or "", "impact": impact,
            })
            jira.request("PUT", f"rest/api/3/issue/{issue_key}",
                         json={"update": {"labels": [{"add": CHAT_LABEL}]}}, idempotent=True)
            _set_priority(jira, issue_key, settings, impact)
    except JiraError as error:
        log.error("Starting a chat failed for client_key %s: %s", viewer.client_key, error)
        raise JiraUnreachable(
            "Jira n'a pas pu enregistrer la demande ; votre message est conservé, réessayez dans un instant. "
            "/ Jira could not record the request; your message is kept, try again in a moment."
        ) from None

    with database().transaction() as session:
        conversation = Conversation(
            installation_id=installation.id, issue_id=issue_id, issue_key=issue_key,
            project_key=project_key, service_desk_id=desk_id, request_type_id=type_id,
            organization_id=organization, opened_by_account_id=viewer.account_id,
            summary=summary, product_area=product_area, impact=impact,
            state=ConversationState.OPEN, last_seq=1,
        )
        session.add(conversation)
        session.flush()
        first = Message(
            conversation_id=conversation.id, seq=1, client_message_id=client_message_id,
            author_account_id=viewer.account_id, author_role=AuthorRole.CUSTOMER,
            author_name=viewer.display_name, visibility=Visibility.PUBLIC, kind=MessageKind.MESSAGE,
            body=message, origin=Origin.CHAT, sync_state=SyncState.IN_DESCRIPTION,
        )
        session.add(first)
        session.flush()
        note = intake.record(session, conversation, viewer.account_id, extras)
        sla_clock.start_first_response(session, conversation, subscription.sla_tier)
        payload = fanout.message_payload(conversation, first)
        note_payload = fanout.message_payload(conversation, note) if note is not None else None

    log.info("Chat started on %s for client_key %s (conversation %s)", issue_key, viewer.client_key, conversation.id)
    fanout.publish(installation.id, conversation.id, payload)
    if note_payload is not None:
        fanout.publish(installation.id, conversation.id, note_payload)
        wake_outbox()
    # Imported here: the workspace builds on the chat, not the other way round.
    from ..workspace.claims import route_new_chat

    route_new_chat(conversation.id)
    return conversation
