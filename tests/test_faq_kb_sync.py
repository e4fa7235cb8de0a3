"""The copy of the service desk's knowledge base: the sync against the local Jira site's JSM
knowledge-base API (paged results, rate limits, deleted articles), and its articles proposed beside
the catalogue's."""

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

import pytest

from addon.atlassian.installations import get_installation
from addon.faq import knowledge_base
from addon.faq.knowledge_base import PAGE_LIMIT, claim, sync_due, sync_site
from addon.faq.models import KbArticle

from .wsclient import serve_chat_site

KEY_USER = "cust-alice"
ADMIN = "admin-lea"
SEED_PAGE_IDS = {str(page_id) for page_id in range(65537, 65546)}
KB_PATH = "/rest/servicedeskapi/servicedesk/1/knowledgebase/article"


@pytest.fixture
def kb_site(database_url, jira_site, tmp_path):
    """The add-on installed into the local Jira site, whose Jira client retries at once."""
    yield from serve_chat_site(database_url, jira_site, tmp_path, JIRA_RETRY_BASE_SECS=0.01,
                               JIRA_RETRY_MAX_SECS=0.05, JIRA_MAX_RETRIES=2)


def sync(kb_site):
    app = kb_site.server.app
    with app.app_context():
        return sync_site(get_installation(kb_site.client_key))


def stored(kb_site):
    app = kb_site.server.app
    with app.app_context():
        session = app.extensions["database"].session
        return {row.page_id: row for row in session.query(KbArticle)}


def kb_calls(jira_site):
    return [entry for entry in jira_site.control("GET", "/_devsite/requests")
            if entry["path"] == KB_PATH]


def test_sync_copies_articles(kb_site, jira_site):
    result = sync(kb_site)

    assert result.error is None
    articles = stored(kb_site)
    assert set(articles) == SEED_PAGE_IDS
    invoice = articles["65539"]
    assert invoice.title == "Erreur E1024 à la validation d'une facture"
    assert invoice.space_key == "ERPKB"
    assert invoice.url.endswith("/rest/servicedeskapi/knowledgebase/article/view/65539")
    assert any("E1024" in excerpt for excerpt in invoice.excerpts)
    assert result.added == len(SEED_PAGE_IDS)


def test_sync_sends_documented_parameters(kb_site, jira_site):
    sync(kb_site)

    calls = kb_calls(jira_site)
    assert calls, "the sync never searched the knowledge base"
    for call in calls:
        params = parse_qs(call["query"])
        assert params["highlight"] == ["false"]
        assert params["query"][0]
        assert call["verified"] is True


def test_sync_reads_every_page(kb_site, jira_site):
    many = [{"pageId": str(70000 + index), "title": f"Procédure de clôture mensuelle, étape {index}",
             "body": f"Étape {index} de la clôture mensuelle des comptes."} for index in range(PAGE_LIMIT * 2 + 10)]
    jira_site.control("POST", "/_devsite/kb/articles", json=many)

    sync(kb_site)

    articles = stored(kb_site)
    assert {article["pageId"] for article in many} <= set(articles)
    starts = {parse_qs(call["query"]).get("start", ["0"])[0] for call in kb_calls(jira_site)}
    assert {"0", str(PAGE_LIMIT), str(PAGE_LIMIT * 2)} <= starts


def test_sync_retries_rate_limit(kb_site, jira_site):
    jira_site.control("PUT", "/_devsite/faults", json={"mode": "rate_limit", "path": "knowledgebase/article$",
                                                       "retry_after": 0, "times": 2})

    result = sync(kb_site)

    assert result.error is None
    assert set(stored(kb_site)) == SEED_PAGE_IDS
    limited = [entry for entry in jira_site.control("GET", "/_devsite/requests") if entry.get("status") == 429]
    assert len(limited) == 2


def test_sync_removes_deleted_articles(kb_site, jira_site):
    sync(kb_site)
    jira_site.control("DELETE", "/_devsite/kb/articles/65541")

    result = sync(kb_site)

    assert "65541" not in stored(kb_site)
    assert result.deleted == 1


def test_sync_updates_changed_title(kb_site, jira_site):
    sync(kb_site)
    jira_site.control("POST", "/_devsite/kb/articles", json={
        "pageId": "65540", "title": "Paramétrer la TVA intracommunautaire et l'autoliquidation",
        "body": "Dans Comptabilité, Paramètres, Taxes, créez un code TVA autoliquidée."})

    result = sync(kb_site)

    assert stored(kb_site)["65540"].title == "Paramétrer la TVA intracommunautaire et l'autoliquidation"
    assert result.updated >= 1


def test_sync_failure_keeps_copy(kb_site, jira_site):
    sync(kb_site)
    jira_site.control("PUT", "/_devsite/faults", json={"mode": "error", "status": 503,
                                                       "path": "knowledgebase/article$", "times": 0})
    try:
        result = sync(kb_site)
    finally:
        jira_site.control("DELETE", "/_devsite/faults")

    assert result.error is not None
    assert set(stored(kb_site)) == SEED_PAGE_IDS
    status = kb_site.api("GET", "/admin/faq", ADMIN).json()["knowledge_base"]
    assert "503" in status["error"]
    assert status["articles"] == len(SEED_PAGE_IDS)


