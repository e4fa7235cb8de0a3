"""Moving a conversation to mail, an appointment, the ERP's tool or a classic ticket, and back,
over the JSON API against the local Jira site: traces on the request, chat events, the recorded
state, refusals, the SLA hold until the appointment, and the .ics invitation."""

import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy.orm import Session

from addon.atlassian.installations import get_active_installation
from addon.chat import ics
from addon.chat.moves_models import ConversationMove
from addon.settings import set_setting
from addon.sla.models import ClockState
from addon.sla.sweeper import sweep

from .sla_support import MONDAY_10, FakeClock, clock_of, paris
from .solution_support import AGENT, CUSTOMER, comment_with, events_of, issue_of
from .wsclient import chat_site, serve_chat_site  # noqa: F401  (fixture)

ADMIN = "admin-lea"
REASON = "Le client préfère échanger par écrit avec la comptabilité."
ERP_TOOL = {"name": "Assistance ERP", "message_fr": "Ouvrez l'assistance à distance ; donnez le code affiché.",
            "message_en": "Open remote support; give the code shown.", "link": "https://support.erp.example/remote"}


@pytest.fixture
def fake_clock():
    return FakeClock(MONDAY_10)


@pytest.fixture
def clock_site(database_url, jira_site, tmp_path, fake_clock):
    """The add-on on an injected SLA clock, without its sweeper (the tests sweep)."""
    yield from serve_chat_site(database_url, jira_site, tmp_path, SLA_SWEEPER=False, SLA_NOW=fake_clock)


def move(site, conversation_id, target, reason=REASON, account_id=AGENT, **extra):
    return site.api("POST", f"/chats/{conversation_id}/moves", account_id,
                    json={"target": target, "reason": reason, **extra})


def bring_back(site, conversation_id, reason=None, account_id=AGENT):
    return site.api("POST", f"/chats/{conversation_id}/moves/back", account_id, json={"reason": reason})


def post(site, conversation_id, account_id, body):
    return site.api("POST", f"/chats/{conversation_id}/messages", account_id,
                    json={"body": body, "client_message_id": str(uuid.uuid4())})


def current_move(site, conversation_id, account_id=CUSTOMER):
    response = site.api("GET", f"/chats/{conversation_id}/move", account_id)
    assert response.status_code == 200, response.text
    return response.json()["move"]


def stored_move(app, move_id):
    with Session(app.extensions["database"].engine) as session:
        return session.get(ConversationMove, move_id)


def error_code(response):
    return response.json()["error"]["code"]


# -- mail ---------------------------------------------------------------------------------------

def test_mail_move_traces_and_closes(chat_site, jira_site):
    conversation = chat_site.start_chat(CUSTOMER)
    key = conversation["issue_key"]

    response = move(chat_site, conversation["id"], "mail")

    assert response.status_code == 201, response.text
    seen_by_agent = response.json()["move"]
    assert seen_by_agent["target"] == "mail"
    assert seen_by_agent["reason"] == REASON
    assert seen_by_agent["closes_chat"] is True
    seen_by_customer = current_move(chat_site, conversation["id"])
    assert seen_by_customer["id"] == seen_by_agent["id"]
    assert "reason" not in seen_by_customer
    [reason_event] = events_of(chat_site.server.app, conversation["id"], "move_reason")
    assert reason_event.visibility == "internal"
    [notice_event] = events_of(chat_site.server.app, conversation["id"], "moved_mail")
    assert notice_event.visibility == "public"
    internal = comment_with(jira_site, key, "Motif")
    assert internal["public"] is False
    assert REASON in internal["body"]
    assert "Camille Martin" in internal["body"]
    notice = comment_with(jira_site, key, "poursuit cette demande par e-mail")
    assert notice["public"] is True
    assert REASON not in notice["body"]


