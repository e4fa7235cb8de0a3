"""A proposed solution on screen, in two browser sessions on the local Jira site's pages: the
agent proposes a reply, and the key user validates it and answers the satisfaction question, or
says the problem persists and the agent is alerted. Jira's side is checked through the site's
control API, and the stored answer in the add-on's database."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from addon.chat.models import SatisfactionSurvey
from tests.browser.test_chat_journey import (
    FOOTER_FRAME,
    GLANCE_FRAME,
    PORTAL,
    frame_of,
    log_entry,
    logged_in_page,
    send,
    serious_violations,
    start_chat,
)
from tests.support import wait_until

pytestmark = pytest.mark.browser

CUSTOMER = "cust-alice"
AGENT = "agent-camille"
ANSWER = "Videz le cache du module Comptabilité, puis validez la facture de nouveau."


def chat_with_agent(browser, jira_site):
    """Start a chat as the key user and open it as the agent; return (customer page, agent page, issue key)."""
    customer = logged_in_page(browser, jira_site.url, CUSTOMER, PORTAL)
    issue_key = start_chat(customer)
    agent = logged_in_page(browser, jira_site.url, AGENT, f"/browse/{issue_key}")
    agent.locator("[data-glance-toggle]").click()
    return customer, agent, issue_key


def propose_answer(customer, agent):
    """Send ANSWER as the agent and propose it; return the key user's entry of that message."""
    glance = agent.frame_locator(GLANCE_FRAME)
    footer = customer.frame_locator(FOOTER_FRAME)
    send(glance, ANSWER)
    entry = log_entry(glance, ANSWER).first
    expect(entry.locator(".chat-delivery")).to_have_text("Envoyé à Jira")
    entry.get_by_role("button", name="Proposer comme solution").click()
    expect(entry.locator(".chat-solution")).to_contain_text("Proposée comme solution")
    # Drawn again with its solution line, the message keeps its Jira state.
    expect(entry.locator(".chat-delivery")).to_have_text("Envoyé à Jira")
    proposed = log_entry(footer, ANSWER).first
    expect(proposed.get_by_role("button", name="Valider la solution")).to_be_visible()
    expect(proposed.get_by_role("button", name="Le problème persiste")).to_be_visible()
    return proposed


def request_status(jira_site, issue_key):
    return jira_site.control("GET", f"/_devsite/issues/{issue_key}")["status"]


def answered_survey(app):
    with Session(app.extensions["database"].engine) as session:
        return session.execute(select(SatisfactionSurvey).where(SatisfactionSurvey.answered_at.is_not(None))
                               ).scalar_one_or_none()


def wait_comment(jira_site, issue_key, fragment, public):
    """Wait for the request's comment that contains `fragment` with the given visibility."""
    def find():
        comments = jira_site.control("GET", f"/_devsite/issues/{issue_key}")["comments"]
        return any(fragment in c["body"] and c["public"] is public for c in comments)

    wait_until(find, timeout=20, message=f"a comment with {fragment!r} on {issue_key}")


def test_validate_with_satisfaction(browser, jira_site, chat_addon, artifacts_dir):
    customer, agent, issue_key = chat_with_agent(browser, jira_site)
    proposed = propose_answer(customer, agent)

    proposed.get_by_role("button", name="Valider la solution").click()

    expect(proposed.locator(".chat-solution")).to_contain_text("La demande est résolue.")
    wait_until(lambda: request_status(jira_site, issue_key) == "Resolved", message=f"{issue_key} resolved")
    satisfaction = proposed.get_by_role("group", name="Êtes-vous satisfait de l'aide reçue ? (facultatif)")
    # The question is asked once, by the form: its event stays out of the key user's log.
    footer = customer.frame_locator(FOOTER_FRAME)
    expect(footer.locator("[data-chat-log] li[data-event-type='satisfaction_asked']")).to_be_hidden()
    satisfaction.get_by_label("4 sur 5").check()
    proposed.get_by_label("Commentaire (facultatif)").fill("Réponse claire, merci.")
    customer.screenshot(path=str(artifacts_dir / "solution-satisfaction.png"), full_page=True)
    assert serious_violations(frame_of(customer, FOOTER_FRAME)) == []
    proposed.get_by_role("button", name="Envoyer ma réponse").click()

    expect(proposed).to_contain_text("Merci pour votre réponse.")
    survey = wait_until(lambda: answered_survey(chat_addon.app), message="the stored satisfaction answer")
    assert survey.rating == 4
    assert survey.comment == "Réponse claire, merci."
    glance = agent.frame_locator(GLANCE_FRAME)
    expect(log_entry(glance, ANSWER).first.locator(".chat-solution")).to_contain_text("Satisfaction : 4/5")
    asked = glance.locator("[data-chat-log] li[data-event-type='satisfaction_asked']")
    expect(asked).to_contain_text("Question de satisfaction posée à l'utilisateur clé")
    expect(asked.locator(".chat-author")).to_have_text("Support Chat")
    wait_comment(jira_site, issue_key, "a validé dans la discussion", public=True)
    wait_comment(jira_site, issue_key, "4/5", public=False)
    agent.screenshot(path=str(artifacts_dir / "solution-agent.png"), full_page=True)


def test_persists_alerts_agent(browser, jira_site, chat_addon):
    customer, agent, issue_key = chat_with_agent(browser, jira_site)
    proposed = propose_answer(customer, agent)
    glance = agent.frame_locator(GLANCE_FRAME)
    jira_site.control("POST", "/_devsite/actions/transition", json={
        "issue_key": issue_key, "actor_account_id": AGENT, "to_status": "In Progress"})
    # A workflow status is named in the agent's language, as the system's event.
    status = glance.locator("[data-chat-log] li[data-event-type='status_changed']")
    expect(status).to_contain_text("Statut : En cours")
    expect(status.locator(".chat-author, .chat-lozenge")).to_have_count(0)
    jira_site.control("POST", "/_devsite/actions/transition", json={
        "issue_key": issue_key, "actor_account_id": AGENT, "to_status": "Resolved", "resolution": "Done"})

    proposed.get_by_role("button", name="Le problème persiste").click()

    expect(proposed.locator(".chat-solution")).to_contain_text("La demande est rouverte.")
    wait_until(lambda: request_status(jira_site, issue_key) == "Waiting for support",
               message=f"{issue_key} back to Waiting for support")
    expect(glance.get_by_role("alert")).to_have_text("Le problème persiste selon Alice Durand : reprenez la demande.")
    alert = glance.locator("[data-chat-log] li[data-visibility='internal']", has_text="À traiter")
    expect(alert).to_have_count(1)
    expect(alert.locator(".chat-author")).to_have_text("Support Chat")
    # Status changes are the system's: no author, no internal-note badge.
    reopened = glance.locator("[data-chat-log] li[data-event-type='request_reopened']")
    expect(reopened).to_contain_text("Demande rouverte")
    expect(reopened.locator(".chat-author, .chat-lozenge")).to_have_count(0)
    footer = customer.frame_locator(FOOTER_FRAME)
    expect(footer.locator("[data-chat-log]")).not_to_contain_text("À traiter")
