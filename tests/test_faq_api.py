"""Self-service at chat start over real HTTP, against the local Jira site: suggestions, "this
article solved my problem", ratings, the vague-statement rule, the extra fields, the out-of-scope
guard and the agent's flag, and the statistics the support lead reads."""

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import jwt
import pytest

from addon.atlassian.installations import get_installation
from addon.atlassian.qsh import CONTEXT_QSH
from addon.chat.models import AuthorRole, Message, Visibility
from addon.faq import catalogue, service
from addon.faq.models import ArticleRating, ChatArticle, ScopeFlag, ScopeSource, SelfServiceResolution
from addon.models import Installation

from .subscriptions import grant
from .support import ROOT_DIR, wait_until
from .wsclient import chat_site  # noqa: F401  (fixture)

KEY_USER = "cust-alice"  # key user of organisation 1
NON_KEY_CUSTOMER = "cust-bruno"  # organisation 1, not a key user
AGENT = "agent-camille"
ADMIN = "admin-lea"
OTHER_SITE_KEY = "faq-other-site"
OTHER_SITE_SECRET = "faq-other-site-shared-secret-0123456789"

ARTICLES = [
    {"id": "FAQ-E1024", "kind": "faq", "title": "Erreur E1024 à la validation d'une facture",
     "body": "L'erreur E1024 signale une facture dont la période comptable est fermée. Rouvrez la période "
             "ou changez la date de la facture.", "tags": ["E1024", "facture", "période"]},
    {"id": "TUTO-BL", "kind": "tuto", "title": "Créer un bon de livraison",
     "body": "Depuis la commande client, choisissez Livrer, vérifiez les quantités puis validez le bon de "
             "livraison.", "tags": ["BL", "livraison", "commande"], "url": "https://docs.example.com/bl"},
    {"id": "FAQ-MDP", "kind": "faq", "title": "Réinitialiser son mot de passe",
     "body": "Sur l'écran de connexion, choisissez Mot de passe oublié ; un lien valable une heure est envoyé.",
     "tags": ["connexion", "mot de passe"]},
]
E1024_STATEMENT = {"summary": "Impossible de valider une facture", "message": "Erreur E1024 à la validation."}
TRAINING_STATEMENT = {"summary": "Session de formation pour nos équipes",
                      "message": "Nous voudrions organiser une formation complète au module achats pour dix personnes."}


def load_catalogue(chat_site):
    response = chat_site.api("POST", "/admin/faq/import?filename=catalogue.json", ADMIN,
                             data=json.dumps(ARTICLES).encode("utf-8"))
    assert response.status_code == 200, response.text


@pytest.fixture
def faq_site(chat_site):
    load_catalogue(chat_site)
    return chat_site


def suggest(site, account_id=KEY_USER, session_id=None, **statement):
    body = dict(statement, session_id=session_id or str(uuid.uuid4()))
    return site.api("POST", "/faq/suggest", account_id, json=body)


def start(site, account_id=KEY_USER, **fields):
    body = {"summary": E1024_STATEMENT["summary"], "product_area": "Comptabilité", "impact": "blocking",
            "message": E1024_STATEMENT["message"], "client_message_id": str(uuid.uuid4())}
    body.update(fields)
    return site.api("POST", "/chats", account_id, json=body)


def rows(site, model, **filters):
    app = site.server.app
    with app.app_context():
        return list(app.extensions["database"].session.query(model).filter_by(**filters))


def issue_of(jira_site, key):
    return jira_site.control("GET", f"/_devsite/issues/{key}")


def internal_comments(jira_site, key, count=1):
    def fetch():
        comments = [c for c in issue_of(jira_site, key)["comments"] if not c["public"]]
        return comments if len(comments) >= count else None

    return wait_until(fetch, timeout=30, message=f"{count} internal comments on {key}")


# -- suggestions ---------------------------------------------------------------------------------

def test_suggest_ranks_catalogue(faq_site):
    response = suggest(faq_site, **E1024_STATEMENT)

    assert response.status_code == 200, response.text
    suggestions = response.json()["suggestions"]
    assert suggestions[0]["id"] == "FAQ-E1024"
    assert suggestions[0]["kind"] == "faq"
    assert suggestions[0]["excerpt"].startswith("L'erreur E1024")
    assert response.json()["scope"] == "support"
    assert response.json()["vague"] is False


