"""Routing, presence, claim, transfer, capacity and re-offer of chats, with several agents and groups
of the local Jira site (Camille is in support-production, Hugo in support-finance, Léa in neither)."""

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from addon.models import utcnow
from addon.workspace import claims
from addon.workspace.models import AgentPresence, ChatRouting

from .solution_support import CUSTOMER, events_of, issue_of
from .support import wait_until
from .wsclient import serve_chat_site

CAMILLE, HUGO, LEA = "agent-camille", "agent-hugo", "admin-lea"
PROJECT = "?projectKey=SUP"


@pytest.fixture
def chat_site(database_url, jira_site, tmp_path):
    """The chat, without the re-offer job: these tests run re-offers themselves, at chosen times."""
    yield from serve_chat_site(database_url, jira_site, tmp_path, ROUTING_REOFFER_JOB=False)


def set_routing(site, **routing):
    body = {"areas": {"Ventes": {"group": "support-finance"}, "Production": {"group": "support-production"}},
            **routing}
    response = site.api("PUT", "/admin/routing", LEA, json=body)
    assert response.status_code == 200, response.text
    return response.json()["routing"]


def presence(site, account_id, status="available"):
    response = site.api("PUT", f"/agent/presence{PROJECT}", account_id, json={"status": status})
    assert response.status_code == 200, response.text
    return response.json()["me"]


def routing_of(site, conversation_id, account_id=CAMILLE):
    response = site.api("GET", f"/chats/{conversation_id}/routing", account_id)
    assert response.status_code == 200, response.text
    return response.json()["routing"]


def start(site, area="Ventes"):
    response = site.api("POST", "/chats", CUSTOMER, json={
        "summary": "Facture bloquée", "product_area": area, "impact": "blocking",
        "message": "Bonjour, la facture 42 est bloquée.",
    })
    assert response.status_code == 201, response.text
    return response.json()["conversation"]


def claim(site, conversation_id, account_id):
    return site.api("POST", f"/chats/{conversation_id}/claim", account_id)


def stored_routing(app, conversation_id):
    with Session(app.extensions["database"].engine) as session:
        return session.get(ChatRouting, conversation_id)


# -- settings -------------------------------------------------------------------------------------

def test_routing_settings_validated_and_stored(chat_site):
    response = chat_site.api("PUT", "/admin/routing", LEA, json={"max_chats_per_agent": 0})
    assert response.status_code == 400
    assert "max_chats_per_agent" in response.json()["error"]["message"]
    response = chat_site.api("PUT", "/admin/routing", LEA, json={"areas": {"Ventes": {"team": "x"}}})
    assert response.status_code == 400
    assert "areas['Ventes']" in response.json()["error"]["message"]

    stored = set_routing(chat_site, max_chats_per_agent=2)
    assert stored["areas"]["Ventes"] == {"group": "support-finance", "assignee": None, "queue_id": None}
    got = chat_site.api("GET", "/admin/routing", LEA).json()
    assert got["routing"]["max_chats_per_agent"] == 2
    assert "Ventes" in got["product_areas"]


def test_routing_settings_checked_against_jira(chat_site):
    response = chat_site.api("PUT", "/admin/routing", LEA, json={
        "areas": {"Achats": {"group": "groupe-inexistant", "assignee": "agent-inexistant"}}})
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "groupe-inexistant" in message
    assert "agent-inexistant" in message
    assert chat_site.api("GET", "/admin/routing", LEA).json()["routing"]["areas"] == {}


def test_first_agent_must_belong_to_the_area_group(chat_site):
    # Camille is in support-production, not in support-finance.
    response = chat_site.api("PUT", "/admin/routing", LEA, json={
        "areas": {"Ventes": {"group": "support-finance", "assignee": CAMILLE}}})
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert CAMILLE in message
    assert "support-finance" in message
    assert chat_site.api("GET", "/admin/routing", LEA).json()["routing"]["areas"] == {}

    stored = set_routing(chat_site, areas={"Ventes": {"group": "support-finance", "assignee": HUGO}})
    assert stored["areas"]["Ventes"]["assignee"] == HUGO


def test_routing_settings_for_admins_only(chat_site):
    assert chat_site.api("PUT", "/admin/routing", CAMILLE, json={}).status_code == 403
    # The generic settings route refuses the key rather than ignoring it.
    response = chat_site.api("PUT", "/admin/settings", LEA, json={"chat_routing": None})
    assert response.status_code == 400
    assert "/api/admin/routing" in response.json()["error"]["message"]