def test_mail_move_rejects_key_user(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    assert move(chat_site, conversation["id"], "mail").status_code == 201

    response = post(chat_site, conversation["id"], CUSTOMER, "Encore une question ?")

    assert response.status_code == 409
    assert error_code(response) == "chat_moved"
    assert "e-mail" in response.json()["error"]["message"]


def test_mail_move_rejects_key_user_files(chat_site):
    # A file is a message too: the closed chat refuses it, and an agent's file still goes through.
    conversation = chat_site.start_chat(CUSTOMER)
    assert move(chat_site, conversation["id"], "mail").status_code == 201
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

    refused = chat_site.api("POST", f"/chats/{conversation['id']}/attachments", CUSTOMER,
                            files={"file": ("capture.png", png, "image/png")})
    assert refused.status_code == 409
    assert error_code(refused) == "chat_moved"
    sent = chat_site.api("POST", f"/chats/{conversation['id']}/attachments", AGENT,
                         files={"file": ("capture.png", png, "image/png")})
    assert sent.status_code == 201, sent.text


def test_mail_move_agent_reply_public(chat_site, jira_site):
    conversation = chat_site.start_chat(CUSTOMER)
    assert move(chat_site, conversation["id"], "mail").status_code == 201

    response = post(chat_site, conversation["id"], AGENT, "Je vous envoie la procédure par écrit.")

    assert response.status_code == 201, response.text
    comment = comment_with(jira_site, conversation["issue_key"], "Je vous envoie la procédure par écrit.")
    assert comment["public"] is True  # JSM e-mails public comments to the customer
    assert comment["author"] == AGENT


# -- refusals -----------------------------------------------------------------------------------

def test_move_requires_agent(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)

    response = move(chat_site, conversation["id"], "mail", account_id=CUSTOMER)

    assert response.status_code == 403
    assert current_move(chat_site, conversation["id"]) is None


@pytest.mark.parametrize("body, fragment", [
    ({"target": "mail"}, "reason"),
    ({"target": "mail", "reason": "   "}, "reason"),
    ({"target": "mail", "reason": "x" * 1001}, "1001"),
    ({"target": "fax", "reason": REASON}, "fax"),
    ({"target": "mail", "reason": REASON, "slots": ["2026-03-03T10:00"]}, "appointment"),
    ({"target": "erp_tool", "reason": REASON}, "ERP tool is not configured"),
])
def test_move_rejects_bad_input(chat_site, body, fragment):
    conversation = chat_site.start_chat(CUSTOMER)

    response = chat_site.api("POST", f"/chats/{conversation['id']}/moves", AGENT, json=body)

    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]["message"]
    assert current_move(chat_site, conversation["id"]) is None