def test_suggest_nothing_fits(faq_site):
    response = suggest(faq_site, summary="Le traceur de plans du bureau d'études", message="Il n'imprime plus en A0.")

    assert response.json()["suggestions"] == []


def test_suggest_link_and_body(faq_site):
    linked = suggest(faq_site, summary="Comment créer un bon de livraison", message="").json()["suggestions"][0]
    unlinked = suggest(faq_site, summary="Erreur E1024", message="").json()["suggestions"][0]

    assert linked["url"] == "https://docs.example.com/bl"
    assert "body" not in linked
    assert unlinked["url"] is None
    assert unlinked["body"].startswith("L'erreur E1024")


@pytest.mark.parametrize("account_id", [NON_KEY_CUSTOMER, AGENT])
def test_suggest_key_users_only(faq_site, account_id):
    response = suggest(faq_site, account_id, **E1024_STATEMENT)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_key_user"
    assert "FAQ-E1024" not in response.text


def test_suggest_without_token(faq_site):
    import requests

    response = requests.post(faq_site.url + "/api/faq/suggest", json=E1024_STATEMENT, timeout=10)

    assert response.status_code == 401


def other_site_token(account_id):
    now = int(time.time())
    claims = {"iss": OTHER_SITE_KEY, "iat": now, "exp": now + 300, "qsh": CONTEXT_QSH, "sub": account_id}
    return jwt.encode(claims, OTHER_SITE_SECRET, algorithm="HS256")


@pytest.fixture
def other_site(faq_site, jira_site):
    """A second installed site, with its own key user (same accountId) and its own catalogue."""
    app = faq_site.server.app
    with app.app_context():
        with app.extensions["database"].transaction() as session:
            session.add(Installation(
                client_key=OTHER_SITE_KEY, addon_key=app.config["ADDON_KEY"], base_url=jira_site.url,
                shared_secret_encrypted=app.extensions["secret_box"].encrypt(OTHER_SITE_SECRET),
                install_token_iat=int(time.time()),
            ))
        installation_id = get_installation(OTHER_SITE_KEY).id
        for ref, title, body in (
                ("OTHER-1", "Inventaire tournant du dépôt",
                 "Comptez les emplacements du dépôt puis validez la session d'inventaire."),
                ("OTHER-2", "Imprimer une facture", "Choisissez l'imprimante du poste."),
                ("OTHER-3", "Créer un client", "Dans Ventes, Clients, choisissez Nouveau.")):
            catalogue.create_article(installation_id, ADMIN, {"id": ref, "kind": "faq", "title": title, "body": body})
    grant(app, OTHER_SITE_KEY, KEY_USER, "1")
    return other_site_token(KEY_USER)


def test_suggest_other_site_isolated(faq_site, other_site):
    import requests

    inventory = {"summary": "Inventaire tournant du dépôt", "message": "Comment valider la session d'inventaire ?"}
    mine = suggest(faq_site, **inventory).json()["suggestions"]
    theirs = requests.post(faq_site.url + "/api/faq/suggest", json=dict(E1024_STATEMENT, session_id="s-1"),
                           headers={"Authorization": f"JWT {other_site}"}, timeout=10).json()["suggestions"]
    their_own = requests.post(faq_site.url + "/api/faq/suggest", json=dict(inventory, session_id="s-2"),
                              headers={"Authorization": f"JWT {other_site}"}, timeout=10).json()["suggestions"]

    assert "OTHER-1" not in [article["id"] for article in mine]
    assert theirs == []
    assert [article["id"] for article in their_own] == ["OTHER-1"]


def test_suggest_index_follows_changes(faq_site):
    assert suggest(faq_site, summary="Erreur E1024", message="").json()["suggestions"]

    faq_site.api("DELETE", "/admin/faq/articles/FAQ-E1024", ADMIN)

    ids = [article["id"] for article in suggest(faq_site, summary="Erreur E1024", message="").json()["suggestions"]]
    assert "FAQ-E1024" not in ids


def test_suggest_synonyms_setting(faq_site):
    before = suggest(faq_site, summary="Problème de PDL sur la commande", message="").json()["suggestions"]
    response = faq_site.api("PUT", "/admin/faq/settings", ADMIN, json={"faq_synonyms": "PDL = bon de livraison"})
    after = suggest(faq_site, summary="Problème de PDL sur la commande", message="").json()["suggestions"]

    assert response.status_code == 200, response.text
    assert "TUTO-BL" not in [article["id"] for article in before[:1]]
    assert after[0]["id"] == "TUTO-BL"