# -- routing and presence -------------------------------------------------------------------------

def test_offer_goes_to_group_agents(chat_site):
    set_routing(chat_site)
    presence(chat_site, CAMILLE)
    presence(chat_site, HUGO)

    sales = start(chat_site, "Ventes")
    production = start(chat_site, "Production")

    assert routing_of(chat_site, sales["id"])["offered_to"] == [HUGO]
    assert routing_of(chat_site, sales["id"])["group"] == "support-finance"
    assert routing_of(chat_site, production["id"])["offered_to"] == [CAMILLE]


def test_away_and_silent_agents_get_no_offer(chat_site):
    set_routing(chat_site)
    presence(chat_site, HUGO, "away")
    assert routing_of(chat_site, start(chat_site)["id"])["offered_to"] == []

    presence(chat_site, HUGO, "available")
    # A presence not renewed for longer than the timeout reads as away.
    with Session(chat_site.server.app.extensions["database"].engine) as session:
        row = session.query(AgentPresence).filter_by(account_id=HUGO).one()
        row.seen_at = utcnow() - timedelta(minutes=5)
        session.commit()
    assert routing_of(chat_site, start(chat_site)["id"])["offered_to"] == []
    team = chat_site.api("GET", f"/agent/presence{PROJECT}", CAMILLE).json()["team"]
    assert {member["account_id"]: member["status"] for member in team}[HUGO] == "away"


def test_presence_refuses_unknown_status_and_customers(chat_site):
    response = chat_site.api("PUT", f"/agent/presence{PROJECT}", CAMILLE, json={"status": "lunch"})
    assert response.status_code == 400
    assert "lunch" in response.json()["error"]["message"]
    assert chat_site.api("PUT", f"/agent/presence{PROJECT}", CUSTOMER, json={"status": "available"}).status_code == 403


def test_key_user_sees_whether_support_is_available(chat_site):
    assert chat_site.api("GET", "/support/availability", CUSTOMER).json() == {"available": False}
    presence(chat_site, CAMILLE)
    assert chat_site.api("GET", "/support/availability", CUSTOMER).json() == {"available": True}
    presence(chat_site, CAMILLE, "busy")
    assert chat_site.api("GET", "/support/availability", CUSTOMER).json() == {"available": False}


# -- claim ----------------------------------------------------------------------------------------

def test_claim_assigns_and_tells_the_key_user(chat_site, jira_site):
    set_routing(chat_site)
    presence(chat_site, HUGO)
    conversation = start(chat_site)

    response = claim(chat_site, conversation["id"], HUGO)
    assert response.status_code == 200, response.text
    assert "warning" not in response.json()
    assert response.json()["routing"]["assignee"] == {"account_id": HUGO, "name": "Hugo Bernard"}
    assert issue_of(jira_site, conversation["issue_key"])["assignee"] == HUGO
    glance = "com.atlassian.jira.issue:com.example.support-chat:chat-glance:status"
    assert issue_of(jira_site, conversation["issue_key"])["properties"][glance]["value"]["label"] == "Hugo"

    [joined] = events_of(chat_site.server.app, conversation["id"], "agent_joined")
    assert joined.visibility == "public"
    assert joined.body == "Hugo"
    seen = chat_site.api("GET", f"/chats/{conversation['id']}/messages", CUSTOMER).json()["messages"]
    assert any(m["event_type"] == "agent_joined" for m in seen)

    # Joining is no news for the key user to read.
    [mine] = chat_site.api("GET", "/chats", CUSTOMER).json()["chats"]
    assert mine["unread"] == 0
    # Claiming again is harmless for the holder and refused to anyone else.
    assert claim(chat_site, conversation["id"], HUGO).status_code == 200
    refused = claim(chat_site, conversation["id"], CAMILLE)
    assert refused.status_code == 409
    assert "Hugo Bernard" in refused.json()["error"]["message"]
    assert len(events_of(chat_site.server.app, conversation["id"], "agent_joined")) == 1


def test_claim_refused_to_customers(chat_site):
    conversation = start(chat_site)
    assert claim(chat_site, conversation["id"], CUSTOMER).status_code == 403


