"""The SLA clock during an appointment: paused from the key user's pick until the slot starts.

The move row stores the instant (`sla_paused_until`). The SLA sweeper calls `resume_due` at each
sweep, which resumes the clocks whose slot has come, and bringing the conversation back to the
chat resumes it at once. While a hold lasts, a status change does not resume the clock
(addon/sla/clock.py calls `is_held`).
"""

import logging

from sqlalchemy import select

from ..sla import clock as sla_clock
from ..sla.deadlines import iso_utc, parse_utc  # noqa: F401  (re-exported for moves.py)
from .actions import database, lock_conversation
from .moves_models import ConversationMove

log = logging.getLogger(__name__)

# Holds resumed per sweep; the rest wait for the next sweep.
RESUME_BATCH = 200


def hold(session, conversation, move, until, now):
    """Pause the conversation's open clock until `until`, in the caller's transaction under its lock.

    Return whether an open clock is held. A clock already paused (the request waits for the
    customer) is held too, so that a status change before the slot does not resume it.
    """
    clock = sla_clock.hold(session, conversation, now)
    if clock is None:
        return False
    move.sla_paused_until = until
    log.info("SLA clock %s of conversation %s (%s) held until the appointment at %s (move %s)", clock.id,
             conversation.id, conversation.issue_key, iso_utc(until), move.id)
    return True


def release(session, conversation, move, now):
    """End the move's hold, if one lasts, and resume the clock unless the status pauses it."""
    if move.sla_paused_until is None or move.sla_resumed_at is not None:
        return
    move.sla_resumed_at = now
    session.flush()
    sla_clock.release_hold(session, conversation, now)


def is_held(session, conversation_id, now):
    """Tell whether a move holds the conversation's clock at `now`."""
    return held_until(session, conversation_id, now) is not None


def held_until(session, conversation_id, now):
    """Return when the appointment that holds the conversation's clock starts, or None."""
    return session.execute(select(ConversationMove.sla_paused_until).where(
        ConversationMove.conversation_id == conversation_id, ConversationMove.sla_paused_until > now,
        ConversationMove.sla_resumed_at.is_(None)).order_by(ConversationMove.sla_paused_until).limit(1)).scalar()


def resume_due(now):
    """Resume the clocks whose appointment starts at or before `now`; return the ids of the moves released.

    Each hold is released in a transaction of its own, under its conversation's lock, and a
    hold already released by another process or by a bring-back is skipped.
    """
    session = database().session
    due = session.execute(select(ConversationMove.id, ConversationMove.conversation_id).where(
        ConversationMove.sla_paused_until <= now, ConversationMove.sla_resumed_at.is_(None),
    ).order_by(ConversationMove.sla_paused_until).limit(RESUME_BATCH)).all()
    session.commit()
    released = []
    for move_id, conversation_id in due:
        with database().transaction() as session:
            conversation = lock_conversation(session, conversation_id)
            move = session.get(ConversationMove, move_id, populate_existing=True)
            if move is None or move.sla_resumed_at is not None:
                continue
            move.sla_resumed_at = now
            session.flush()
            sla_clock.release_hold(session, conversation, now)
        log.info("SLA hold of move %s ended: conversation %s (%s), appointment at %s", move_id,
                 conversation_id, conversation.issue_key, iso_utc(move.sla_paused_until))
        released.append(move_id)
    return released