def test_bad_synonyms_rejected(faq_site):
    response = faq_site.api("PUT", "/admin/faq/settings", ADMIN, json={"faq_synonyms": "BL bon de livraison"})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "faq_synonyms"


def cli_suggestions(articles_path, texts):
    """Run `flask --app app faq suggest --batch` on `texts`; return {query id: [(article, score)]}."""
    lines = "".join(json.dumps({"id": str(index), "text": text}, ensure_ascii=False) + "\n"
                    for index, text in enumerate(texts))
    environment = dict(os.environ, PYTHONIOENCODING="utf-8")
    for name in ("DATABASE_URL", "ADDON_ENV", "ADDON_SECRET_KEY", "ADDON_BASE_URL"):
        environment.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "faq", "suggest", "--articles", str(articles_path), "--batch"],
        input=lines, capture_output=True, text=True, cwd=ROOT_DIR, env=environment, timeout=120)
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return {answer["id"]: [(hit["article"], hit["score"]) for hit in answer["suggestions"]] for answer in answers}


def test_suggest_same_ranking_as_cli(faq_site, tmp_path):
    texts = ["Impossible de valider une facture\nErreur E1024 à la validation.",
             "creer un bon de livraison", "mot de pass oublié", "Le traceur ne marche plus", "BL commande client"]
    with faq_site.server.app.app_context():
        articles = service.articles_file(get_installation(faq_site.client_key).id)
    articles_path = Path(tmp_path) / "articles.json"
    articles_path.write_text(json.dumps(articles, ensure_ascii=False), encoding="utf-8")

    from_cli = cli_suggestions(articles_path, texts)

    for index, text in enumerate(texts):
        summary, _, message = text.partition("\n")
        from_api = suggest(faq_site, summary=summary, message=message).json()["suggestions"]
        assert [article["id"] for article in from_api] == [hit[0] for hit in from_cli[str(index)]], text
        assert [article["score"] for article in from_api] == pytest.approx([hit[1] for hit in from_cli[str(index)]],
                                                                          abs=1e-3), text


# -- self-service resolution and ratings -----------------------------------------------------------

def test_solved_recorded_without_request(faq_site, jira_site):
    session_id = str(uuid.uuid4())
    suggest(faq_site, session_id=session_id, **E1024_STATEMENT)

    response = faq_site.api("POST", "/faq/solved", KEY_USER, json=dict(
        E1024_STATEMENT, session_id=session_id, article_id="FAQ-E1024", product_area="Comptabilité"))

    assert response.status_code == 201, response.text
    assert response.json()["resolution"] == {"article_id": "FAQ-E1024", "issue_key": None}
    [resolution] = rows(faq_site, SelfServiceResolution)
    assert (resolution.article_id, resolution.account_id, resolution.organization_id) == ("FAQ-E1024", KEY_USER, "1")
    assert resolution.summary == E1024_STATEMENT["summary"]
    assert resolution.message == E1024_STATEMENT["message"]
    assert resolution.product_area == "Comptabilité"
    assert faq_site.api("GET", "/chats", KEY_USER).json()["chats"] == []
    # The seed site holds SUP-1 and SUP-2; no request was opened after them.
    jira_site.control("GET", "/_devsite/issues/SUP-3", expected=(404,))


def test_solved_twice_counts_once(faq_site):
    body = dict(E1024_STATEMENT, session_id="form-1", article_id="FAQ-E1024")

    first = faq_site.api("POST", "/faq/solved", KEY_USER, json=body)
    again = faq_site.api("POST", "/faq/solved", KEY_USER, json=body)

    assert first.status_code == again.status_code == 201
    assert len(rows(faq_site, SelfServiceResolution)) == 1


def test_solved_unknown_article(faq_site):
    response = faq_site.api("POST", "/faq/solved", KEY_USER,
                            json=dict(E1024_STATEMENT, session_id="form-1", article_id="FAQ-404"))

    assert response.status_code == 404
    assert rows(faq_site, SelfServiceResolution) == []


