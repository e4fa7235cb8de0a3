"""The activation request: a JSM request that presents the chat to a newly active subscriber.

`present_subscription` raises the request on behalf of the subscriber's main contact and shares
it with the organisation. Its one public comment, in French, says what the chat is for and not
for, the first-response commitment and the other channels. It also names the key users and links
to the public user guide and usage rules. JSM e-mails the public comment to the reporter and to
the organisation, and the request stays as the trace of the activation.
"""

import logging

from flask import current_app
from sqlalchemy import select

from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import ImpersonationRefused, JiraError
from ..errors import AddonError
from ..models import Installation
from ..settings import CHAT_REQUEST_TYPE_NAME, get_settings
from ..sync.comment_text import to_wiki_literal
from ..web.guide import GUIDE_PATH, RULES_PATH
from .models import KeyUser

log = logging.getLogger(__name__)

# The activation request is an information request, so it prefers the desk's question type.
# Without one it uses the chat's request type: settings `request_type_id`, else the type named
# CHAT_REQUEST_TYPE_NAME.
QUESTION_REQUEST_TYPE_NAME = "Question"

# First-response commitment per SLA tier, in business hours.
# NOTE: these values are placeholders until the add-on stores SLA policies. A tier missing here
# is presented without a number of hours.
FIRST_RESPONSE_BUSINESS_HOURS = {"standard": 8, "premium": 4}

# Jira rejects a summary longer than 255 characters.
SUMMARY_MAX_CHARS = 255


class PresentationFailed(AddonError):
    """A failed step of the activation request. `issue_key` is set when the request exists."""

    code = "presentation_failed"
    status = 502

    def __init__(self, message, issue_key=None):
        super().__init__(message)
        self.issue_key = issue_key


def present_subscription(subscription, actor_account_id=None):
    """Open the activation request of `subscription` and return its issue key.

    The comment is written as `actor_account_id` (the admin who activated the subscription) when
    Jira lets the app impersonate that user, else as the app user. Each call opens a new request,
    so a subscription activated again after a suspension is presented again.
    Raise PresentationFailed when the subscription has no main contact, the app is no longer
    installed or a Jira call fails. Its `issue_key` names the request when Jira created it.
    """
    organization = subscription.organization_name
    if not subscription.main_contact_account_id:
        raise PresentationFailed(
            f"Le contrat de souscription de « {organization} » n'a pas de contact principal : "
            "choisissez-en un, puis présentez de nouveau la discussion. "
            f"/ The subscription of “{organization}” has no main contact: choose one, then "
            "present the chat again."
        )
    session = current_app.extensions["database"].session
    installation = session.get(Installation, subscription.installation_id, populate_existing=True)
    if installation is None or not installation.is_active:
        raise PresentationFailed(
            f"Le module n'est plus installé sur le site de « {organization} » : réinstallez-le, puis "
            f"présentez de nouveau la discussion. / The app is no longer installed on the site of "
            f"“{organization}”: install it again, then present the chat again."
        )
    settings = get_settings(installation.id)
    key_user_ids = session.execute(
        select(KeyUser.account_id).where(KeyUser.subscription_id == subscription.id).order_by(KeyUser.id)
    ).scalars().all()

    issue_key = None
    try:
        with jira_client_for(installation) as jira:
            desk_id, type_id = _desk_and_type(jira, settings)
            names = _display_names(jira, key_user_ids)
            portal_url = f"{installation.base_url.rstrip('/')}/servicedesk/customer/portal/{desk_id}"
            body = to_wiki_literal(presentation_text(subscription, names, portal_url, settings.get("support_email")))
            created = jira.service_desk.create_customer_request(
                desk_id, type_id,
                {"summary": f"Activation de la discussion support – {organization}"[:SUMMARY_MAX_CHARS],
                 "description": to_wiki_literal(activation_description(subscription)),
                 # NOTE: the local site reads the organisation from this field. On Jira Cloud the
                 # request type's form must carry the Organizations field, else it is not shared.
                 "organization": [subscription.organization_id]},
                raise_on_behalf_of=subscription.main_contact_account_id,
            )
            issue_key = created["issueKey"]
            _comment(jira, issue_key, body, actor_account_id)
    except JiraError as error:
        log.error("Presenting the chat failed for subscription %s (organization %s, issue %s): %s",
                  subscription.id, subscription.organization_id, issue_key, error)
        status = f" (HTTP {error.status})" if error.status else ""
        if issue_key is None:
            message = (
                f"Jira n'a pas pu créer la demande d'activation pour « {organization} »{status} ; "
                "réessayez l'activation dans un instant. / Jira could not create the activation "
                f"request for “{organization}”{status}; try the activation again in a moment."
            )
        else:
            # A retry would open a second request, so the message points to the one that exists.
            message = (
                f"Jira a créé la demande d'activation {issue_key} pour « {organization} » mais n'a pas "
                f"pu y ajouter la présentation{status} ; ajoutez-la sur cette demande. / Jira created "
                f"the activation request {issue_key} for “{organization}” but could not add the "
                f"presentation to it{status}; add it on that request."
            )
        raise PresentationFailed(message, issue_key=issue_key) from error

    log.info("Chat presented to organization %s on %s (subscription %s)",
             subscription.organization_id, issue_key, subscription.id)
    return issue_key


