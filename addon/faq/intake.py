"""Self-service additions to starting a chat, and the request a self-service resolution may open.

`start_chat` calls `prepare` before it writes anything to Jira: the statement must be clear (not
vague), the extra fields valid, and an out-of-scope statement confirmed by the key user. Once the
request exists, `record` stores, in the chat's own transaction, the articles the start form
proposed and the key user's choice to go on despite the guard, and adds one internal note that
describes them. The note goes to Jira through the comment outbox like any chat message, so a Jira
failure delays it without losing it.
"""

import logging
from dataclasses import dataclass, field

from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import JiraError
from ..chat.actions import insert_message
from ..chat.models import AuthorRole, MessageKind, Origin, SyncState, Visibility
from ..chat.solution_jira import (
    FieldNotFillable,
    apply_transition,
    required_field_values,
    solution_transition,
    transitions_of,
)
from ..errors import AddonError
from ..models import utcnow
from ..sync.comment_text import to_wiki_literal
from . import service
from .scope import OUT_OF_SCOPE, check_scope, continued_note, record_continued
from .statement import check_statement, description_with, field_values, request_values

log = logging.getLogger(__name__)

SELF_SERVICE_LABEL = "self_service"


@dataclass
class StartExtras:
    """The checked additions of the start form to a statement: its scope, extra fields and proposed articles."""

    scope: str
    request_fields: dict = field(default_factory=dict)  # requestFieldValues beyond summary and description
    description_lines: list = field(default_factory=list)
    shown: list = field(default_factory=list)  # article views, in the order the form listed them

    def description(self, message):
        return description_with(message, self.description_lines)


def prepare(installation_id, settings, *, summary, message, fields=None, shown_articles=None,
            continue_out_of_scope=False, lang=None):
    """Check what the start form adds to a statement and return it as StartExtras.

    Raises VagueStatement, FieldError (an extra field) or OutOfScope, each naming what to change.
    """
    check_statement(summary, message)
    definitions = settings.get("start_form_fields") or []
    mapped, lines = request_values(definitions, field_values(definitions, fields))
    scope = check_scope(settings, summary, message, bool(continue_out_of_scope), lang)
    return StartExtras(scope=scope, request_fields=mapped, description_lines=lines,
                       shown=service.shown_articles(installation_id, shown_articles or []))


def note_text(extras):
    """Return the internal note for the agent, or None when there is nothing to report."""
    parts = []
    if extras.scope in OUT_OF_SCOPE:
        parts.append(continued_note(extras.scope))
    if extras.shown:
        lines = ["Articles proposés à l'utilisateur clé avant l'ouverture de la discussion (aucun n'a résolu "
                 "le problème) :"]
        for article in extras.shown:
            link = f" — {article['url']}" if article.get("url") else ""
            lines.append(f"- {article['title']} ({article['id']}){link}")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) or None


def record(session, conversation, account_id, extras):
    """Store the proposed articles and the guard choice of a new chat, and return its internal note or None.

    Runs in the transaction that creates the conversation, after its first message.
    """
    if extras.shown:
        service.record_chat_articles(session, conversation, extras.shown)
    if extras.scope in OUT_OF_SCOPE:
        record_continued(session, conversation, account_id, extras.scope)
    text = note_text(extras)
    if text is None:
        return None
    return insert_message(
        session, conversation, author_role=AuthorRole.SYSTEM, visibility=Visibility.INTERNAL,
        kind=MessageKind.MESSAGE, body=text, origin=Origin.CHAT, sync_state=SyncState.PENDING,
        next_sync_at=utcnow(),
    )


# -- a request opened already resolved ---------------------------------------------------------

class JiraUnavailable(AddonError):
    code = "jira_unavailable"
    status = 503


def resolved_description(statement, article):
    lines = [statement.get("message") or "", "", "----",
             f"Résolu en libre-service par l'article « {article['title']} » ({article['id']}).",
             "Aucune discussion n'a été ouverte."]
    if article.get("url"):
        lines.insert(4, article["url"])
    if statement.get("product_area"):
        lines.append(f"Domaine : {statement['product_area']}")
    return "\n".join(lines).strip()


def open_resolved_request(installation, settings, account_id, organization_id, statement, article):
    """Open a request for the statement on the key user's behalf and move it to the solution status.

    Returns the new request's key. Raises JiraUnavailable when Jira could not create it. A failed
    transition leaves the request open and is logged: the record of the resolution names it anyway.
    """
    # NOTE: these helpers are private to addon.chat.start. They find the chat's service desk and
    # request type, and the organisation that Jira lists for the key user.
    from ..chat.start import _desk_and_type, _organization_of

    summary = (statement.get("summary") or article["title"])[:255]
    try:
        with jira_client_for(installation) as jira:
            desk_id, type_id = _desk_and_type(jira, settings)
            # JSM reads the description as wiki markup, so the key user's words are escaped to show as typed.
            fields = {"summary": summary, "description": to_wiki_literal(resolved_description(statement, article))}
            organization = _organization_of(jira, _Person(account_id), organization_id)
            if organization:
                fields["organization"] = [organization]
            created = jira.service_desk.create_customer_request(desk_id, type_id, fields,
                                                                raise_on_behalf_of=account_id)
            issue_key = created["issueKey"]
            try:
                jira.request("PUT", f"rest/api/3/issue/{issue_key}",
                             json={"update": {"labels": [{"add": SELF_SERVICE_LABEL}]}}, idempotent=True)
                transition = solution_transition(transitions_of(jira, issue_key), settings)
                if transition is None:
                    log.warning("Self-service request %s stays open: the workflow offers no transition to the "
                                "solution status", issue_key)
                else:
                    apply_transition(jira, issue_key, transition, required_field_values(transition, settings),
                                     account_id)
            except (JiraError, FieldNotFillable) as error:
                log.warning("Self-service request %s was created but not resolved on client_key %s: %s",
                            issue_key, installation.client_key, error)
    except JiraError as error:
        log.error("Opening a self-service request failed for client_key %s: %s", installation.client_key, error)
        raise JiraUnavailable("Jira n'a pas pu enregistrer votre demande résolue ; réessayez dans un instant. "
                              "/ Jira could not record your resolved request; try again in a moment.") from None
    log.info("Self-service request %s opened resolved on client_key %s", issue_key, installation.client_key)
    return issue_key


@dataclass(frozen=True)
class _Person:
    """The one attribute of a chat Viewer that addon.chat.start._organization_of reads."""

    account_id: str