def test_solved_non_key_user_refused(faq_site):
    response = faq_site.api("POST", "/faq/solved", NON_KEY_CUSTOMER,
                            json=dict(E1024_STATEMENT, session_id="form-1", article_id="FAQ-E1024"))

    assert response.status_code == 403
    assert rows(faq_site, SelfServiceResolution) == []


def test_solved_opens_resolved_request(faq_site, jira_site):
    faq_site.api("PUT", "/admin/faq/settings", ADMIN, json={"self_service_opens_resolved_request": True})

    response = faq_site.api("POST", "/faq/solved", KEY_USER, json=dict(
        E1024_STATEMENT, session_id="form-1", article_id="FAQ-E1024", product_area="Comptabilité"))

    assert response.status_code == 201, response.text
    issue_key = response.json()["resolution"]["issue_key"]
    issue = issue_of(jira_site, issue_key)
    assert issue["status"] == "Resolved"
    assert issue["reporter"] == KEY_USER
    assert issue["organizations"] == ["1"]
    assert "self_service" in issue["labels"]
    assert "FAQ-E1024" in re.sub(r"\\([^\w\s])", r"\1", issue["description"])  # wiki escapes removed
    assert "supportchat" not in issue["properties"]
    assert rows(faq_site, SelfServiceResolution)[0].issue_key == issue_key


def test_rating_recorded_and_replaced(faq_site):
    body = {"session_id": "form-1", "article_id": "TUTO-BL", "helpful": True}

    first = faq_site.api("POST", "/faq/rate", KEY_USER, json=body)
    second = faq_site.api("POST", "/faq/rate", KEY_USER, json=dict(body, helpful=False))

    assert first.status_code == second.status_code == 200
    [rating] = rows(faq_site, ArticleRating)
    assert (rating.article_id, rating.helpful, rating.account_id, rating.organization_id) == (
        "TUTO-BL", False, KEY_USER, "1")


def test_form_session_of_another_key_user_refused(faq_site):
    """A key user who reuses another's form session id neither reads nor overwrites what they recorded."""
    grant(faq_site.server.app, faq_site.client_key, NON_KEY_CUSTOMER, "1")  # Bruno becomes a key user
    faq_site.api("POST", "/faq/rate", KEY_USER, json={"session_id": "form-1", "article_id": "TUTO-BL",
                                                        "helpful": True})
    faq_site.api("POST", "/faq/solved", KEY_USER,
                 json=dict(E1024_STATEMENT, session_id="form-1", article_id="FAQ-E1024"))

    rating = faq_site.api("POST", "/faq/rate", NON_KEY_CUSTOMER,
                          json={"session_id": "form-1", "article_id": "TUTO-BL", "helpful": False})
    solved = faq_site.api("POST", "/faq/solved", NON_KEY_CUSTOMER,
                          json=dict(E1024_STATEMENT, session_id="form-1", article_id="FAQ-E1024"))

    assert rating.status_code == solved.status_code == 400
    assert "form-1" in rating.json()["error"]["message"]
    [stored] = rows(faq_site, ArticleRating)
    assert (stored.account_id, stored.helpful) == (KEY_USER, True)
    [resolution] = rows(faq_site, SelfServiceResolution)
    assert resolution.account_id == KEY_USER


def test_rating_must_be_boolean(faq_site):
    response = faq_site.api("POST", "/faq/rate", KEY_USER,
                            json={"session_id": "form-1", "article_id": "TUTO-BL", "helpful": "oui"})

    assert response.status_code == 400
    assert rows(faq_site, ArticleRating) == []


def test_statistics_for_support_lead(faq_site):
    for session_id in ("form-1", "form-2"):
        suggest(faq_site, session_id=session_id, **E1024_STATEMENT)
        suggest(faq_site, session_id=session_id, **E1024_STATEMENT)  # typing on: counted once per form
    faq_site.api("POST", "/faq/rate", KEY_USER, json={"session_id": "form-1", "article_id": "FAQ-E1024",
                                                      "helpful": True})
    faq_site.api("POST", "/faq/rate", KEY_USER, json={"session_id": "form-2", "article_id": "FAQ-E1024",
                                                      "helpful": False})
    faq_site.api("POST", "/faq/solved", KEY_USER, json=dict(E1024_STATEMENT, session_id="form-1",
                                                             article_id="FAQ-E1024"))

    response = faq_site.api("GET", "/admin/faq/stats", ADMIN)

    assert response.status_code == 200, response.text
    stats = {row["id"]: row for row in response.json()["articles"]}
    assert (stats["FAQ-E1024"]["shown"], stats["FAQ-E1024"]["solved"]) == (2, 1)
    assert (stats["FAQ-E1024"]["helpful"], stats["FAQ-E1024"]["not_helpful"]) == (1, 1)
    assert response.json()["solved_total"] == 1
    assert faq_site.api("GET", "/admin/faq/stats", KEY_USER).status_code == 403


