"""Appointments: the slots an agent proposes, the key user's pick, and the .ics invitation.

Picking a slot calls Jira before the database transaction that records it: the key user's
language and e-mail address, then the invitation uploaded as a JSM temporary file and attached
to the request (public, so JSM shows it to the customer). When Jira fails, nothing is recorded
and the key user may try again. The SLA clock is then held until the slot starts (moves_sla.py).
"""

import logging
import uuid
from datetime import datetime, timedelta

from ..atlassian.installations import get_active_installation
from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import JiraError
from ..errors import AddonError, InvalidInput, NotFound, PermissionDenied
from ..settings import get_settings
from ..sla.deadlines import sla_now
from . import fanout, ics, moves_sla, moves_text, solution_text
from .actions import database, lock_conversation
from .models import AuthorRole, Visibility
from .moves import load_move, move_frame, request_portal_url, time_zone_of
from .moves_models import MoveState, MoveTarget
from .solution_records import Conflict, announce, record_event

log = logging.getLogger(__name__)

CONFIRMED_EVENT = "appointment_confirmed"
SLOTS_MAX = 3
DURATION_MIN_MINUTES = 15
DURATION_MAX_MINUTES = 480
# Slots are proposed at most this far ahead.
SLOT_HORIZON_DAYS = 365
ICS_CONTENT_TYPE = "text/calendar"


class JiraUnreachable(AddonError):
    code = "jira_unavailable"
    status = 503


def clean_slots(slots, calendar, now):
    """Return the proposed slot starts as aware datetimes, sorted, or raise InvalidInput.

    Each slot is an ISO 8601 date-time; one without an offset is read in the time zone of
    `calendar`, the site's SLA calendar. A slot must start while support is open.
    """
    zone = calendar.timezone
    if not isinstance(slots, list) or not 1 <= len(slots) <= SLOTS_MAX:
        raise InvalidInput(f"Proposez de 1 à {SLOTS_MAX} créneaux (liste de dates-heures). "
                           f"/ Propose 1 to {SLOTS_MAX} slots (a list of date-times).")
    starts = []
    for value in slots:
        try:
            start = datetime.fromisoformat(str(value))
        except ValueError:
            raise InvalidInput(f"Créneau invalide : {str(value)[:40]!r} ; écrivez par exemple 2026-12-08T14:00. "
                               f"/ Invalid slot {str(value)[:40]!r}; write e.g. 2026-12-08T14:00.") from None
        start = start.replace(tzinfo=zone) if start.tzinfo is None else start
        if start <= now:
            raise InvalidInput(f"Le créneau {value} est passé ; proposez une date à venir. "
                               f"/ Slot {value} is in the past; propose a future date.")
        if start > now + timedelta(days=SLOT_HORIZON_DAYS):
            raise InvalidInput(f"Le créneau {value} est à plus de {SLOT_HORIZON_DAYS} jours. "
                               f"/ Slot {value} is more than {SLOT_HORIZON_DAYS} days ahead.")
        if not calendar.is_open(start):
            raise InvalidInput(f"Le créneau {value} tombe hors des heures d'ouverture du support ; proposez un "
                               f"créneau pendant ces heures. / Slot {value} falls outside support hours; propose "
                               f"a slot within them.")
        starts.append(start)
    if len({start.timestamp() for start in starts}) != len(starts):
        raise InvalidInput("Deux créneaux sont identiques. / Two slots are the same.")
    return sorted(starts)


def clean_duration(value, settings):
    """Return the appointment's length in minutes: `value`, or the `appointment_minutes` setting."""
    if value is None:
        return int(settings.get("appointment_minutes") or 60)
    if isinstance(value, bool) or not isinstance(value, int) or not DURATION_MIN_MINUTES <= value <= DURATION_MAX_MINUTES:
        raise InvalidInput(f"Durée invalide : {str(value)[:20]!r} ; de {DURATION_MIN_MINUTES} à "
                           f"{DURATION_MAX_MINUTES} minutes. / Invalid duration {str(value)[:20]!r}; "
                           f"{DURATION_MIN_MINUTES} to {DURATION_MAX_MINUTES} minutes.")
    return value


def _slot_of(move, slot):
    """Return the start of the proposed slot named by `slot` (an index or a start date-time)."""
    starts = [moves_sla.parse_utc(start) for start in move.slots or []]
    if isinstance(slot, int) and not isinstance(slot, bool) and 0 <= slot < len(starts):
        return starts[slot]
    if isinstance(slot, str):
        try:
            wanted = datetime.fromisoformat(slot)
        except ValueError:
            wanted = None
        if wanted is not None and wanted.tzinfo is not None:
            match = next((start for start in starts if start == wanted), None)
            if match is not None:
                return match
    raise InvalidInput(f"Créneau inconnu : {str(slot)[:40]!r} ; choisissez l'un des créneaux proposés. "
                       f"/ Unknown slot {str(slot)[:40]!r}; choose one of the proposed slots.")


def _check_choosable(viewer, move):
    if viewer.is_agent:
        raise PermissionDenied("Seul l'utilisateur clé choisit le créneau du rendez-vous. "
                               "/ Only the key user chooses the appointment's slot.")
    if move.target != MoveTarget.APPOINTMENT or move.state != MoveState.ACTIVE:
        raise Conflict("Ce rendez-vous n'attend plus de choix de créneau. "
                       "/ This appointment no longer waits for a slot choice.", code="not_choosable")


