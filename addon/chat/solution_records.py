"""Reading and recording proposed solutions: the views and live frames of a solution, and the
chat events of its steps (addon/chat/solutions.py and satisfaction.py change them)."""

from sqlalchemy import select

from ..errors import AddonError, NotFound
from ..models import Installation, utcnow
from . import fanout
from .actions import database, insert_message, wake_outbox
from .models import (
    AuthorRole,
    Message,
    MessageKind,
    Origin,
    ProposedSolution,
    SatisfactionSurvey,
    SolutionOutcome,
    SyncState,
    Visibility,
)

# Live frames: the solution's state for everyone, and the agents' alert.
SOLUTION_FRAME = "solution"
ALERT_FRAME = "solution_alert"


class Conflict(AddonError):
    code = "conflict"
    status = 409


# -- views --------------------------------------------------------------------------------------

def portal_url(installation, conversation):
    """Return the portal page where a customer raises a new request on the conversation's desk."""
    return f"{installation.base_url.rstrip('/')}/servicedesk/customer/portal/{conversation.service_desk_id}"


def latest_solution(session, conversation_id):
    statement = (select(ProposedSolution).where(ProposedSolution.conversation_id == conversation_id)
                 .order_by(ProposedSolution.id.desc()).limit(1).execution_options(populate_existing=True))
    return session.execute(statement).scalar_one_or_none()


def survey_of(session, solution_id):
    statement = select(SatisfactionSurvey).where(SatisfactionSurvey.solution_id == solution_id)
    return session.execute(statement.execution_options(populate_existing=True)).scalar_one_or_none()


def _iso(moment):
    return moment.isoformat() if moment is not None else None


def public_view(solution, survey, conversation):
    """Return the solution as every reader of the chat may see it (the live frames carry this)."""
    if solution is None:
        return None
    view = {
        "id": solution.id,
        "message_id": solution.message_id,
        "state": solution.state,
        "proposed_by": {"account_id": solution.proposed_by_account_id, "name": solution.proposed_by_name},
        "proposed_at": _iso(solution.proposed_at),
        "answered_by": ({"account_id": solution.answered_by_account_id, "name": solution.answered_by_name}
                        if solution.answered_by_account_id else None),
        "answered_at": _iso(solution.answered_at),
        "outcome": solution.outcome,
        "status_before": solution.status_before,
        "status_after": solution.status_after,
        "transitioned_by": solution.transitioned_by,
        "satisfaction": None,
        "portal_url": None,
    }
    if solution.outcome == SolutionOutcome.NEW_REQUEST:
        installation = database().session.get(Installation, conversation.installation_id)
        view["portal_url"] = portal_url(installation, conversation)
    if survey is not None:
        view["satisfaction"] = {
            "asked_to": survey.account_id, "language": survey.language,
            "answered": survey.answered_at is not None, "declined": survey.declined_at is not None,
        }
    return view


def solution_view(conversation, viewer):
    """Return the conversation's latest solution for `viewer`, or None when none was proposed.

    Agents, and the key user who answered the satisfaction question, also see the rating.
    """
    session = database().session
    solution = latest_solution(session, conversation.id)
    if solution is None:
        return None
    survey = survey_of(session, solution.id)
    view = public_view(solution, survey, conversation)
    if survey is not None and (viewer.is_agent or survey.account_id == viewer.account_id):
        view["satisfaction"].update({"rating": survey.rating, "comment": survey.comment})
    return view


def solution_frame(conversation, view):
    return {"type": SOLUTION_FRAME, "conversation_id": conversation.id, "issue_key": conversation.issue_key,
            "solution": view}


def alert_frame(conversation, view, text):
    # fanout.may_receive gives entries marked internal to agents only.
    return {"type": ALERT_FRAME, "conversation_id": conversation.id, "issue_key": conversation.issue_key,
            "visibility": Visibility.INTERNAL, "solution": view, "message": text}


# -- recording ----------------------------------------------------------------------------------

def record_event(session, conversation, event_type, body, *, visibility, author_account_id=None,
                 author_role=AuthorRole.SYSTEM, author_name=None, traced=True, key=None):
    """Add a chat event under the conversation's lock; `traced` queues its comment on the request.

    `key` becomes the event's client_message_id, so that one step never gets two events.
    """
    return insert_message(
        session, conversation, client_message_id=key, author_account_id=author_account_id,
        author_role=author_role, author_name=author_name, visibility=visibility, kind=MessageKind.EVENT,
        event_type=event_type, body=body, origin=Origin.CHAT,
        sync_state=SyncState.PENDING if traced else SyncState.NOT_APPLICABLE,
        next_sync_at=utcnow() if traced else None,
    )


def announce(conversation, payloads):
    """Publish committed payloads in order and wake the outbox for the comments they queued."""
    for payload in payloads:
        fanout.publish(conversation.installation_id, conversation.id, payload)
    wake_outbox()


def load_solution(session, conversation_id, solution_id):
    solution = session.get(ProposedSolution, solution_id, populate_existing=True)
    if solution is None or solution.conversation_id != conversation_id:
        raise NotFound(f"Solution proposée introuvable ({solution_id}). / Proposed solution not found ({solution_id}).")
    return solution


def proposal_body(session, solution):
    message = session.get(Message, solution.message_id)
    return message.body if message is not None and message.deleted_at is None else ""