def test_capacity_limits_offers_and_claims(chat_site):
    set_routing(chat_site, max_chats_per_agent=1)
    presence(chat_site, HUGO)
    first, second = start(chat_site), start(chat_site)
    assert claim(chat_site, first["id"], HUGO).status_code == 200

    refused = claim(chat_site, second["id"], HUGO)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "capacity_reached"
    # A third chat is offered to no agent of the full group.
    assert routing_of(chat_site, start(chat_site)["id"])["offered_to"] == []


# -- transfer and re-offer ------------------------------------------------------------------------

def test_transfer_to_another_group_with_an_internal_note(chat_site, jira_site):
    set_routing(chat_site)
    presence(chat_site, HUGO)
    presence(chat_site, CAMILLE)
    conversation = start(chat_site)
    claim(chat_site, conversation["id"], HUGO)

    response = chat_site.api("POST", f"/chats/{conversation['id']}/transfer", HUGO,
                             json={"to_group": "support-production", "note": "Module production <b>bloqué</b>"})
    assert response.status_code == 200, response.text
    moved = response.json()["routing"]
    assert moved["state"] == "offered"
    assert moved["group"] == "support-production"
    assert moved["offered_to"] == [CAMILLE]
    assert issue_of(jira_site, conversation["issue_key"])["assignee"] is None
    glance = "com.atlassian.jira.issue:com.example.support-chat:chat-glance:status"
    assert issue_of(jira_site, conversation["issue_key"])["properties"][glance]["value"] == {"label": "1"}

    [event] = events_of(chat_site.server.app, conversation["id"], "chat_transferred")
    assert event.visibility == "internal"
    assert event.body == ("Discussion transférée par Hugo Bernard au groupe support-production. "
                          "Note : Module production <b>bloqué</b>")
    seen = chat_site.api("GET", f"/chats/{conversation['id']}/messages", CUSTOMER).json()["messages"]
    assert not any(m["event_type"] == "chat_transferred" for m in seen)
    assert claim(chat_site, conversation["id"], CAMILLE).status_code == 200


def test_transfer_checks_its_target(chat_site):
    conversation = start(chat_site)
    both = chat_site.api("POST", f"/chats/{conversation['id']}/transfer", HUGO,
                         json={"to_group": "support-production", "to_account_id": CAMILLE})
    assert both.status_code == 400
    unknown = chat_site.api("POST", f"/chats/{conversation['id']}/transfer", HUGO, json={"to_group": "nope"})
    assert unknown.status_code == 400
    assert "nope" in unknown.json()["error"]["message"]
    customer = chat_site.api("POST", f"/chats/{conversation['id']}/transfer", HUGO,
                             json={"to_account_id": "cust-bruno"})
    assert customer.status_code == 400
    assert "cust-bruno" in customer.json()["error"]["message"]


def test_transfer_to_an_agent_offers_to_that_agent(chat_site):
    set_routing(chat_site)
    presence(chat_site, HUGO)
    presence(chat_site, LEA, "busy")  # a transfer to a person reaches them even when busy
    conversation = start(chat_site)
    response = chat_site.api("POST", f"/chats/{conversation['id']}/transfer", HUGO,
                             json={"to_account_id": LEA, "note": "Pour toi"})
    assert response.status_code == 200, response.text
    assert response.json()["routing"]["offered_to"] == [LEA]
    assert keys(desk_of(chat_site, LEA)["lists"]["unclaimed"]) == [conversation["issue_key"]]
    assert "Léa Petit" in response.json()["warning"]  # she is busy, so the sender gets a warning
    # A chat sent to one person is not offered to the group meanwhile.
    assert desk_of(chat_site, HUGO)["lists"]["unclaimed"] == []
    [event] = events_of(chat_site.server.app, conversation["id"], "chat_transferred")
    assert event.body == "Discussion transférée par Hugo Bernard à Léa Petit. Note : Pour toi"


def test_unclaimed_chat_offered_again_after_the_delay(chat_site):
    set_routing(chat_site, reoffer_after_secs=60)
    conversation = start(chat_site)
    app = chat_site.server.app
    first = stored_routing(app, conversation["id"])
    assert first.offered_to == []
    assert first.offer_round == 1

    presence(chat_site, HUGO)
    with app.app_context():
        assert claims.reoffer_due(utcnow()) == 0  # not due yet
        assert claims.reoffer_due(utcnow() + timedelta(seconds=61)) == 1
        assert claims.reoffer_due(utcnow() + timedelta(seconds=61)) == 0  # once per round
    again = stored_routing(app, conversation["id"])
    assert again.offered_to == [HUGO]
    assert again.offer_round == 2

    claim(chat_site, conversation["id"], HUGO)
    with app.app_context():
        assert claims.reoffer_due(utcnow() + timedelta(hours=1)) == 0