# -- the clear request ---------------------------------------------------------------------------

@pytest.mark.parametrize(("summary", "message"), [
    ("Bug", "ça marche pas"),
    ("Problème", "urgent !!"),
    ("Urgent", "Bonjour, ça ne fonctionne pas, merci"),
])
def test_vague_statement_refused(faq_site, summary, message):
    response = start(faq_site, summary=summary, message=message)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "vague_statement"
    assert "trop vague" in response.json()["error"]["message"]
    assert faq_site.api("GET", "/chats", KEY_USER).json()["chats"] == []


def test_vague_hint_english(faq_site):
    response = faq_site.api("POST", "/chats?lang=en", KEY_USER, json={
        "summary": "Bug", "product_area": "Ventes", "impact": "blocking", "message": "ça marche pas",
        "client_message_id": "c-1"})

    assert response.json()["error"]["message"].startswith("Your request is too vague")


@pytest.mark.parametrize(("summary", "message"), [
    ("ERR-1042", "bloqué"),
    ("Écran « Saisie des commandes »", "bloqué"),
    ("Facture 2024-118", "bloquée"),
])
def test_short_precise_statement_accepted(faq_site, summary, message):
    response = start(faq_site, summary=summary, message=message)

    assert response.status_code == 201, response.text


def test_suggest_reports_vague(faq_site):
    body = suggest(faq_site, summary="bug", message="ça marche pas").json()

    assert body["vague"] is True
    assert body["hint"].startswith("Votre demande est trop vague")


FIELDS = [
    {"key": "erp_version", "label_fr": "Version de l'ERP", "label_en": "ERP version", "type": "select",
     "options": ["12.3", "13.0"], "required": True, "target": "description"},
    {"key": "company", "label_fr": "Société ou base", "label_en": "Company or database", "type": "text",
     "required": False, "target": "description"},
]


def test_extra_fields_in_description(faq_site, jira_site):
    saved = faq_site.api("PUT", "/admin/faq/settings", ADMIN, json={"start_form_fields": FIELDS})
    assert saved.status_code == 200, saved.text
    form = faq_site.api("GET", "/start-form", KEY_USER).json()

    response = start(faq_site, fields={"erp_version": "12.3", "company": "DURAND-PROD"})

    assert [field["key"] for field in form["fields"]] == ["erp_version", "company"]
    assert form["fields"][0]["label_en"] == "ERP version"
    assert response.status_code == 201, response.text
    description = issue_of(jira_site, response.json()["conversation"]["issue_key"])["description"]
    assert description.startswith(E1024_STATEMENT["message"])
    assert "Version de l'ERP : 12.3" in description
    assert "Société ou base : DURAND-PROD" in description


def test_extra_fields_mapped_to_request_fields(faq_site, jira_site):
    offered = faq_site.api("GET", "/admin/faq/request-fields", ADMIN).json()["request_fields"]
    fields = [dict(FIELDS[0], type="text", options=[], target="customfield_10050"),
              {"key": "environment", "label_fr": "Environnement", "label_en": "Environment", "type": "select",
               "options": ["Production", "Test"], "required": True, "target": "customfield_10051"}]
    saved = faq_site.api("PUT", "/admin/faq/settings", ADMIN, json={"start_form_fields": fields})

    response = start(faq_site, fields={"erp_version": "12.3", "environment": "Production"})

    assert {(field["id"], field["jira_type"]) for field in offered} == {
        ("customfield_10050", "string"), ("customfield_10051", "option")}
    assert saved.status_code == 200, saved.text
    assert response.status_code == 201, response.text
    issue = issue_of(jira_site, response.json()["conversation"]["issue_key"])
    assert issue["request_field_values"] == {"customfield_10050": "12.3", "customfield_10051": "Production"}
    assert issue["description"] == E1024_STATEMENT["message"]


