"""Proposed solutions: an agent proposes a message, and the key user validates it or reports that
the problem persists.

- Proposing: an agent marks a public message of the support side. A proposal that waits for an
  answer is superseded by the next one.
- Validating: only a key user who may write in the chat answers, never an agent for them. The
  request moves to the solution status through its workflow (solution_jira.py) and the SLA clock
  stops. A request already in that status, or closed, keeps its status and the validation is
  recorded. When the workflow offers no way to the solution status, agents get an internal note,
  and the clock runs on until they resolve the request. Then the key user gets one optional
  satisfaction question (satisfaction.py).
- "The problem persists": a resolved request, or one waiting for the customer, moves back to the
  reopen status. A closed one cannot, so the key user is pointed to the portal to raise a new
  request. Agents get an internal alert frame and an internal note naming the key user who
  reported it.

Each step (proposal, validation, "persists", satisfaction answer) is a chat event whose comment
the outbox writes once, as the app user (addon/sync/outbox_write.py). Jira is called before the
database transaction that records the answer. That transaction records it only if the proposal
still waits, so a double click records one answer.
"""

import logging

from sqlalchemy import select

from ..atlassian.installations import get_active_installation
from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import JiraError
from ..errors import AddonError, InvalidInput, NotFound, PermissionDenied
from ..models import utcnow
from ..settings import get_settings
from ..sla import clock as sla_clock
from ..sync.jira_status import state_of
from . import fanout, solution_jira, solution_text
from .actions import database, lock_conversation
from .models import (
    AuthorRole,
    ConversationState,
    Message,
    MessageKind,
    ProposedSolution,
    SolutionOutcome,
    SolutionState,
    Visibility,
)
from .satisfaction import ask_satisfaction
from .solution_records import (
    Conflict,
    alert_frame,
    announce,
    load_solution,
    portal_url,
    proposal_body,
    public_view,
    record_event,
    solution_frame,
)

log = logging.getLogger(__name__)

PROPOSED_EVENT = "solution_proposed"
VALIDATED_EVENT = "solution_validated"
PERSISTS_EVENT = "solution_persists"
ALERT_EVENT = "solution_alert"


class JiraUnreachable(AddonError):
    code = "jira_unavailable"
    status = 503


# -- proposing ----------------------------------------------------------------------------------

def propose(viewer, conversation_id, message_id):
    """Mark message `message_id` as the proposed solution and return (ProposedSolution, created).

    Proposing the waiting proposal again returns it with created=False.
    """
    if not viewer.is_agent:
        raise PermissionDenied("Seuls les techniciens du support peuvent proposer une solution. "
                               "/ Only support agents can propose a solution.")
    with database().transaction() as session:
        conversation = lock_conversation(session, conversation_id)
        if conversation.state == ConversationState.CLOSED:
            raise Conflict(f"La demande {conversation.issue_key} est clôturée : aucune solution ne peut plus être "
                           f"proposée. / Request {conversation.issue_key} is closed: no solution can be proposed any more.",
                           code="request_closed")
        message = session.get(Message, message_id)
        _check_proposable(conversation, message, message_id)
        existing = session.execute(select(ProposedSolution).where(
            ProposedSolution.conversation_id == conversation.id, ProposedSolution.message_id == message.id,
        )).scalar_one_or_none()
        if existing is not None:
            if existing.state == SolutionState.PROPOSED:
                return existing, False
            raise Conflict(f"Le message {message.id} a déjà été proposé et l'utilisateur clé a répondu ; proposez "
                           f"un autre message. / Message {message.id} was proposed already and the key user "
                           "answered; propose another message.", code="already_answered")

        for waiting in session.execute(select(ProposedSolution).where(
                ProposedSolution.conversation_id == conversation.id,
                ProposedSolution.state == SolutionState.PROPOSED)).scalars():
            waiting.state = SolutionState.SUPERSEDED
        solution = ProposedSolution(conversation_id=conversation.id, message_id=message.id,
                                    proposed_by_account_id=viewer.account_id, proposed_by_name=viewer.display_name,
                                    proposed_at=utcnow(), state=SolutionState.PROPOSED)
        session.add(solution)
        session.flush()
        event = record_event(session, conversation, PROPOSED_EVENT, solution_text.proposed_comment(solution, message.body),
                             visibility=Visibility.PUBLIC, author_account_id=viewer.account_id,
                             author_role=AuthorRole.AGENT, author_name=viewer.display_name,
                             key=f"solution-{solution.id}:proposed")
        payloads = [fanout.message_payload(conversation, event),
                    solution_frame(conversation, public_view(solution, None, conversation))]

    log.info("Solution %s proposed on %s (conversation %s, message %s) by %s", solution.id,
             conversation.issue_key, conversation.id, message.id, viewer.account_id)
    announce(conversation, payloads)
    return solution, True