# -- dashboard lists ------------------------------------------------------------------------------

def desk_of(site, account_id):
    response = site.api("GET", f"/agent/desk{PROJECT}", account_id)
    assert response.status_code == 200, response.text
    return response.json()


def keys(items):
    return [item["issue_key"] for item in items]


def test_desk_lists_follow_groups_and_claims(chat_site):
    set_routing(chat_site, areas={"Ventes": {"group": "support-finance", "queue_id": "12"}})
    presence(chat_site, CAMILLE)
    presence(chat_site, HUGO)
    sales = start(chat_site, "Ventes")

    hugo, camille = desk_of(chat_site, HUGO), desk_of(chat_site, CAMILLE)
    assert keys(hugo["lists"]["unclaimed"]) == [sales["issue_key"]]
    assert keys(camille["lists"]["unclaimed"]) == []
    assert keys(camille["lists"]["all"]) == [sales["issue_key"]]
    [item] = hugo["lists"]["all"]
    assert item["organization_name"]
    assert item["routing"]["group"] == "support-finance"
    assert item["queue_id"] == "12"
    assert item["sla"] is not None and "unread" in item
    assert item["customer_connected"] is False  # Alice started the chat over HTTP and opened no socket
    assert {member["account_id"] for member in hugo["team"]} >= {CAMILLE, HUGO}

    claim(chat_site, sales["id"], HUGO)
    hugo = desk_of(chat_site, HUGO)
    assert keys(hugo["lists"]["mine"]) == [sales["issue_key"]]
    assert hugo["lists"]["unclaimed"] == []
    assert hugo["me"]["status"] == "available"


def test_desk_for_agents_only(chat_site):
    assert chat_site.api("GET", f"/agent/desk{PROJECT}", CUSTOMER).status_code == 403


# -- canned replies -------------------------------------------------------------------------------

REPLIES = [
    {"shortcut": "bonjour", "title": "Accueil",
     "body_fr": "Bonjour {prenom}, ici {technicien} pour la demande {demande}. Réponse avant {heure_reponse}.",
     "body_en": "Hello {first_name}, {agent} here about request {request}."},
    {"shortcut": "cache", "title": "Vider le cache", "body_fr": "Videz le cache, {prenom} <b>puis</b> relancez."},
]


def test_canned_replies_validated(chat_site):
    bad = chat_site.api("PUT", "/admin/canned-replies", LEA, json={"replies": [
        {"shortcut": "Hello!", "title": "x", "body_fr": "x"}]})
    assert bad.status_code == 400
    assert "Hello!" in bad.json()["error"]["message"]
    unknown = chat_site.api("PUT", "/admin/canned-replies", LEA, json={"replies": [
        {"shortcut": "a", "title": "x", "body_fr": "Bonjour {nom}"}]})
    assert unknown.status_code == 400
    assert "{nom}" in unknown.json()["error"]["message"]
    # Errors name the reply and the field as the settings page shows them, not the JSON path.
    untitled = chat_site.api("PUT", "/admin/canned-replies", LEA, json={"replies": [
        REPLIES[1], {"shortcut": "b", "title": "", "body_fr": "x"}]})
    assert untitled.status_code == 400
    assert untitled.json()["error"]["message"] == (
        "Réponse type n° 2, le titre : champ obligatoire. / Canned reply 2, the title: required.")
    twice = chat_site.api("PUT", "/admin/canned-replies", LEA, json={"replies": [REPLIES[1], REPLIES[1]]})
    assert twice.status_code == 400
    assert "cache" in twice.json()["error"]["message"]
    assert chat_site.api("PUT", "/admin/canned-replies", CAMILLE, json={"replies": []}).status_code == 403


