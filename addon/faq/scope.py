"""The out-of-scope guard: training and customisation requests are not what the chat is for.

On the start form the guard (addon.faq.guard.classify_scope) reads the statement. For training or
customisation the start form shows the key user a message and the channel the support lead set for it. They may
still start the chat: `start_chat` then needs `continue_out_of_scope`, and the choice is recorded
as a ScopeFlag row and an internal note on the request. Agents can flag any chat as out of scope
from the issue view (`flag_by_agent`), which is recorded the same way plus a chat event.
"""

import logging
import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..access.presentation import guide_url
from ..atlassian.installations import get_active_installation
from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import JiraError
from ..chat.actions import add_event, database
from ..chat.models import Message, Visibility
from ..errors import AddonError, InvalidInput, NotFound
from ..sync.comment_text import to_wiki_literal
from ..web.guide import RULES_PATH
from .guard import classify_scope
from .models import ScopeFlag, ScopeSource

log = logging.getLogger(__name__)

SUPPORT = "support"
TRAINING = "training"
CUSTOMISATION = "customisation"
OUT_OF_SCOPE = (TRAINING, CUSTOMISATION)
# The scope an agent's flag records when the guard read the statement as support.
OTHER = "other"
FLAG_EVENT_TYPE = "scope_flagged"

GUARD_TEXT_KEYS = ("message_fr", "message_en", "link_label_fr", "link_label_en", "url")
GUARD_TEXT_MAX_CHARS = 500
GUARD_LABEL_MAX_CHARS = 80
GUARD_URL_MAX_CHARS = 1000

DEFAULT_GUARD = {
    TRAINING: {
        "message_fr": "Pour former vos équipes ou organiser une session de formation, adressez-vous au "
                      "service formation.",
        "message_en": "To train your teams or arrange a training session, contact the training department.",
        "link_label_fr": "Demander une formation",
        "link_label_en": "Request training",
        "url": None,
    },
    CUSTOMISATION: {
        "message_fr": "Les développements spécifiques, états et paramétrages sur mesure passent par une "
                      "demande de prestation.",
        "message_en": "Specific development, custom reports and bespoke settings go through a request for "
                      "services.",
        "link_label_fr": "Demander une prestation",
        "link_label_en": "Request services",
        "url": None,
    },
}

# The guard's channel when the support lead set no link for a scope.
RULES_LINK_LABEL = {"fr": "Règles d'utilisation de la discussion", "en": "Chat usage rules"}
SUPPORT_EMAIL_SENTENCE = {"fr": "Vous pouvez aussi écrire au support : {email}.",
                          "en": "You can also write to support: {email}."}

SCOPE_NAMES_FR = {TRAINING: "formation", CUSTOMISATION: "personnalisation", OTHER: "hors périmètre"}


class OutOfScope(AddonError):
    """The statement requests training or a customisation and the key user has not chosen to go on."""

    code = "out_of_scope"
    status = 409

    def __init__(self, message, guard):
        super().__init__(message)
        self.guard = guard

    def to_dict(self):
        body = super().to_dict()
        body["error"]["guard"] = self.guard
        return body


class JiraUnavailable(AddonError):
    code = "jira_unavailable"
    status = 503


# -- settings ----------------------------------------------------------------------------------

def guard_settings(settings):
    """Return the guard's texts and links per scope: the stored ones over DEFAULT_GUARD."""
    stored = settings.get("scope_guard") or {}
    return {scope: dict(DEFAULT_GUARD[scope], **(stored.get(scope) or {})) for scope in OUT_OF_SCOPE}


def clean_guard(value):
    """Return the valid guard settings of `value` ({scope: {message_fr, …, url}}), or raise InvalidInput."""
    if not isinstance(value, dict) or set(value) - set(OUT_OF_SCOPE):
        raise InvalidInput(f"scope_guard : un objet avec les clés {', '.join(OUT_OF_SCOPE)}. "
                           f"/ scope_guard: an object with the keys {', '.join(OUT_OF_SCOPE)}.")
    cleaned = {}
    for scope in OUT_OF_SCOPE:
        texts = value.get(scope) or {}
        if not isinstance(texts, dict) or set(texts) - set(GUARD_TEXT_KEYS):
            raise InvalidInput(f"scope_guard.{scope} : clés permises {', '.join(GUARD_TEXT_KEYS)}. "
                               f"/ scope_guard.{scope}: allowed keys {', '.join(GUARD_TEXT_KEYS)}.")
        entry = {}
        for key in GUARD_TEXT_KEYS:
            text = str(texts.get(key) or "").strip()
            limit = GUARD_URL_MAX_CHARS if key == "url" else (
                GUARD_TEXT_MAX_CHARS if key.startswith("message") else GUARD_LABEL_MAX_CHARS)
            if len(text) > limit:
                raise InvalidInput(f"scope_guard.{scope}.{key} dépasse {limit} caractères. "
                                   f"/ scope_guard.{scope}.{key} is longer than {limit} characters.")
            if key == "url" and text and not re.match(r"^(?:https?://[^\s/]+\S*|mailto:[^@\s]+@[^@\s]+)$", text):
                raise InvalidInput(f"scope_guard.{scope}.url : une adresse http(s) ou mailto: est attendue, "
                                   f"pas {text[:80]!r}. / scope_guard.{scope}.url: an http(s) or mailto: address "
                                   f"is expected, not {text[:80]!r}.")
            if key.startswith("message") and not text:
                text = DEFAULT_GUARD[scope][key]
            entry[key] = text or None
        cleaned[scope] = entry
    return cleaned


