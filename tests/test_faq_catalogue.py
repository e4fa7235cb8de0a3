"""The FAQ/TUTO catalogue through /api/admin/faq: create, edit, delete, import JSON and CSV, against
the local Jira site (which decides who is an admin)."""

import json

import pytest

from addon.access.models import AuditEntry
from addon.atlassian.installations import get_installation
from addon.faq.catalogue import ArticleError, clean_article, json_items, parse_file

from .wsclient import chat_site  # noqa: F401  (fixture)

ADMIN = "admin-lea"
CUSTOMER = "cust-alice"

ARTICLE = {"id": "FAQ-001", "kind": "faq", "title": "Créer un bon de livraison",
           "body": "Depuis la commande client, choisissez Livrer.", "tags": ["BL", "livraison"]}


def admin(chat_site, method, path, **kwargs):
    return chat_site.api(method, "/admin/faq" + path, ADMIN, **kwargs)


def articles_of(chat_site):
    response = admin(chat_site, "GET", "")
    assert response.status_code == 200, response.text
    return {article["id"]: article for article in response.json()["articles"]}


def upload(chat_site, content, filename, dry_run=False):
    query = f"?lang=fr&filename={filename}" + ("&dry_run=1" if dry_run else "")
    return admin(chat_site, "POST", "/import" + query, data=content.encode("utf-8"))


# -- create, edit, delete ----------------------------------------------------------------------

def test_catalogue_create_article(chat_site):
    response = admin(chat_site, "POST", "/articles", json=ARTICLE)

    assert response.status_code == 201, response.text
    stored = articles_of(chat_site)["FAQ-001"]
    assert stored["title"] == "Créer un bon de livraison"
    assert stored["tags"] == ["BL", "livraison"]
    assert stored["url"] is None


def test_catalogue_create_assigns_id(chat_site):
    body = {key: value for key, value in ARTICLE.items() if key != "id"}
    body["kind"] = "tuto"

    response = admin(chat_site, "POST", "/articles", json=body)

    assert response.status_code == 201, response.text
    assert response.json()["article"]["id"] == "TUTO-001"


def test_catalogue_duplicate_id_rejected(chat_site):
    admin(chat_site, "POST", "/articles", json=ARTICLE)

    response = admin(chat_site, "POST", "/articles", json=dict(ARTICLE, title="Autre"))

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "id"
    assert articles_of(chat_site)["FAQ-001"]["title"] == "Créer un bon de livraison"


def test_catalogue_edit_article(chat_site):
    admin(chat_site, "POST", "/articles", json=ARTICLE)

    response = admin(chat_site, "PUT", "/articles/FAQ-001",
                     json=dict(ARTICLE, title="Créer un BL", url="https://docs.example.com/bl"))

    assert response.status_code == 200, response.text
    stored = articles_of(chat_site)["FAQ-001"]
    assert stored["title"] == "Créer un BL"
    assert stored["url"] == "https://docs.example.com/bl"


def test_catalogue_edit_unknown_article(chat_site):
    response = admin(chat_site, "PUT", "/articles/FAQ-404", json=ARTICLE)

    assert response.status_code == 404


def test_catalogue_delete_article(chat_site):
    admin(chat_site, "POST", "/articles", json=ARTICLE)

    response = admin(chat_site, "DELETE", "/articles/FAQ-001")

    assert response.status_code == 204
    assert articles_of(chat_site) == {}


def test_catalogue_changes_audited(chat_site):
    admin(chat_site, "POST", "/articles", json=ARTICLE)
    admin(chat_site, "DELETE", "/articles/FAQ-001")

    with chat_site.server.app.app_context():
        session = chat_site.server.app.extensions["database"].session
        actions = [entry.action for entry in session.query(AuditEntry).order_by(AuditEntry.id)]
    assert actions == ["faq_article_created", "faq_article_deleted"]


@pytest.mark.parametrize(("change", "field"), [
    ({"kind": "howto"}, "kind"),
    ({"title": ""}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"body": ""}, "body"),
    ({"url": "javascript:alert(1)"}, "url"),
    ({"id": "kb-123"}, "id"),
    ({"id": "FAQ 1"}, "id"),
    ({"tags": 12}, "tags"),
])
def test_catalogue_bad_article_rejected(chat_site, change, field):
    response = admin(chat_site, "POST", "/articles", json=dict(ARTICLE, **change))

    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    assert articles_of(chat_site) == {}


def test_catalogue_customer_refused(chat_site):
    response = chat_site.api("POST", "/admin/faq/articles", CUSTOMER, json=ARTICLE)

    assert response.status_code == 403
    assert articles_of(chat_site) == {}


def test_catalogue_error_english(chat_site):
    response = admin(chat_site, "POST", "/articles?lang=en", json=dict(ARTICLE, kind="howto"))

    assert response.json()["error"]["message"].startswith("Unknown article kind")


# -- import ------------------------------------------------------------------------------------

GOOD_JSON = json.dumps([
    ARTICLE,
    {"id": "TUTO-002", "kind": "tuto", "title": "Clôturer un exercice", "body": "Étapes de la clôture.",
     "tags": ["clôture"], "url": "https://docs.example.com/cloture"},
], ensure_ascii=False, indent=2)

GOOD_CSV = ("id;kind;titre;body;tags\n"
            "FAQ-010;faq;Erreur E1024;La période comptable est fermée.;E1024, facture\n"
            "FAQ-011;faq;\"Imprimer; une facture\";Vérifiez l'imprimante.;impression\n")