def _check_proposable(conversation, message, message_id):
    if message is None or message.conversation_id != conversation.id:
        raise NotFound(f"Message introuvable dans cette discussion ({message_id}). "
                       f"/ Message not found in this chat ({message_id}).")
    if message.kind != MessageKind.MESSAGE or message.deleted_at is not None:
        raise InvalidInput(f"L'entrée {message_id} n'est pas un message : choisissez un message du support. "
                           f"/ Entry {message_id} is not a message: choose a message of the support team.")
    if message.author_role != AuthorRole.AGENT or message.visibility != Visibility.PUBLIC:
        raise InvalidInput(f"Le message {message_id} n'est pas une réponse publique du support : seule une réponse "
                           f"que l'utilisateur clé voit peut être proposée. / Message {message_id} is not a public "
                           "reply of the support team: only a reply the key user sees can be proposed.")


# -- answering ----------------------------------------------------------------------------------

def _check_answerable(viewer, solution, answered_state):
    """Return True when `solution` already has this answer (a repeat), and raise when it cannot get it."""
    if viewer.is_agent:
        raise PermissionDenied("Seul l'utilisateur clé répond à une solution proposée ; un technicien ne peut pas "
                               "répondre à sa place. / Only the key user answers a proposed solution; an agent "
                               "cannot answer for them.")
    if solution.state == answered_state:
        return True
    if solution.state != SolutionState.PROPOSED:
        raise Conflict(f"Cette solution n'attend plus de réponse (état : {solution.state}). "
                       f"/ This solution no longer waits for an answer (state: {solution.state}).",
                       code="already_answered")
    return False


def _answered_meanwhile(conversation, solution_id, error):
    """Return the solution when a concurrent request recorded an answer while Jira failed this one.

    Two clicks at once may both try the transition, and Jira rejects the second one. When no answer
    was recorded, raise JiraUnreachable and record nothing.
    """
    session = database().session
    solution = load_solution(session, conversation.id, solution_id)
    end_read(session)
    if solution.state != SolutionState.PROPOSED:
        log.info("Jira failed on solution %s of %s, which was answered meanwhile (%s): %s",
                 solution.id, conversation.issue_key, solution.state, error)
        return solution
    raise _jira_failed(conversation, error) from None


def _jira_failed(conversation, error):
    log.error("Jira failed while the key user's answer to the solution of %s (installation %s) was "
              "recorded, so nothing changed: %s", conversation.issue_key, conversation.installation_id, error)
    return JiraUnreachable("Jira n'a pas pu enregistrer votre réponse ; rien n'a changé, réessayez dans un instant. "
                           "/ Jira could not record your answer; nothing changed, try again in a moment.")


def end_read(session):
    """End the session's read transaction before calling Jira.

    Webhooks commit while Jira responds, and SQLite cannot turn a read transaction that began
    before another commit into a write one, so the recording transaction must start afresh.
    Sessions keep their objects on commit (expire_on_commit=False).
    """
    session.commit()


def _installation(viewer):
    installation = get_active_installation(viewer.client_key)
    if installation is None:
        raise NotFound("Le module n'est plus installé sur ce site. / The app is no longer installed on this site.")
    return installation


