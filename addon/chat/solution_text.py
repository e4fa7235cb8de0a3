"""Texts of the solution steps: the comments traced on the request, and the satisfaction question.

The app user writes these comments (see addon/sync/outbox_write.py), so each one names the person
who acted. They are in French, the language of the support team's Jira site. The question goes to
the key user in their own language, through the translation catalogue (msgids are French).
"""

from flask_babel import force_locale, gettext

from .. import french
from .models import SolutionOutcome

# A proposed message is quoted up to this many characters in the comments.
EXCERPT_CHARS = 300
SUPPORTED_LANGUAGES = ("fr", "en")


def excerpt(text):
    """Return `text` on one line, cut to EXCERPT_CHARS with an ellipsis."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[:EXCERPT_CHARS - 1].rstrip() + "…"


def _agent(solution):
    return solution.proposed_by_name or solution.proposed_by_account_id


def _customer(solution):
    return solution.answered_by_name or solution.answered_by_account_id


def proposed_comment(solution, proposal_body):
    """Return the public comment of a proposal."""
    return f"{_agent(solution)} propose comme solution dans la discussion : « {excerpt(proposal_body)} »"


def _moved(solution, resolution):
    sentence = f"La demande passe au statut « {solution.status_after} »"
    if resolution:
        sentence += f" (résolution « {resolution} »)"
    sentence += "."
    if solution.transitioned_by == "app":
        sentence += (f" Jira ne permettant pas à {_customer(solution)} de faire cette transition, "
                     "l'application l'a faite en son nom.")
    return sentence


def validated_comment(solution, proposal_body, resolution=None, target_status=None):
    """Return the public comment of a validation, with what it did to the request."""
    lines = [f"{_customer(solution)} a validé dans la discussion la solution proposée par {_agent(solution)} : "
             f"« {excerpt(proposal_body)} »"]
    outcome = solution.outcome
    if outcome == SolutionOutcome.RESOLVED:
        lines.append(_moved(solution, resolution))
    elif outcome == SolutionOutcome.ALREADY_RESOLVED:
        lines.append(f"La demande était déjà au statut « {solution.status_before} ».")
    elif outcome == SolutionOutcome.CLOSED:
        lines.append(f"La demande était déjà clôturée (statut « {solution.status_before} ») : la validation "
                     "est enregistrée sans changement de statut.")
    elif outcome == SolutionOutcome.NO_TRANSITION:
        lines.append(f"La demande reste au statut « {solution.status_before} » : un technicien va la passer "
                     f"au statut « {target_status or 'résolu'} ».")
    return "\n\n".join(lines)


def persists_comment(solution, proposal_body, portal_url=None):
    """Return the public comment of "the problem persists", with what it did to the request."""
    lines = [f"{_customer(solution)} indique dans la discussion que le problème persiste malgré la solution "
             f"proposée par {_agent(solution)} : « {excerpt(proposal_body)} »"]
    outcome = solution.outcome
    if outcome == SolutionOutcome.REOPENED:
        lines.append(_moved(solution, None))
    elif outcome == SolutionOutcome.KEPT_OPEN:
        lines.append(f"La demande reste ouverte (statut « {solution.status_after} »).")
    elif outcome == SolutionOutcome.NEW_REQUEST:
        lines.append(f"La demande est clôturée (statut « {solution.status_before} ») et ne peut plus être "
                     f"rouverte : une nouvelle demande est à créer depuis le portail : {portal_url}")
    return "\n\n".join(lines)


def persists_alert(solution):
    """Return the internal note that alerts the support team that a solution did not work."""
    return (f"À traiter : {_customer(solution)} indique dans la discussion que le problème persiste après "
            f"la solution proposée par {_agent(solution)}. Statut : « {solution.status_before} » → "
            f"« {solution.status_after} ».")


def no_transition_alert(solution, target_status, reason):
    """Return the internal note asking an agent to resolve a request the add-on could not move."""
    return (f"À traiter : {_customer(solution)} a validé la solution, "
            f"mais la demande n'a pas pu passer au statut « {target_status or 'résolu'} » depuis "
            f"« {solution.status_before} » ({reason}). Résolvez-la dans Jira.")


def satisfaction_comment(survey, customer_name):
    """Return the internal comment of a satisfaction answer, or of a declined question."""
    name = customer_name or survey.account_id
    if survey.declined_at is not None:
        return f"Satisfaction : {name} a préféré ne pas répondre à la question de satisfaction."
    text = f"Satisfaction {french.de(name)} après la solution validée : {survey.rating}/5."
    if survey.comment:
        text += f"\n\nCommentaire : « {survey.comment} »"
    return text


def language_of(locale):
    """Map a Jira locale (fr_FR, en_US, …) to a supported language, French by default."""
    language = (locale or "").replace("-", "_").split("_")[0].lower()
    return language if language in SUPPORTED_LANGUAGES else "fr"


def satisfaction_question(language):
    """Return the satisfaction question in `language` ("fr" or "en")."""
    with force_locale(language):
        return gettext("Êtes-vous satisfait de l'aide reçue ? Donnez une note de 1 (pas du tout) à 5 "
                       "(tout à fait), avec un commentaire si vous le souhaitez. Cette question est facultative.")