def test_canned_reply_filled_for_the_chat(chat_site):
    assert chat_site.api("PUT", "/admin/canned-replies", LEA, json={"replies": REPLIES}).status_code == 200
    listed = chat_site.api("GET", f"/agent/canned-replies{PROJECT}", CAMILLE).json()["replies"]
    assert listed == [{"shortcut": "bonjour", "title": "Accueil"}, {"shortcut": "cache", "title": "Vider le cache"}]
    conversation = start(chat_site)

    filled = chat_site.api("GET", f"/chats/{conversation['id']}/canned-replies/bonjour", CAMILLE).json()
    assert filled["language"] == "fr"  # Alice's Jira language
    text = filled["text"]
    assert text.startswith(f"Bonjour Alice, ici Camille Martin pour la demande {conversation['issue_key']}.")
    assert "{heure_reponse}" not in text
    assert "Réponse avant " in text

    english = chat_site.api("GET", f"/chats/{conversation['id']}/canned-replies/bonjour?reply_lang=en",
                            CAMILLE).json()
    assert english["text"] == f"Hello Alice, Camille Martin here about request {conversation['issue_key']}."
    # No English text: the French one is used; the agent's page escapes what it inserts.
    fallback = chat_site.api("GET", f"/chats/{conversation['id']}/canned-replies/cache?reply_lang=en", CAMILLE)
    assert fallback.json()["text"] == "Videz le cache, Alice <b>puis</b> relancez."
    assert chat_site.api("GET", f"/chats/{conversation['id']}/canned-replies/nope", CAMILLE).status_code == 404
    assert chat_site.api("GET", f"/chats/{conversation['id']}/canned-replies/cache", CUSTOMER).status_code == 403


def test_customer_presence_follows_socket_and_long_poll(chat_site):
    conversation = start(chat_site)
    assert desk_of(chat_site, CAMILLE)["lists"]["all"][0]["customer_connected"] is False

    chat_site.api("GET", f"/chats/{conversation['id']}/poll?after=0", CUSTOMER)
    assert desk_of(chat_site, CAMILLE)["lists"]["all"][0]["customer_connected"] is True

    app = chat_site.server.app
    with Session(app.extensions["database"].engine) as session:
        from addon.chat.models import Conversation

        row = session.get(Conversation, conversation["id"])
        row.customer_seen_at = utcnow() - timedelta(minutes=2)
        session.commit()
    assert desk_of(chat_site, CAMILLE)["lists"]["all"][0]["customer_connected"] is False


def test_customer_leaves_when_last_socket_closes(chat_site):
    conversation = start(chat_site)
    alice = chat_site.ready_socket(CUSTOMER)
    alice.send(type="subscribe", conversation_id=conversation["id"], after_seq=0)
    wait_until(lambda: desk_of(chat_site, CAMILLE)["lists"]["all"][0]["customer_connected"],
               message="Alice shown as connected")

    alice.close()

    # At once, not when her last mark grows old.
    wait_until(lambda: desk_of(chat_site, CAMILLE)["lists"]["all"][0]["customer_connected"] is False,
               timeout=5, message="Alice shown as gone")


def test_chats_moved_out_leave_lists_and_limits(chat_site):
    set_routing(chat_site, max_chats_per_agent=1)
    presence(chat_site, HUGO)
    first = start(chat_site)
    assert claim(chat_site, first["id"], HUGO).status_code == 200
    moved = chat_site.api("POST", f"/chats/{first['id']}/moves", HUGO,
                          json={"target": "classic_ticket", "reason": "Analyse longue"})
    assert moved.status_code == 201, moved.text

    hugo = desk_of(chat_site, HUGO)
    assert hugo["lists"]["mine"] == [] and hugo["lists"]["all"] == []
    # The moved chat no longer counts: the next one is offered to Hugo.
    assert routing_of(chat_site, start(chat_site)["id"])["offered_to"] == [HUGO]


def test_empty_offer_tried_again_soon(chat_site):
    set_routing(chat_site, reoffer_after_secs=600)
    conversation = start(chat_site)
    assert routing_of(chat_site, conversation["id"])["offered_to"] == []
    presence(chat_site, HUGO)
    with chat_site.server.app.app_context():
        assert claims.reoffer_due(utcnow() + timedelta(seconds=11)) == 1
    assert routing_of(chat_site, conversation["id"])["offered_to"] == [HUGO]


def test_agent_who_comes_back_sees_waiting_chats(chat_site):
    set_routing(chat_site, areas={})  # every agent's chats
    presence(chat_site, CAMILLE)
    presence(chat_site, HUGO, "away")
    conversation = start(chat_site)
    assert routing_of(chat_site, conversation["id"])["offered_to"] == [CAMILLE]
    assert desk_of(chat_site, HUGO)["lists"]["unclaimed"] == []

    presence(chat_site, HUGO)
    assert keys(desk_of(chat_site, HUGO)["lists"]["unclaimed"]) == [conversation["issue_key"]]
