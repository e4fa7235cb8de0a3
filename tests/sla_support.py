"""Helpers of the SLA tests: an injectable clock, and reads of clocks and events from the database."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from addon.models import WebhookEvent
from addon.sla.models import SlaClock, SlaEvent

PARIS = ZoneInfo("Europe/Paris")
# Monday 2 March 2026, 10:00 in Paris: the default calendar is open 09:00-12:00 and 14:00-18:00.
MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=PARIS)


class FakeClock:
    """The SLA clock of a test app (config SLA_NOW): it moves only when the test moves it."""

    def __init__(self, start=MONDAY_10):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)
        return self.now

    def set(self, moment):
        self.now = moment
        return moment


def paris(year, month, day, hour, minute=0):
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def clocks_of(app, conversation_id):
    """Return the conversation's SLA clocks, oldest first, read in a session of their own."""
    with Session(app.extensions["database"].engine) as session:
        statement = select(SlaClock).where(SlaClock.conversation_id == conversation_id).order_by(SlaClock.id)
        return list(session.execute(statement).scalars())


def clock_of(app, conversation_id):
    """Return the conversation's latest SLA clock."""
    return clocks_of(app, conversation_id)[-1]


def all_events(app):
    """Return every SLA event, in insertion order."""
    with Session(app.extensions["database"].engine) as session:
        return list(session.execute(select(SlaEvent).order_by(SlaEvent.id)).scalars())


def event_kinds(app, conversation_id):
    """Return (round, kind) of the events of the conversation's clocks, in insertion order."""
    with Session(app.extensions["database"].engine) as session:
        statement = (select(SlaClock.round, SlaEvent.kind).join(SlaClock, SlaClock.id == SlaEvent.clock_id)
                     .where(SlaClock.conversation_id == conversation_id).order_by(SlaEvent.id))
        return [tuple(row) for row in session.execute(statement)]


def webhooks_processed(app):
    """Tell whether every stored webhook delivery has been processed."""
    with Session(app.extensions["database"].engine) as session:
        pending = session.execute(select(WebhookEvent.id).where(WebhookEvent.processed_at.is_(None))).first()
        return pending is None