def test_second_move_rejected(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    assert move(chat_site, conversation["id"], "mail").status_code == 201

    response = move(chat_site, conversation["id"], "classic_ticket")

    assert response.status_code == 409
    assert error_code(response) == "already_moved"
    assert current_move(chat_site, conversation["id"])["target"] == "mail"


def test_bring_back_without_move(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)

    response = bring_back(chat_site, conversation["id"])

    assert response.status_code == 409
    assert error_code(response) == "not_moved"


# -- classic ticket and bring-back --------------------------------------------------------------

def test_classic_ticket_closes_until_back(chat_site, jira_site):
    conversation = chat_site.start_chat(CUSTOMER)
    key = conversation["issue_key"]
    assert move(chat_site, conversation["id"], "classic_ticket").status_code == 201

    seen = current_move(chat_site, conversation["id"])
    refused = post(chat_site, conversation["id"], CUSTOMER, "Je peux encore écrire ?")

    assert seen["closes_chat"] is True
    assert seen["portal_request_url"].endswith(f"/servicedesk/customer/portal/1/{key}")
    assert refused.status_code == 409
    assert key in refused.json()["error"]["message"]
    notice = comment_with(jira_site, key, "poursuit cette demande en ticket classique")
    assert notice["public"] is True
    assert seen["portal_request_url"] in notice["body"]

    back = bring_back(chat_site, conversation["id"], "Le client a besoin d'un échange en direct.")

    assert back.status_code == 200, back.text
    assert back.json()["ended"]["state"] == "ended"
    assert current_move(chat_site, conversation["id"]) is None
    assert post(chat_site, conversation["id"], CUSTOMER, "Merci, je reprends ici.").status_code == 201
    events = events_of(chat_site.server.app, conversation["id"], "move_ended")
    [ended] = [event for event in events if event.event_type == "move_ended"]
    assert ended.visibility == "public"
    [ended_reason] = [event for event in events if event.event_type == "move_ended_reason"]
    assert ended_reason.visibility == "internal"
    assert comment_with(jira_site, key, "reprend la demande dans la discussion")["public"] is True
    internal = comment_with(jira_site, key, "ramène la demande")
    assert internal["public"] is False
    assert "échange en direct" in internal["body"]


def test_bring_back_requires_agent(chat_site):
    conversation = chat_site.start_chat(CUSTOMER)
    assert move(chat_site, conversation["id"], "mail").status_code == 201

    response = bring_back(chat_site, conversation["id"], account_id=CUSTOMER)

    assert response.status_code == 403
    assert current_move(chat_site, conversation["id"])["target"] == "mail"


# -- ERP tool -----------------------------------------------------------------------------------

def settings_call(site, method, **kwargs):
    return site.api(method, "/admin/moves", ADMIN, **kwargs)


@pytest.mark.parametrize("link", ["http://support.erp.example/", "javascript:alert(1)", "https://", "ftp://x.example"])
def test_erp_tool_link_must_be_https(chat_site, link):
    response = settings_call(chat_site, "PUT", json={"erp_tool": {**ERP_TOOL, "link": link}})

    assert response.status_code == 400, response.text
    assert "https://" in response.json()["error"]["message"]
    assert settings_call(chat_site, "GET").json()["erp_tool"] is None


def test_erp_tool_settings_admin_only(chat_site):
    response = chat_site.api("PUT", "/admin/moves", CUSTOMER, json={"erp_tool": ERP_TOOL})

    assert response.status_code == 403


def test_erp_tool_move_shows_tool(chat_site, jira_site):
    assert settings_call(chat_site, "PUT", json={"erp_tool": ERP_TOOL}).status_code == 200
    conversation = chat_site.start_chat(CUSTOMER)

    response = move(chat_site, conversation["id"], "erp_tool")

    assert response.status_code == 201, response.text
    seen = current_move(chat_site, conversation["id"])
    assert seen["erp_tool"] == ERP_TOOL
    assert seen["closes_chat"] is False
    assert post(chat_site, conversation["id"], CUSTOMER, "D'accord, j'ouvre l'outil.").status_code == 201
    notice = comment_with(jira_site, conversation["issue_key"], "Assistance ERP")
    assert notice["public"] is True
    assert ERP_TOOL["link"] in notice["body"]


def test_general_settings_route_rejects_erp_tool(chat_site):
    response = chat_site.api("PUT", "/admin/settings", ADMIN, json={"erp_tool": ERP_TOOL})

    assert response.status_code == 400
    assert "/api/admin/moves" in response.json()["error"]["message"]


# -- appointment --------------------------------------------------------------------------------

# The fake clock starts on Monday 2 March 2026 at 10:00 in Paris.
SLOTS = ["2026-03-03T14:00", "2026-03-04T09:30"]


def test_appointment_slots_validated(clock_site):
    conversation = clock_site.start_chat(CUSTOMER)
    cases = [
        ([], "1 to 3 slots"),
        (["2026-03-03T10:00", "2026-03-03T11:00", "2026-03-03T14:00", "2026-03-03T15:00"], "1 to 3 slots"),
        (["demain 10h"], "Invalid slot"),
        (["2026-03-02T09:00"], "in the past"),
        (["2027-06-01T10:00"], "more than 365 days"),
        (["2026-03-03T14:00", "2026-03-03T13:00:00+00:00"], "Two slots are the same"),
        # Support closes from 12:00 to 14:00 and at weekends in the default calendar.
        (["2026-03-03T12:30"], "outside support hours"),
        (["2026-03-07T10:00"], "outside support hours"),
    ]
    for slots, fragment in cases:
        response = move(clock_site, conversation["id"], "appointment", slots=slots)
        assert response.status_code == 400, (slots, response.text)
        assert fragment in response.json()["error"]["message"], slots
    response = move(clock_site, conversation["id"], "appointment", slots=SLOTS, duration_minutes=5)
    assert response.status_code == 400
    assert "15 to 480 minutes" in response.json()["error"]["message"]


def test_appointment_proposal_in_calendar_zone(clock_site, jira_site):
    conversation = clock_site.start_chat(CUSTOMER)

    response = move(clock_site, conversation["id"], "appointment", slots=SLOTS)

    assert response.status_code == 201, response.text
    seen = current_move(clock_site, conversation["id"])
    assert seen["time_zone"] == "Europe/Paris"
    assert seen["duration_minutes"] == 60  # the appointment_minutes default
    assert [slot["start"] for slot in seen["slots"]] == ["2026-03-03T13:00:00+00:00", "2026-03-04T08:30:00+00:00"]
    assert seen["slots"][0]["local"] == "2026-03-03T14:00:00+01:00"
    assert seen["closes_chat"] is False
    notice = comment_with(jira_site, conversation["issue_key"], "propose un rendez-vous")
    assert notice["public"] is True
    assert "03/03/2026 14:00 (Europe/Paris)" in notice["body"]
    assert "04/03/2026 09:30 (Europe/Paris)" in notice["body"]


def choose(site, conversation_id, move_id, slot, account_id=CUSTOMER):
    return site.api("POST", f"/chats/{conversation_id}/moves/{move_id}/slot", account_id, json={"slot": slot})


def test_appointment_pick_attaches_invitation(clock_site, jira_site):
    # With the team's address the invitation is an iTIP request from it (see test_ics_structure).
    with clock_site.server.app.app_context():
        set_setting(get_active_installation(clock_site.client_key).id, "support_email", "support@editeur-erp.example")
    conversation = clock_site.start_chat(CUSTOMER)
    key = conversation["issue_key"]
    move_id = move(clock_site, conversation["id"], "appointment", slots=SLOTS).json()["move"]["id"]

    response = choose(clock_site, conversation["id"], move_id, 1)

    assert response.status_code == 200, response.text
    seen = response.json()["move"]
    assert seen["slot_start"] == "2026-03-04T08:30:00+00:00"
    assert seen["invitation_available"] is True
    [attachment] = [a for a in issue_of(jira_site, key)["attachments"] if a["filename"].endswith(".ics")]
    assert attachment["filename"] == f"rendez-vous-{key}.ics"
    assert attachment["public"] is True
    [confirmed] = events_of(clock_site.server.app, conversation["id"], "appointment_confirmed")
    assert confirmed.visibility == "public"
    comment = comment_with(jira_site, key, "a choisi le rendez-vous")
    assert comment["public"] is True
    assert "04/03/2026 09:30 (Europe/Paris)" in comment["body"]
    assert "Invitation (.ics) : http" in comment["body"]

    download = clock_site.api("GET", f"/chats/{conversation['id']}/moves/{move_id}/invitation.ics", CUSTOMER)

    assert download.status_code == 200
    assert download.headers["Content-Type"].startswith("text/calendar")
    text = download.text
    assert "METHOD:REQUEST\r\n" in text
    assert "DTSTART:20260304T083000Z\r\n" in text
    assert "DTEND:20260304T093000Z\r\n" in text
    assert "ORGANIZER;CN=Camille Martin:mailto:support@editeur-erp.example" in unfold(text)
    assert "ATTENDEE;CN=Alice Durand;" in text
    assert "mailto:alice.durand@fromagerie-durand.example" in unfold(text)
    assert f"SUMMARY;LANGUAGE=fr:Rendez-vous support : {key} Facture bloquée" in unfold(text)


def test_appointment_pick_rules(clock_site):
    conversation = clock_site.start_chat(CUSTOMER)
    move_id = move(clock_site, conversation["id"], "appointment", slots=SLOTS).json()["move"]["id"]

    by_agent = choose(clock_site, conversation["id"], move_id, 0, account_id=AGENT)
    unknown = choose(clock_site, conversation["id"], move_id, 5)
    not_proposed = choose(clock_site, conversation["id"], move_id, "2026-03-05T10:00:00+01:00")

    assert by_agent.status_code == 403
    assert unknown.status_code == 400
    assert "Unknown slot" in unknown.json()["error"]["message"]
    assert not_proposed.status_code == 400
    assert choose(clock_site, conversation["id"], move_id, "2026-03-03T14:00:00+01:00").status_code == 200
    again = choose(clock_site, conversation["id"], move_id, 1)
    assert again.status_code == 200
    assert again.json()["move"]["slot_start"] == "2026-03-03T13:00:00+00:00"  # the first pick stays
    assert len(events_of(clock_site.server.app, conversation["id"], "appointment_confirmed")) == 1


def test_appointment_invitation_before_pick(clock_site):
    conversation = clock_site.start_chat(CUSTOMER)
    move_id = move(clock_site, conversation["id"], "appointment", slots=SLOTS).json()["move"]["id"]

    response = clock_site.api("GET", f"/chats/{conversation['id']}/moves/{move_id}/invitation.ics", CUSTOMER)

    assert response.status_code == 404


def test_appointment_holds_sla_until_slot(clock_site, fake_clock):
    app = clock_site.server.app
    conversation = clock_site.start_chat(CUSTOMER)
    assert clock_of(app, conversation["id"]).state == ClockState.RUNNING
    move_id = move(clock_site, conversation["id"], "appointment", slots=SLOTS).json()["move"]["id"]
    fake_clock.advance(minutes=5)

    assert choose(clock_site, conversation["id"], move_id, 0).status_code == 200

    held = clock_of(app, conversation["id"])
    assert held.state == ClockState.PAUSED
    assert held.next_due_at is None
    assert stored_move(app, move_id).sla_paused_until == paris(2026, 3, 3, 14)
    # The agent panel says what holds the clock: the appointment, not the customer.
    view = clock_site.api("GET", f"/chats/by-issue/{conversation['issue_key']}?project_key=SUP",
                          AGENT).json()["conversation"]["sla"]
    assert view["held_until"] == "2026-03-03T13:00:00+00:00"
    with app.app_context():
        sweep(now=paris(2026, 3, 3, 13, 59))
    assert clock_of(app, conversation["id"]).state == ClockState.PAUSED

    fake_clock.set(paris(2026, 3, 3, 14, 1))
    with app.app_context():
        sweep()

    resumed = clock_of(app, conversation["id"])
    assert resumed.state == ClockState.RUNNING
    assert resumed.pauses[-1][1] is not None
    assert resumed.deadline_at > paris(2026, 3, 3, 14)
    assert stored_move(app, move_id).sla_resumed_at is not None


def test_bring_back_ends_sla_hold(clock_site, fake_clock):
    app = clock_site.server.app
    conversation = clock_site.start_chat(CUSTOMER)
    move_id = move(clock_site, conversation["id"], "appointment", slots=SLOTS).json()["move"]["id"]
    assert choose(clock_site, conversation["id"], move_id, 0).status_code == 200
    assert clock_of(app, conversation["id"]).state == ClockState.PAUSED
    fake_clock.advance(minutes=30)

    assert bring_back(clock_site, conversation["id"]).status_code == 200

    assert clock_of(app, conversation["id"]).state == ClockState.RUNNING
    assert stored_move(app, move_id).sla_resumed_at == fake_clock.now


# -- the .ics file ------------------------------------------------------------------------------

def unfold(text):
    return text.replace("\r\n ", "")


def invitation(**changes):
    values = dict(
        uid="abc-123@site.example", start=datetime(2026, 3, 3, 13, 0, tzinfo=timezone.utc),
        end=datetime(2026, 3, 3, 14, 0, tzinfo=timezone.utc), summary="Rendez-vous",
        description="Texte", stamp=datetime(2026, 3, 2, 9, 5, tzinfo=timezone.utc),
        organizer=ics.Person("Camille Martin", "support@editeur-erp.example"),
        attendee=ics.Person("Durand; Alice, \"AD\"", "alice@example.org"), url=None, language="en")
    values.update(changes)
    return ics.Invitation(**values)


def test_ics_structure():
    text = ics.render(invitation())

    lines = unfold(text).split("\r\n")
    assert text.endswith("\r\n")
    assert lines[:5] == ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{ics.PRODUCT_ID}", "CALSCALE:GREGORIAN",
                         "METHOD:REQUEST"]
    assert lines[-3:] == ["END:VEVENT", "END:VCALENDAR", ""]
    for expected in ("UID:abc-123@site.example", "DTSTAMP:20260302T090500Z", "DTSTART:20260303T130000Z",
                     "DTEND:20260303T140000Z", "SUMMARY;LANGUAGE=en:Rendez-vous",
                     "ORGANIZER;CN=Camille Martin:mailto:support@editeur-erp.example"):
        assert expected in lines
    # A name with ";" or "," is quoted, and its double quotes cannot close the quoting.
    assert ('ATTENDEE;CN="Durand; Alice, \'AD\'";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE'
            ':mailto:alice@example.org') in lines