def validate(viewer, conversation, solution_id):
    """Record the key user's validation of a proposed solution, resolve the request and return the solution."""
    session = database().session
    solution = load_solution(session, conversation.id, solution_id)
    if _check_answerable(viewer, solution, SolutionState.VALIDATED):
        return solution
    installation = _installation(viewer)
    settings = get_settings(installation.id)
    end_read(session)

    decision = {"resolution": None, "target": settings.get("solution_status"), "reason": None,
                "transitioned_by": None, "language": "fr"}
    try:
        with jira_client_for(installation) as jira:
            before = solution_jira.current_status(jira, conversation.issue_key)
            outcome, after = _resolve(jira, conversation, viewer, before, settings, decision)
            decision["language"] = _language(jira, viewer.account_id)
    except JiraError as error:
        return _answered_meanwhile(conversation, solution_id, error)

    with database().transaction() as session:
        conversation = lock_conversation(session, conversation.id)
        solution = load_solution(session, conversation.id, solution_id)
        if solution.state != SolutionState.PROPOSED:
            log.info("Solution %s of %s was answered meanwhile (%s), so this validation is not recorded again",
                     solution.id, conversation.issue_key, solution.state)
            return solution
        _answer(solution, viewer, SolutionState.VALIDATED, outcome, before.name,
                after.name if after else before.name, decision["transitioned_by"])
        if after is not None and outcome != SolutionOutcome.NO_TRANSITION:
            conversation.state = state_of(after.name, after.category)
            conversation.jira_status = after.name
            sla_clock.on_status(session, conversation)
        body = proposal_body(session, solution)
        events = [record_event(session, conversation, VALIDATED_EVENT,
                               solution_text.validated_comment(solution, body, decision["resolution"], decision["target"]),
                               visibility=Visibility.PUBLIC, author_account_id=viewer.account_id,
                               author_role=AuthorRole.CUSTOMER, author_name=viewer.display_name,
                               key=f"solution-{solution.id}:validated")]
        alert = None
        if outcome == SolutionOutcome.NO_TRANSITION:
            alert = solution_text.no_transition_alert(solution, decision["target"], decision["reason"])
            events.append(record_event(session, conversation, ALERT_EVENT, alert, visibility=Visibility.INTERNAL,
                                       key=f"solution-{solution.id}:alert"))
        survey, asked = ask_satisfaction(session, conversation, solution, viewer, decision["language"])
        events.append(asked)
        view = public_view(solution, survey, conversation)
        payloads = [fanout.message_payload(conversation, event) for event in events]
        payloads.append(solution_frame(conversation, view))
        if alert:
            payloads.append(alert_frame(conversation, view, alert))

    log.info("Solution %s of %s validated by %s: %s (%s -> %s, by %s)", solution.id, conversation.issue_key,
             viewer.account_id, outcome, solution.status_before, solution.status_after, solution.transitioned_by)
    announce(conversation, payloads)
    return solution


def _resolve(jira, conversation, viewer, before, settings, decision):
    """Move the request to the solution status when possible and return (outcome, status after or None)."""
    if solution_jira.is_solution_status(before, settings):
        return SolutionOutcome.ALREADY_RESOLVED, before
    if before.is_done:
        return SolutionOutcome.CLOSED, before
    transitions = solution_jira.transitions_of(jira, conversation.issue_key)
    transition = solution_jira.solution_transition(transitions, settings)
    if transition is None:
        decision["reason"] = "aucune transition vers ce statut depuis le statut actuel"
        log.warning("No transition of %s leads from %r to the solution status %r. Offered: %s",
                    conversation.issue_key, before.name, settings.get("solution_status") or "Resolved",
                    [(t.get("id"), (t.get("to") or {}).get("name")) for t in transitions])
        return SolutionOutcome.NO_TRANSITION, None
    target = transition.get("to") or {}
    decision["target"] = target.get("name")
    try:
        fields = solution_jira.required_field_values(transition, settings)
    except solution_jira.FieldNotFillable as error:
        decision["reason"] = f"champ obligatoire non renseignable : {error}"
        log.warning("Solution transition of %s not made: %s", conversation.issue_key, error)
        return SolutionOutcome.NO_TRANSITION, None
    decision["resolution"] = (fields.get("resolution") or {}).get("name")
    decision["transitioned_by"] = solution_jira.apply_transition(jira, conversation.issue_key, transition, fields,
                                                                 viewer.account_id)
    after = solution_jira.RequestStatus(name=target.get("name") or "", id=str(target.get("id") or ""),
                                        category=(target.get("statusCategory") or {}).get("key") or "")
    return SolutionOutcome.RESOLVED, after


