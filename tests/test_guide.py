"""The public user guide and usage rules pages, served over loopback HTTP without a JWT."""

import re

import pytest
import requests
from flask import render_template_string
from flask_babel import force_locale

from addon import create_app
from addon.web import guide

from .conftest import addon_overrides
from .support import AddonServer, free_port

GUIDE_SECTIONS_FR = ["Démarrer une discussion", "Bien formuler votre demande",
                     "Articles qui pourraient vous aider", "Valider la solution", "Pièces jointes",
                     "Quand la discussion se poursuit ailleurs", "Revenir plus tard", "Messages non lus",
                     "Transcription"]
GUIDE_SECTIONS_EN = ["Start a chat", "Stating your request clearly", "Articles that might help you",
                     "Validate the solution", "Attachments", "When the chat continues elsewhere",
                     "Coming back later", "Unread messages", "Transcript"]
RULES_SECTIONS_FR = ["À quoi sert la discussion", "Ce que la discussion ne couvre pas",
                     "Délai de première réponse", "Les autres canaux", "Les utilisateurs clés",
                     "Tout est tracé"]
RULES_SECTIONS_EN = ["What the chat is for", "What the chat does not cover", "First-response time",
                     "The other channels", "Key users", "Everything is traced"]


@pytest.fixture
def guide_server(database_url, jira_site, tmp_path):
    """The add-on with the guide blueprint, registered here until create_app registers it."""
    port = free_port()
    app = create_app(addon_overrides(database_url, jira_site, port, tmp_path))
    if guide.bp.name not in app.blueprints:
        app.register_blueprint(guide.bp)
    server = AddonServer(app, port)
    yield server
    server.stop()


def fetch(server, path, **headers):
    return requests.get(server.url + path, headers=headers, timeout=10)


def headings(html):
    return [re.sub(r"<[^>]+>", "", heading).strip() for heading in re.findall(r"<h2[^>]*>(.*?)</h2>", html)]


def test_guide_french_by_default(guide_server):
    response = fetch(guide_server, "/guide", **{"Accept-Language": "en"})

    assert response.status_code == 200
    assert '<html lang="fr">' in response.text
    for section in GUIDE_SECTIONS_FR:
        assert any(heading.startswith(section) for heading in headings(response.text)), section


def test_guide_english(guide_server):
    response = fetch(guide_server, "/guide?lang=en")

    assert response.status_code == 200
    assert '<html lang="en">' in response.text
    for section in GUIDE_SECTIONS_EN:
        assert any(heading.startswith(section) for heading in headings(response.text)), section


@pytest.mark.parametrize(("lang", "badge"), [("fr", "bientôt disponible"), ("en", "coming soon")])
def test_guide_has_nothing_coming_soon(guide_server, lang, badge):
    # Every section describes what the chat does today.
    assert badge not in fetch(guide_server, f"/guide?lang={lang}").text


def test_rules_french_by_default(guide_server):
    response = fetch(guide_server, "/guide/rules")

    assert response.status_code == 200
    assert '<html lang="fr">' in response.text
    assert headings(response.text) == RULES_SECTIONS_FR
    assert "formation" in response.text
    assert "personnalisations" in response.text
    assert "notes internes" in response.text


def test_rules_english(guide_server):
    response = fetch(guide_server, "/guide/rules?lang=en")

    assert response.status_code == 200
    assert headings(response.text) == RULES_SECTIONS_EN
    assert "business hours" in response.text


@pytest.mark.parametrize("path", ["/guide", "/guide/rules"])
def test_guide_needs_no_script(guide_server, path):
    html = fetch(guide_server, path).text

    assert "<script" not in html
    assert "<noscript" not in html


@pytest.mark.parametrize("path", ["/guide", "/guide/rules"])
def test_guide_needs_no_jwt(guide_server, path):
    response = fetch(guide_server, path, Authorization="JWT not-a-token")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")


def test_guide_unknown_lang_escaped(guide_server):
    response = fetch(guide_server, '/guide?lang="><script>alert(1)</script>')

    assert response.status_code == 200
    assert '<html lang="fr">' in response.text
    assert "<script" not in response.text
    assert "alert(1)" not in response.text


def test_guide_language_switch(guide_server):
    french = fetch(guide_server, "/guide/rules").text
    english = fetch(guide_server, "/guide/rules?lang=en").text

    assert 'href="/guide/rules?lang=en"' in french
    assert 'href="/guide/rules?lang=fr"' in english


def test_guide_links_rules(guide_server):
    english = fetch(guide_server, "/guide?lang=en").text

    assert 'href="/guide/rules?lang=en"' in english


def test_guide_printable(guide_server):
    html = fetch(guide_server, "/guide").text

    assert "@media print" in html
    assert "chat.css" in html


def test_links_include(guide_server):
    app = guide_server.app
    with app.test_request_context("/portal/footer?lang=en"):
        with force_locale("en"):
            html = render_template_string('{% include "guide/links.html" %}', page_lang="en")

    assert 'href="/guide?lang=en"' in html
    assert 'href="/guide/rules?lang=en"' in html
    assert html.count('target="_blank"') == 2
    assert "User guide" in html