def test_ics_escapes_text():
    text = ics.render(invitation(description="a\\b;c,d\ne\r\nf"))

    assert "DESCRIPTION;LANGUAGE=en:a\\\\b\\;c\\,d\\ne\\nf\r\n" in unfold(text)


def test_ics_folds_long_lines():
    summary = "Rendez-vous élevé à propos de la facture numéro 42 — " * 6

    text = ics.render(invitation(summary=summary))

    for line in text.split("\r\n"):
        assert len(line.encode("utf-8")) <= 75, line
    assert f"SUMMARY;LANGUAGE=en:{summary}" in unfold(text)


def test_ics_without_addresses():
    text = ics.render(invitation(organizer=None, attendee=ics.Person("Alice", None)))

    assert "ORGANIZER" not in text
    assert "ATTENDEE" not in text


def test_ics_without_organizer_is_a_plain_event():
    # RFC 5546 requires an ORGANIZER in a METHOD:REQUEST, so without one the file is no request.
    text = ics.render(invitation(organizer=ics.Person("Camille Martin", None)))

    assert "METHOD" not in text
    assert "ORGANIZER" not in text
    assert "ATTENDEE" not in text
    assert "BEGIN:VEVENT\r\n" in text


def test_ics_rejects_naive_time():
    with pytest.raises(ValueError):
        ics.render(invitation(start=datetime(2026, 3, 3, 13, 0)))