def _language(jira, account_id):
    try:
        return solution_text.language_of((jira.get_user(account_id) or {}).get("locale"))
    except JiraError as error:
        log.warning("Language of %s not read, so the question is asked in French: %s", account_id, error)
        return "fr"


def _answer(solution, viewer, state, outcome, status_before, status_after, transitioned_by):
    solution.state = state
    solution.answered_by_account_id = viewer.account_id
    solution.answered_by_name = viewer.display_name
    solution.answered_at = utcnow()
    solution.outcome = outcome
    solution.status_before = status_before
    solution.status_after = status_after
    solution.transitioned_by = transitioned_by


def report_persists(viewer, conversation, solution_id):
    """Record that the problem persists, reopen the request if needed, alert agents and return the solution."""
    session = database().session
    solution = load_solution(session, conversation.id, solution_id)
    if _check_answerable(viewer, solution, SolutionState.PERSISTS):
        return solution
    installation = _installation(viewer)
    settings = get_settings(installation.id)
    end_read(session)

    try:
        with jira_client_for(installation) as jira:
            before = solution_jira.current_status(jira, conversation.issue_key)
            outcome, after, transitioned_by = _reopen(jira, conversation, viewer, before, settings)
    except JiraError as error:
        return _answered_meanwhile(conversation, solution_id, error)

    with database().transaction() as session:
        conversation = lock_conversation(session, conversation.id)
        solution = load_solution(session, conversation.id, solution_id)
        if solution.state != SolutionState.PROPOSED:
            log.info("Solution %s of %s was answered meanwhile (%s), so this answer is not recorded again",
                     solution.id, conversation.issue_key, solution.state)
            return solution
        _answer(solution, viewer, SolutionState.PERSISTS, outcome, before.name, after, transitioned_by)
        body = proposal_body(session, solution)
        url = portal_url(installation, conversation)
        alert = solution_text.persists_alert(solution)
        events = [
            record_event(session, conversation, PERSISTS_EVENT, solution_text.persists_comment(solution, body, url),
                         visibility=Visibility.PUBLIC, author_account_id=viewer.account_id,
                         author_role=AuthorRole.CUSTOMER, author_name=viewer.display_name,
                         key=f"solution-{solution.id}:persists"),
            record_event(session, conversation, ALERT_EVENT, alert, visibility=Visibility.INTERNAL,
                         key=f"solution-{solution.id}:alert"),
        ]
        view = public_view(solution, None, conversation)
        payloads = [fanout.message_payload(conversation, event) for event in events]
        payloads += [solution_frame(conversation, view), alert_frame(conversation, view, alert)]

    log.info("Key user %s reports that the problem of %s persists after solution %s: %s (%s -> %s, by %s)",
             viewer.account_id, conversation.issue_key, solution.id, outcome, solution.status_before,
             solution.status_after, solution.transitioned_by)
    announce(conversation, payloads)
    return solution


def _reopen(jira, conversation, viewer, before, settings):
    """Move a resolved or waiting request back to the reopen status and return (outcome, status after, actor)."""
    waiting = before.name.casefold() in {name.casefold() for name in settings.get("waiting_for_customer_statuses") or []}
    if not (before.is_done or waiting):
        return SolutionOutcome.KEPT_OPEN, before.name, None
    reopen_status = settings.get("reopen_status") or "Waiting for support"
    transitions = solution_jira.transitions_of(jira, conversation.issue_key)
    transition = solution_jira.transition_to(transitions, reopen_status)
    if transition is None:
        log.info("No transition of %s leads from %r to %r", conversation.issue_key, before.name, reopen_status)
        return (SolutionOutcome.NEW_REQUEST if before.is_done else SolutionOutcome.KEPT_OPEN), before.name, None
    try:
        fields = solution_jira.required_field_values(transition, settings)
    except solution_jira.FieldNotFillable as error:
        log.warning("Reopening %s failed: %s", conversation.issue_key, error)
        return (SolutionOutcome.NEW_REQUEST if before.is_done else SolutionOutcome.KEPT_OPEN), before.name, None
    actor = solution_jira.apply_transition(jira, conversation.issue_key, transition, fields, viewer.account_id)
    return SolutionOutcome.REOPENED, (transition.get("to") or {}).get("name") or reopen_status, actor
