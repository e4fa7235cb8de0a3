"""Plural texts of the iframe pages: the string tables carry a singular ("_one") and a plural form
instead of "(s)", and SupportChat.i18n.plural picks between them by each language's rule, run in
headless Chromium on the real tables and static/chat/i18n.js."""

import json
import re

import pytest

from addon import create_app
from addon.web.panels import page_strings
from tests.conftest import TEST_SECRET_KEY
from tests.support import ROOT_DIR

pytestmark = pytest.mark.browser

STRING_TABLES = tuple(sorted(f"panels/{path.name}" for path in (ROOT_DIR / "templates" / "panels").glob("*_strings.html")))
I18N_SCRIPT = ROOT_DIR / "static" / "chat" / "i18n.js"


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """Every string table of the iframe pages, rendered in French and English."""
    directory = tmp_path_factory.mktemp("plurals")
    app = create_app({
        "ADDON_ENV": "test",
        "ADDON_BASE_URL": "http://127.0.0.1:9",
        "ADDON_SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": f"sqlite:///{directory / 'addon.sqlite3'}",
        "INSTANCE_DIR": str(directory / "instance"),
    })
    with app.test_request_context("/"):
        return page_strings(STRING_TABLES)


def plural_of(browser, tables, lang, key, count, params=None):
    """Return SupportChat.i18n.plural(key, count, params) on a blank page in `lang`."""
    page = browser.new_page()
    try:
        dictionaries = json.dumps(tables).replace("</", "<\\/")
        page.set_content(f'<html lang="{lang}"><body><script type="application/json" id="chat-strings" '
                         f'data-lang="{lang}">{dictionaries}</script></body></html>')
        page.add_script_tag(path=str(I18N_SCRIPT))
        return page.evaluate("([key, count, params]) => SupportChat.i18n.plural(key, count, params)",
                             [key, count, params])
    finally:
        page.close()


def test_tables_no_optional_plural(tables):
    for lang, texts in tables.items():
        with_optional = {key: text for key, text in texts.items() if re.search(r"\w\(s\)", text)}
        assert with_optional == {}, lang


def test_tables_singular_has_plural(tables):
    for lang, texts in tables.items():
        orphans = [key for key in texts if key.endswith("_one") and key[:-len("_one")] not in texts]
        assert orphans == [], lang


@pytest.mark.parametrize("lang, count, expected", [
    ("fr", 0, "0 non lu"),
    ("fr", 1, "1 non lu"),
    ("fr", 2, "2 non lus"),
    ("en", 0, "0 unread"),
    ("en", 2, "2 unread"),
])
def test_plural_unread(browser, tables, lang, count, expected):
    assert plural_of(browser, tables, lang, "desk_unread", count) == expected


@pytest.mark.parametrize("lang, count, expected", [
    ("fr", 0, "Léa : disponible, 0 discussion"),
    ("fr", 1, "Léa : disponible, 1 discussion"),
    ("fr", 3, "Léa : disponible, 3 discussions"),
    ("en", 0, "Léa: available, 0 chats"),
    ("en", 1, "Léa: available, 1 chat"),
    ("en", 3, "Léa: available, 3 chats"),
])
def test_plural_team_member(browser, tables, lang, count, expected):
    status = {"fr": "disponible", "en": "available"}[lang]
    assert plural_of(browser, tables, lang, "desk_team_member", count, {"name": "Léa", "status": status}) == expected


@pytest.mark.parametrize("lang, count, expected", [
    ("fr", 0, "0 problème résolu en libre-service."),
    ("fr", 4, "4 problèmes résolus en libre-service."),
    ("en", 0, "0 problems solved by self-service."),
    ("en", 1, "1 problem solved by self-service."),
])
def test_plural_self_service_stats(browser, tables, lang, count, expected):
    assert plural_of(browser, tables, lang, "faqa_stats_solved", count) == expected


def test_plural_without_singular_key(browser, tables):
    # A key with no "_one" form keeps its one text for every count.
    assert plural_of(browser, tables, "fr", "desk_waiting", 1, {"minutes": 1}) == "attend depuis 1 min"