def _person(user, fallback_name=None):
    return ics.Person(name=(user or {}).get("displayName") or fallback_name, email=(user or {}).get("emailAddress"))


def build_invitation(move, conversation, installation, start, customer, organizer_email, language, now):
    """Return the ics.Invitation of the chosen slot, worded in `language`."""
    portal_link = request_portal_url(installation, conversation)
    summary, description = moves_text.invitation_texts(
        language, issue_key=conversation.issue_key, summary=conversation.summary,
        agent=move.moved_by_name or move.moved_by_account_id, portal_link=portal_link)
    host = installation.base_url.split("//", 1)[-1].split("/", 1)[0]
    return ics.Invitation(
        uid=move.ics_uid or f"{uuid.uuid4()}@{host}", start=start,
        end=start + timedelta(minutes=move.duration_minutes), summary=summary, description=description,
        stamp=now, organizer=ics.Person(name=move.moved_by_name, email=organizer_email) if organizer_email else None,
        attendee=customer, url=portal_link, language=language)


def _attach(jira, conversation, filename, text):
    """Attach the invitation to the request through JSM; return the attachment's content link or None."""
    temporary_ids = jira.attach_temporary_file(conversation.service_desk_id, filename, text.encode("utf-8"),
                                               ICS_CONTENT_TYPE)
    result = jira.attach_to_request(conversation.issue_key, temporary_ids, public=True) or {}
    values = (result.get("attachments") or {}).get("values") or []
    return ((values[0].get("_links") or {}).get("content")) if values else None


def choose_slot(viewer, conversation, move_id, slot):
    """Record the key user's slot, attach the invitation to the request, hold the SLA clock; return the move."""
    session = database().session
    move = load_move(session, conversation.id, move_id)
    _check_choosable(viewer, move)
    if move.slot_start is not None:
        return move  # a repeat of the pick, or another tab
    start = _slot_of(move, slot)
    installation = get_active_installation(viewer.client_key)
    if installation is None:
        raise NotFound("Le module n'est plus installé sur ce site. / The app is no longer installed on this site.")
    settings = get_settings(installation.id)
    zone = time_zone_of(installation.id)
    now = sla_now()
    session.commit()  # ends the read transaction before Jira is called, as solutions.end_read explains

    try:
        with jira_client_for(installation) as jira:
            user = jira.get_user(viewer.account_id) or {}
            language = solution_text.language_of(user.get("locale"))
            invitation = build_invitation(move, conversation, installation, start,
                                          _person(user, viewer.display_name), settings.get("support_email"),
                                          language, now)
            text = ics.render(invitation)
            attachment_url = _attach(jira, conversation, f"rendez-vous-{conversation.issue_key}.ics", text)
    except JiraError as error:
        log.error("Jira failed while the appointment slot of %s (move %s) was chosen, so nothing changed: %s",
                  conversation.issue_key, move.id, error)
        raise JiraUnreachable("Jira n'a pas pu enregistrer le rendez-vous ; rien n'a changé, réessayez dans un "
                              "instant. / Jira could not record the appointment; nothing changed, try again in a "
                              "moment.") from None

    with database().transaction() as session:
        conversation = lock_conversation(session, conversation.id)
        move = load_move(session, conversation.id, move_id)
        if move.slot_start is not None or move.state != MoveState.ACTIVE:
            # NOTE: the invitation attached above stays on the request as a second copy.
            log.info("Appointment of %s (move %s) was settled meanwhile, so this pick is not recorded",
                     conversation.issue_key, move.id)
            return move
        move.slot_start = start
        move.chosen_by_account_id = viewer.account_id
        move.chosen_at = now
        move.ics_uid = invitation.uid
        move.ics_language = language
        move.ics_text = text
        move.ics_attachment_url = attachment_url
        moves_sla.hold(session, conversation, move, start, now)
        customer_name = viewer.display_name or user.get("displayName") or viewer.account_id
        event = record_event(session, conversation, CONFIRMED_EVENT,
                             moves_text.confirmed_comment(move, customer_name, zone, attachment_url),
                             visibility=Visibility.PUBLIC, author_account_id=viewer.account_id,
                             author_role=AuthorRole.CUSTOMER, author_name=viewer.display_name,
                             key=f"move-{move.id}:confirmed")
        payloads = [fanout.message_payload(conversation, event), move_frame(conversation, move)]

    log.info("Appointment of %s (move %s) set for %s by %s; invitation attached: %s", conversation.issue_key,
             move.id, moves_sla.iso_utc(start), viewer.account_id, bool(attachment_url))
    announce(conversation, payloads)
    return move


def invitation_file(conversation, move_id):
    """Return (filename, text) of the move's invitation, or raise NotFound before a slot is chosen."""
    move = load_move(database().session, conversation.id, move_id)
    if not move.ics_text:
        raise NotFound("Aucune invitation : le créneau n'est pas encore choisi. "
                       "/ No invitation: the slot is not chosen yet.")
    return f"rendez-vous-{conversation.issue_key}.ics", move.ics_text
