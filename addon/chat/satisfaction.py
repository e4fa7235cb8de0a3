"""The one optional satisfaction question asked after a validated solution, and its answer.

The question is a public chat event in the key user's language, shown to them with a 1-to-5
rating and an optional comment. Only the key user it was put to answers it, once, or declines it.
The answer is stored on the survey row and traced as an internal comment, because a rating is a
fact for the support team.
"""

import logging

from ..errors import InvalidInput, NotFound, PermissionDenied
from ..models import utcnow
from ..sync.comment_text import normalize_text
from . import fanout, solution_text
from .actions import database, lock_conversation
from .models import AuthorRole, SatisfactionSurvey, Visibility
from .solution_records import (
    Conflict,
    announce,
    latest_solution,
    public_view,
    record_event,
    solution_frame,
    survey_of,
)

log = logging.getLogger(__name__)

ASKED_EVENT = "satisfaction_asked"
ANSWERED_EVENT = "satisfaction_answered"
MIN_RATING = 1
MAX_RATING = 5
COMMENT_MAX_CHARS = 2000


def ask_satisfaction(session, conversation, solution, viewer, language):
    """Store the question for the key user `viewer`, add its chat event and return (survey, event).

    Runs in the caller's transaction, under the conversation's lock.
    """
    survey = SatisfactionSurvey(solution_id=solution.id, conversation_id=conversation.id,
                                account_id=viewer.account_id, language=language, asked_at=utcnow())
    session.add(survey)
    session.flush()
    event = record_event(session, conversation, ASKED_EVENT, solution_text.satisfaction_question(language),
                         visibility=Visibility.PUBLIC, traced=False, key=f"solution-{solution.id}:asked")
    return survey, event


def _clean(rating, comment, declined):
    if declined is not None and not isinstance(declined, bool):
        raise InvalidInput("declined doit valoir true ou false. / declined must be true or false.")
    if declined:
        return None, None
    if isinstance(rating, bool) or not isinstance(rating, int) or not MIN_RATING <= rating <= MAX_RATING:
        raise InvalidInput(f"La note doit être un entier de {MIN_RATING} à {MAX_RATING}, reçu {str(rating)[:20]!r}. "
                           f"/ The rating must be a whole number from {MIN_RATING} to {MAX_RATING}, "
                           f"got {str(rating)[:20]!r}.")
    if comment is not None and not isinstance(comment, str):
        raise InvalidInput("Le commentaire doit être un texte. / The comment must be text.")
    comment = normalize_text(comment or "").strip() or None
    if comment and len(comment) > COMMENT_MAX_CHARS:
        raise InvalidInput(f"Le commentaire dépasse {COMMENT_MAX_CHARS} caractères ({len(comment)}) ; raccourcissez-le. "
                           f"/ The comment exceeds {COMMENT_MAX_CHARS} characters ({len(comment)}); shorten it.")
    return rating, comment


def answer(viewer, conversation, *, rating=None, comment=None, declined=False):
    """Record the key user's answer to the satisfaction question, or that they declined it, and return the survey."""
    if viewer.is_agent:
        raise PermissionDenied("Seul l'utilisateur clé répond à la question de satisfaction. "
                               "/ Only the key user answers the satisfaction question.")
    rating, comment = _clean(rating, comment, declined)

    with database().transaction() as session:
        conversation = lock_conversation(session, conversation.id)
        solution = latest_solution(session, conversation.id)
        survey = survey_of(session, solution.id) if solution is not None else None
        if survey is None:
            raise NotFound("Aucune question de satisfaction n'attend de réponse dans cette discussion. "
                           "/ No satisfaction question waits for an answer in this chat.")
        if survey.account_id != viewer.account_id:
            raise PermissionDenied("La question de satisfaction a été posée à l'utilisateur clé qui a validé la "
                                   "solution ; lui seul y répond. / The satisfaction question was asked to the key "
                                   "user who validated the solution; only they answer it.")
        if survey.answered_at is not None or survey.declined_at is not None:
            raise Conflict("Vous avez déjà répondu à la question de satisfaction ; merci. "
                           "/ You already answered the satisfaction question; thank you.", code="already_answered")
        if declined:
            survey.declined_at = utcnow()
        else:
            survey.rating, survey.comment, survey.answered_at = rating, comment, utcnow()
        event = record_event(session, conversation, ANSWERED_EVENT,
                             solution_text.satisfaction_comment(survey, viewer.display_name),
                             visibility=Visibility.INTERNAL, author_account_id=viewer.account_id,
                             author_role=AuthorRole.CUSTOMER, author_name=viewer.display_name,
                             key=f"solution-{solution.id}:satisfaction")
        payloads = [fanout.message_payload(conversation, event),
                    solution_frame(conversation, public_view(solution, survey, conversation))]

    log.info("Satisfaction of %s on %s recorded: %s", viewer.account_id, conversation.issue_key,
             "declined" if declined else f"{rating}/5")
    announce(conversation, payloads)
    return survey