def test_kb_articles_suggested(kb_site):
    sync(kb_site)

    response = kb_site.api("POST", "/faq/suggest", KEY_USER, json={
        "summary": "Impossible de valider une facture", "message": "erreur E1024", "session_id": "form-1"})

    first = response.json()["suggestions"][0]
    assert (first["id"], first["source"]) == ("kb-65539", "confluence")
    assert first["url"].endswith("/knowledgebase/article/view/65539")


def test_kb_deleted_article_not_suggested(kb_site, jira_site):
    sync(kb_site)
    jira_site.control("DELETE", "/_devsite/kb/articles/65539")
    sync(kb_site)

    response = kb_site.api("POST", "/faq/suggest", KEY_USER, json={
        "summary": "Impossible de valider une facture", "message": "erreur E1024", "session_id": "form-1"})

    assert "kb-65539" not in [article["id"] for article in response.json()["suggestions"]]


def test_kb_setting_off_hides_articles(kb_site):
    sync(kb_site)
    kb_site.api("PUT", "/admin/faq/settings", ADMIN, json={"knowledge_base_sync": False})

    response = kb_site.api("POST", "/faq/suggest", KEY_USER, json={
        "summary": "Impossible de valider une facture", "message": "erreur E1024", "session_id": "form-1"})
    app = kb_site.server.app
    with app.app_context():
        synced = sync_due(interval_secs=0)

    assert response.json()["suggestions"] == []
    assert synced == 0


def test_admin_sync_route(kb_site):
    response = kb_site.api("POST", "/admin/faq/knowledge-base/sync", ADMIN, json={})

    assert response.status_code == 200, response.text
    assert response.json()["result"]["articles"] == len(SEED_PAGE_IDS)
    assert response.json()["knowledge_base"]["synced_at"] is not None
    assert kb_site.api("POST", "/admin/faq/knowledge-base/sync", KEY_USER, json={}).status_code == 403


def test_sync_due_once_per_interval(kb_site):
    app = kb_site.server.app
    now = datetime.now(timezone.utc)
    with app.app_context():
        first = sync_due(interval_secs=3600, now=now)
        too_soon = sync_due(interval_secs=3600, now=now + timedelta(minutes=30))
        later = sync_due(interval_secs=3600, now=now + timedelta(hours=1))

    assert (first, too_soon, later) == (1, 0, 1)


def test_claim_one_winner(kb_site):
    app = kb_site.server.app
    now = datetime.now(timezone.utc)
    with app.app_context():
        installation_id = get_installation(kb_site.client_key).id
        claims = [claim(installation_id, now, 3600) for _ in range(3)]

    assert claims == [True, False, False]


def test_job_off_in_tests(kb_site):
    assert "faq_kb_scheduler" not in kb_site.server.app.extensions


def test_query_words_keep_accents():
    words = knowledge_base.query_words("Clôturer l'exercice, la clôture et les écritures de Clôture")

    assert words == ["clôturer", "exercice", "clôture", "écritures"]


# -- the local site's endpoint, as Atlassian documents it --------------------------------------------

def site_search(kb_site, params):
    """Call the knowledge-base search as the app user; return the page, or the JiraError raised."""
    from addon.atlassian.jira_client import jira_client_for
    from addon.atlassian.jira_errors import JiraError

    app = kb_site.server.app
    with app.app_context():
        with jira_client_for(get_installation(kb_site.client_key)) as jira:
            try:
                return jira.request("GET", KB_PATH.lstrip("/"), params=params)
            except JiraError as error:
                return error


@pytest.mark.parametrize("params", [{"highlight": "false"}, {"query": "facture"}])
def test_devsite_kb_required_parameters(kb_site, params):
    error = site_search(kb_site, params)

    assert getattr(error, "status", None) == 400


def test_devsite_kb_highlight(kb_site):
    page = site_search(kb_site, {"query": "facture", "highlight": "true"})

    first = page["values"][0]
    assert "@@@hl@@@" in first["title"] + first["excerpt"]
    assert first["source"] == {"type": "confluence", "pageId": first["source"]["pageId"], "spaceKey": "ERPKB"}
    assert first["content"]["iframeSrc"].endswith("/knowledgebase/article/view/" + first["source"]["pageId"])


def test_devsite_kb_excerpt_matches_query(kb_site):
    by_quantity = site_search(kb_site, {"query": "quantités", "highlight": "false"})["values"]
    by_order = site_search(kb_site, {"query": "commande", "highlight": "false"})["values"]

    delivery_by_quantity = [v["excerpt"] for v in by_quantity if v["source"]["pageId"] == "65537"]
    delivery_by_order = [v["excerpt"] for v in by_order if v["source"]["pageId"] == "65537"]
    assert "quantités" in delivery_by_quantity[0]
    assert "commande" in delivery_by_order[0]
    assert delivery_by_quantity != delivery_by_order