def _desk_and_type(jira, settings):
    desk_id = settings.get("service_desk_id")
    if not desk_id:
        desks = jira.service_desk.get_service_desks() or []
        if not desks:
            raise PresentationFailed("Aucun service desk n'existe sur ce site. / This site has no service desk.")
        desk_id = desks[0]["id"]
    page = jira.service_desk.get_request_types(str(desk_id)) or {}
    types = page.get("values", []) if isinstance(page, dict) else page
    by_name = {str(item.get("name", "")).casefold(): str(item["id"]) for item in types}

    type_id = (by_name.get(QUESTION_REQUEST_TYPE_NAME.casefold())
               or settings.get("request_type_id")
               or by_name.get(CHAT_REQUEST_TYPE_NAME.casefold()))
    if not type_id:
        raise PresentationFailed(
            f"Le service desk {desk_id} n'a ni type de demande « {QUESTION_REQUEST_TYPE_NAME} » ni "
            f"« {CHAT_REQUEST_TYPE_NAME} » ; choisissez le type de la discussion dans les paramètres. "
            f"/ Service desk {desk_id} has neither a “{QUESTION_REQUEST_TYPE_NAME}” nor a "
            f"“{CHAT_REQUEST_TYPE_NAME}” request type; choose the chat's type in the settings."
        )
    return str(desk_id), str(type_id)


def _display_names(jira, account_ids):
    """Return the key users' display names, sorted. An account that Jira does not return shows its id."""
    if not account_ids:
        return []
    found = {user["accountId"]: user.get("displayName") for user in jira.get_users_bulk(account_ids)}
    names = [found.get(account_id) or f"compte {account_id}" for account_id in account_ids]
    return sorted(names, key=str.casefold)


def _comment(jira, issue_key, body, actor_account_id):
    if actor_account_id:
        try:
            with jira.as_user(actor_account_id) as actor:
                actor.add_request_comment(issue_key, body, public=True)
            return
        except ImpersonationRefused as error:
            log.warning("Writing the presentation of %s as the app user: %s", issue_key, error)
    jira.add_request_comment(issue_key, body, public=True)


def guide_url(path, lang="fr"):
    """Return the absolute URL of a public guide page on the add-on's base URL."""
    return f"{current_app.config['ADDON_BASE_URL'].rstrip('/')}{path}?lang={lang}"


def activation_description(subscription):
    """Build the French description of the activation request, which names the contract's dates."""
    starts = subscription.starts_on.strftime("%d/%m/%Y")
    if subscription.ends_on:
        period = f"du {starts} au {subscription.ends_on.strftime('%d/%m/%Y')}"
    else:
        period = f"depuis le {starts}, sans date de fin"
    return (f"Activation du contrat de souscription {subscription.contract_reference} de "
            f"{subscription.organization_name} ({period}). La présentation de la discussion support "
            "suit en commentaire.")


def _first_response_sentence(tier):
    hours = FIRST_RESPONSE_BUSINESS_HOURS.get(tier)
    if hours is None:
        return (f"- Première réponse : dans le délai prévu par votre niveau de service « {tier} », "
                "compté en heures ouvrées du support (hors week-ends et jours fériés).")
    return (f"- Première réponse : un technicien vous répond dans les {hours} heures ouvrées qui "
            f"suivent l'ouverture de la discussion (niveau de service « {tier} » ; heures ouvrées "
            "du support, hors week-ends et jours fériés).")


def presentation_text(subscription, key_user_names, portal_url, support_email=None):
    """Build the French plain text of the presentation comment."""
    email_line = (f"- Par e-mail au support : {support_email}" if support_email
                  else "- Par e-mail au support, à l'adresse habituelle de votre contrat.")
    users = [f"- {name}" for name in key_user_names] or [
        "- Aucun pour l'instant : communiquez-nous les personnes à nommer."]
    lines = [
        "Bonjour,",
        "",
        f"Le contrat de souscription {subscription.contract_reference} de "
        f"{subscription.organization_name} est actif. Vos utilisateurs clés peuvent désormais "
        "discuter en direct avec le support depuis le portail client.",
        "",
        "CE QUE PERMET LA DISCUSSION",
        "- Démarrer une discussion depuis le portail en indiquant le domaine fonctionnel, un résumé "
        "et l'impact (bloquant, fonctionnement dégradé ou question), puis votre message.",
        "- Échanger en direct avec un technicien du support, et revenir plus tard : la discussion "
        "reste attachée à sa demande.",
        "- Retrouver chaque message sur la demande, visible sur le portail : tout est tracé.",
        "",
        "RÈGLES ET LIMITES",
        "- La discussion sert aux questions d'utilisation et aux incidents de l'ERP.",
        "- Elle n'est pas destinée à la formation ni à l'aide aux personnalisations : pour ces "
        "sujets, faites une demande par le formulaire du portail.",
        _first_response_sentence(subscription.sla_tier),
        "- Seuls les utilisateurs clés nommés ci-dessous peuvent l'utiliser, tant que le contrat "
        "est actif.",
        "",
        "AUTRES CANAUX",
        f"- Par le formulaire de demande du portail : {portal_url}",
        email_line,
        "",
        "VOS UTILISATEURS CLÉS",
        *users,
        "",
        "POUR EN SAVOIR PLUS",
        f"- Guide d'utilisation : {guide_url(GUIDE_PATH)}",
        f"- Règles d'utilisation : {guide_url(RULES_PATH)}",
        "",
        "L'équipe support",
    ]
    return "\n".join(lines)