def test_import_json_creates_articles(chat_site):
    response = upload(chat_site, GOOD_JSON, "catalogue.json")

    assert response.status_code == 200, response.text
    report = response.json()["report"]
    assert report["imported"] is True
    assert report["created"] == ["FAQ-001", "TUTO-002"]
    assert set(articles_of(chat_site)) == {"FAQ-001", "TUTO-002"}


def test_import_json_updates_same_id(chat_site):
    admin(chat_site, "POST", "/articles", json=dict(ARTICLE, title="Ancien titre"))

    report = upload(chat_site, GOOD_JSON, "catalogue.json").json()["report"]

    assert report["updated"] == ["FAQ-001"]
    assert report["created"] == ["TUTO-002"]
    assert articles_of(chat_site)["FAQ-001"]["title"] == "Créer un bon de livraison"


def test_import_csv_semicolons(chat_site):
    response = upload(chat_site, GOOD_CSV, "catalogue.csv")

    assert response.status_code == 200, response.text
    stored = articles_of(chat_site)
    assert stored["FAQ-010"]["tags"] == ["E1024", "facture"]
    assert stored["FAQ-011"]["title"] == "Imprimer; une facture"


def test_import_bad_json_imports_nothing(chat_site):
    bad = json.dumps([ARTICLE, {"id": "FAQ-002", "kind": "faq", "title": "", "body": "Texte"},
                      {"id": "FAQ-003", "kind": "wiki", "title": "T", "body": "Texte"}], indent=2)

    response = upload(chat_site, bad, "catalogue.json")

    assert response.status_code == 422
    report = response.json()["report"]
    assert report["imported"] is False
    assert [(error["line"], error["id"]) for error in report["errors"]] == [(12, "FAQ-002"), (18, "FAQ-003")]
    assert "titre" in report["errors"][0]["message"]
    assert articles_of(chat_site) == {}


def test_import_bad_csv_line_numbers(chat_site):
    bad = GOOD_CSV + "FAQ-012;tuto;Sans texte;;\nFAQ-010;faq;Doublon;Texte;\n"

    report = upload(chat_site, bad, "catalogue.csv").json()["report"]

    assert [(error["line"], error["id"]) for error in report["errors"]] == [(4, "FAQ-012"), (5, "FAQ-010")]
    assert "déjà ligne 2" in report["errors"][1]["message"]
    assert articles_of(chat_site) == {}


def test_import_json_syntax_error(chat_site):
    response = upload(chat_site, '[\n  {"id": "FAQ-1",\n  "kind": }\n]', "catalogue.json")

    assert response.status_code == 400
    assert "ligne 3" in response.json()["error"]["message"]
    assert articles_of(chat_site) == {}


def test_import_csv_missing_column(chat_site):
    response = upload(chat_site, "id,title\nFAQ-1,Titre\n", "catalogue.csv")

    assert response.status_code == 400
    assert "kind" in response.json()["error"]["message"]


def test_import_dry_run_stores_nothing(chat_site):
    report = upload(chat_site, GOOD_JSON, "catalogue.json", dry_run=True).json()["report"]

    assert report["errors"] == []
    assert report["imported"] is False
    assert articles_of(chat_site) == {}


def test_import_audited_and_exported(chat_site):
    upload(chat_site, GOOD_JSON, "catalogue.json")

    exported = admin(chat_site, "GET", "/export")

    assert exported.status_code == 200
    assert "attachment" in exported.headers["Content-Disposition"]
    assert [article["id"] for article in exported.json()] == ["FAQ-001", "TUTO-002"]
    with chat_site.server.app.app_context():
        installation_id = get_installation(chat_site.client_key).id
        session = chat_site.server.app.extensions["database"].session
        entry = session.query(AuditEntry).filter_by(installation_id=installation_id, action="faq_imported").one()
    assert entry.details == {"created": 2, "updated": 0}


# -- parsing, without a server -------------------------------------------------------------------

def test_json_items_line_of_each():
    text = '[\n  {"id": "A"},\n\n  {"id": "B"}\n]'

    assert json_items(text) == [(2, {"id": "A"}), (4, {"id": "B"})]


def test_json_items_rejects_object():
    with pytest.raises(Exception) as raised:
        json_items('{"id": "A"}')
    assert "liste" in str(raised.value)


def test_parse_file_detects_csv_without_name():
    items = parse_file("id,kind,title,body\nA,faq,Titre,Texte\n".encode("utf-8-sig"))

    assert items == [(2, {"id": "A", "kind": "faq", "title": "Titre", "body": "Texte"})]


def test_parse_file_rejects_latin1():
    with pytest.raises(Exception) as raised:
        parse_file("id,kind,title,body\nA,faq,Clôture,Texte\n".encode("latin-1"), "a.csv")
    assert "UTF-8" in str(raised.value)


def test_clean_article_tags_from_text():
    article = clean_article(dict(ARTICLE, tags="BL; livraison | bl"))

    assert article["tags"] == ["BL", "livraison"]


def test_clean_article_missing_id():
    with pytest.raises(ArticleError) as raised:
        clean_article({key: value for key, value in ARTICLE.items() if key != "id"})
    assert raised.value.field == "id"



# -- the screens' texts --------------------------------------------------------------------------

def test_faq_strings_translated(chat_site):
    from addon.web.panels import page_strings

    with chat_site.server.app.test_request_context("/admin/settings"):
        tables = page_strings(("panels/faq_strings.html", "panels/faq_admin_strings.html"))

    assert set(tables["fr"]) == set(tables["en"])
    same = {key for key, text in tables["fr"].items() if tables["en"][key] == text}
    # Words of both languages, and the FAQ abbreviation.
    assert same == {"faq_kind_faq", "faqa_kind_faq", "faqa_col_kind", "faqa_col_actions", "faqa_col_article"}