def guard_view(settings, scope, lang):
    """Return what the start form shows for an out-of-scope `scope`, in `lang`, or None for support.

    The view always carries a channel: the link the support lead set, else the usage rules page
    of the add-on. The support e-mail, when the settings have one, is added to the message.
    """
    if scope not in OUT_OF_SCOPE:
        return None
    texts = guard_settings(settings)[scope]
    suffix = "en" if lang == "en" else "fr"
    if texts["url"]:
        url = texts["url"]
        label = texts[f"link_label_{suffix}"] or DEFAULT_GUARD[scope][f"link_label_{suffix}"]
    else:
        url = guide_url(RULES_PATH, suffix)
        label = RULES_LINK_LABEL[suffix]
    message = texts[f"message_{suffix}"]
    email = settings.get("support_email")
    if email:
        message = f"{message} {SUPPORT_EMAIL_SENTENCE[suffix].format(email=email)}"
    return {"scope": scope, "message": message, "link_label": label, "url": url}


def scope_of(summary, message):
    """Return "support", "training" or "customisation" for a statement (summary and first message)."""
    return classify_scope(f"{summary or ''}\n{message or ''}")


def check_scope(settings, summary, message, continue_out_of_scope, lang):
    """Return the statement's scope, or raise OutOfScope for training or customisation unless the key user goes on."""
    scope = scope_of(summary, message)
    if scope in OUT_OF_SCOPE and not continue_out_of_scope:
        french, english = guard_view(settings, scope, "fr"), guard_view(settings, scope, "en")
        raise OutOfScope(f"{french['message']} / {english['message']}", guard_view(settings, scope, lang))
    return scope


# -- recording ---------------------------------------------------------------------------------

def continued_note(scope):
    """Return the internal note written on a request that the key user opened despite the guard."""
    return (f"Hors périmètre ({SCOPE_NAMES_FR[scope]}) : l'utilisateur clé a été informé que la discussion "
            "n'est pas destinée à ce type de demande et a choisi de la démarrer quand même.")


def record_continued(session, conversation, account_id, scope):
    """Record, in the caller's transaction, that the key user started this chat despite the guard."""
    session.add(ScopeFlag(installation_id=conversation.installation_id, conversation_id=conversation.id,
                          issue_key=conversation.issue_key, scope=scope, source=ScopeSource.KEY_USER,
                          account_id=account_id))


def flag_of(conversation_id, source=ScopeSource.AGENT):
    return database().session.execute(select(ScopeFlag).where(
        ScopeFlag.conversation_id == conversation_id, ScopeFlag.source == source,
    )).scalar_one_or_none()


def flag_json(flag):
    if flag is None:
        return {"flagged": False}
    return {"flagged": True, "scope": flag.scope, "account_id": flag.account_id,
            "created_at": flag.created_at.isoformat()}


def flag_by_agent(viewer, conversation, first_message=""):
    """Mark `conversation` as out of scope for an agent, and return (flag, created).

    The request gets an internal comment naming the agent and the scope, the conversation an
    internal event, and faq_scope_flags a row. Flagging twice changes nothing. Jira is written
    first, so a failure records nothing and the agent can click again.
    """
    existing = flag_of(conversation.id)
    if existing is not None:
        return existing, False
    installation = get_active_installation(viewer.client_key)
    if installation is None:
        raise NotFound("Le module n'est plus installé sur ce site. / The app is no longer installed on this site.")
    scope = scope_of(conversation.summary, first_message)
    scope = scope if scope in OUT_OF_SCOPE else OTHER
    name = viewer.display_name or viewer.account_id
    text = (f"Discussion signalée hors périmètre ({SCOPE_NAMES_FR[scope]}) par {name} : la discussion n'est "
            "pas destinée aux demandes de formation ni de personnalisation.")
    try:
        with jira_client_for(installation) as jira:
            # JSM reads a comment body as wiki markup; the agent's display name is shown as typed.
            jira.add_request_comment(conversation.issue_key, to_wiki_literal(text), public=False)
    except JiraError as error:
        log.warning("Flagging %s out of scope failed for client_key %s: %s", conversation.issue_key,
                    viewer.client_key, error)
        raise JiraUnavailable("Jira n'a pas pu enregistrer le signalement ; réessayez dans un instant. "
                              "/ Jira could not record the flag; try again in a moment.") from None

    try:
        with database().transaction() as session:
            flag = ScopeFlag(installation_id=conversation.installation_id, conversation_id=conversation.id,
                             issue_key=conversation.issue_key, scope=scope, source=ScopeSource.AGENT,
                             account_id=viewer.account_id)
            session.add(flag)
    except IntegrityError:
        # Another agent flagged the chat meanwhile, and that flag is kept.
        return flag_of(conversation.id), False
    add_event(conversation.id, FLAG_EVENT_TYPE, text, visibility=Visibility.INTERNAL,
              author_account_id=viewer.account_id)
    log.info("Chat %s flagged out of scope (%s) by %s on client_key %s", conversation.issue_key, scope,
             viewer.account_id, viewer.client_key)
    return flag, True


def first_message_of(conversation_id):
    """Return the key user's first message of a conversation (the request's description), or ""."""
    body = database().session.execute(select(Message.body).where(
        Message.conversation_id == conversation_id, Message.seq == 1)).scalar_one_or_none()
    return body or ""