@pytest.mark.parametrize(("values", "code"), [
    ({}, "field_required"),
    ({"erp_version": "9.9"}, "invalid_field"),
    ({"erp_version": "12.3", "colour": "bleu"}, "invalid_field"),
])
def test_extra_fields_checked(faq_site, values, code):
    faq_site.api("PUT", "/admin/faq/settings", ADMIN, json={"start_form_fields": FIELDS})

    response = start(faq_site, fields=values)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(("fields", "path"), [
    ([dict(FIELDS[0], key="Version")], "start_form_fields[0].key"),
    ([dict(FIELDS[0], options=[])], "start_form_fields[0].options"),
    ([dict(FIELDS[0], target="summary")], "start_form_fields[0].target"),
    ([dict(FIELDS[0], target="customfield_99999")], "start_form_fields[0].target"),
    ([FIELDS[0], FIELDS[0]], "start_form_fields[1].key"),
])
def test_bad_field_definitions_rejected(faq_site, fields, path):
    response = faq_site.api("PUT", "/admin/faq/settings", ADMIN, json={"start_form_fields": fields})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == path


def test_shown_articles_recorded_on_request(faq_site, jira_site):
    response = start(faq_site, shown_articles=["FAQ-E1024", "TUTO-BL", "FAQ-404"])

    assert response.status_code == 201, response.text
    conversation = response.json()["conversation"]
    shown = rows(faq_site, ChatArticle, conversation_id=conversation["id"])
    assert [(row.article_id, row.rank) for row in sorted(shown, key=lambda row: row.rank)] == [
        ("FAQ-E1024", 1), ("TUTO-BL", 2)]
    [comment] = internal_comments(jira_site, conversation["issue_key"])
    assert "Erreur E1024 à la validation d'une facture (FAQ-E1024)" in comment["body"]
    assert "https://docs.example.com/bl" in comment["body"]
    note = [m for m in rows(faq_site, Message, conversation_id=conversation["id"]) if m.seq == 2][0]
    assert (note.author_role, note.visibility) == (AuthorRole.SYSTEM, Visibility.INTERNAL)
    customer_view = faq_site.api("GET", f"/chats/{conversation['id']}/messages", KEY_USER).json()["messages"]
    assert [message["seq"] for message in customer_view] == [1]


def test_no_articles_no_note(faq_site, jira_site):
    response = start(faq_site)

    issue = issue_of(jira_site, response.json()["conversation"]["issue_key"])
    assert issue["comments"] == []
    assert rows(faq_site, ChatArticle) == []


def test_answer_by_preview(faq_site):
    response = faq_site.api("GET", "/start-form/answer-by?impact=blocking", KEY_USER)

    assert response.status_code == 200, response.text
    sla = response.json()["sla"]
    assert sla["priority"] == "High"
    assert sla["timezone"] == "Europe/Paris"
    assert "answer_by" in sla and "support_opens_at" in sla
    assert faq_site.api("GET", "/start-form/answer-by?impact=blocking", NON_KEY_CUSTOMER).status_code == 403


# -- the out-of-scope guard -------------------------------------------------------------------------

def test_suggest_shows_guard(faq_site):
    body = suggest(faq_site, **TRAINING_STATEMENT).json()

    assert body["scope"] == "training"
    assert body["guard"]["scope"] == "training"
    assert body["guard"]["message"].startswith("Pour former vos équipes")


def test_guard_default_channel(faq_site):
    # With nothing set, the guard links to the usage rules page on the add-on's base URL.
    french = suggest(faq_site, **TRAINING_STATEMENT).json()["guard"]

    assert french["url"] == faq_site.url + "/guide/rules?lang=fr"
    assert french["link_label"] == "Règles d'utilisation de la discussion"


def test_guard_default_channel_email(faq_site):
    saved = faq_site.api("PUT", "/admin/settings", ADMIN, json={"support_email": "support@editeur-erp.example"})
    english = faq_site.api("POST", "/faq/suggest?lang=en", KEY_USER, json=TRAINING_STATEMENT).json()["guard"]

    assert saved.status_code == 200, saved.text
    assert english["url"] == faq_site.url + "/guide/rules?lang=en"
    assert english["link_label"] == "Chat usage rules"
    assert english["message"].endswith("You can also write to support: support@editeur-erp.example.")


def test_guard_texts_from_settings(faq_site):
    guard = {"training": {"message_fr": "Écrivez au service formation.", "message_en": "Write to training.",
                          "link_label_fr": "Catalogue des formations", "link_label_en": "Training catalogue",
                          "url": "https://formation.example.com"}}
    saved = faq_site.api("PUT", "/admin/faq/settings", ADMIN, json={"scope_guard": guard})

    french = suggest(faq_site, **TRAINING_STATEMENT).json()["guard"]
    english = faq_site.api("POST", "/faq/suggest?lang=en", KEY_USER, json=TRAINING_STATEMENT).json()["guard"]

    assert saved.status_code == 200, saved.text
    assert (french["message"], french["link_label"], french["url"]) == (
        "Écrivez au service formation.", "Catalogue des formations", "https://formation.example.com")
    assert (english["message"], english["link_label"]) == ("Write to training.", "Training catalogue")


def test_guard_bad_url_rejected(faq_site):
    response = faq_site.api("PUT", "/admin/faq/settings", ADMIN,
                            json={"scope_guard": {"training": {"url": "javascript:alert(1)"}}})

    assert response.status_code == 400


def test_out_of_scope_start_needs_choice(faq_site):
    response = start(faq_site, **TRAINING_STATEMENT)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "out_of_scope"
    assert response.json()["error"]["guard"]["scope"] == "training"
    assert faq_site.api("GET", "/chats", KEY_USER).json()["chats"] == []


def test_out_of_scope_continue_recorded(faq_site, jira_site):
    response = start(faq_site, continue_out_of_scope=True, **TRAINING_STATEMENT)

    assert response.status_code == 201, response.text
    conversation = response.json()["conversation"]
    [flag] = rows(faq_site, ScopeFlag, conversation_id=conversation["id"])
    assert (flag.scope, flag.source, flag.account_id) == ("training", ScopeSource.KEY_USER, KEY_USER)
    [comment] = internal_comments(jira_site, conversation["issue_key"])
    assert "Hors périmètre (formation)" in comment["body"]


# -- the agent's flag ----------------------------------------------------------------------------------

def test_agent_flag_traced(faq_site, jira_site):
    conversation = start(faq_site).json()["conversation"]
    path = f"/chats/{conversation['id']}/out-of-scope?project_key=SUP"

    before = faq_site.api("GET", path, AGENT).json()["out_of_scope"]
    response = faq_site.api("POST", path, AGENT, json={})
    again = faq_site.api("POST", path, AGENT, json={})

    assert before == {"flagged": False}
    assert response.status_code == 201, response.text
    assert response.json()["out_of_scope"]["flagged"] is True
    assert again.status_code == 200
    [flag] = rows(faq_site, ScopeFlag, conversation_id=conversation["id"])
    assert (flag.source, flag.account_id, flag.scope) == (ScopeSource.AGENT, AGENT, "other")
    [comment] = internal_comments(jira_site, conversation["issue_key"])
    assert "hors périmètre" in comment["body"]
    events = [m for m in faq_site.api("GET", f"/chats/{conversation['id']}/messages?project_key=SUP",
                                      AGENT).json()["messages"] if m["kind"] == "event"]
    assert [(event["event_type"], event["visibility"]) for event in events] == [("scope_flagged", "internal")]


def test_agent_flag_customer_refused(faq_site):
    conversation = start(faq_site).json()["conversation"]

    response = faq_site.api("POST", f"/chats/{conversation['id']}/out-of-scope", KEY_USER, json={})

    assert response.status_code in (403, 404)
    assert rows(faq_site, ScopeFlag) == []


def test_agent_flag_jira_failure_records_nothing(faq_site, jira_site):
    conversation = start(faq_site).json()["conversation"]
    jira_site.control("PUT", "/_devsite/faults", json={"mode": "error", "status": 500, "method": "POST",
                                                       "path": "/comment$", "times": 0})
    try:
        response = faq_site.api("POST", f"/chats/{conversation['id']}/out-of-scope?project_key=SUP", AGENT, json={})
    finally:
        jira_site.control("DELETE", "/_devsite/faults")

    assert response.status_code == 503
    assert rows(faq_site, ScopeFlag) == []
