"""French-first translations with Flask-Babel.

Source strings are French; `translations/en/LC_MESSAGES/messages.po` holds the English beside them.
The catalogues are compiled at start-up into the instance folder, so no binary file is committed.
"""

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import request
from flask_babel import Babel, get_locale

SOURCE_DIR = Path(__file__).resolve().parent.parent / "translations"
SUPPORTED_LOCALES = ("fr", "en")


def compile_catalogues(target_dir):
    """Compile every .po under SOURCE_DIR into `target_dir` when the .mo is missing or older."""
    for po_path in SOURCE_DIR.glob("*/LC_MESSAGES/messages.po"):
        mo_path = Path(target_dir) / po_path.relative_to(SOURCE_DIR).with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parent.parent.name)
        temporary = mo_path.with_suffix(".mo.tmp")
        with temporary.open("wb") as mo_file:
            write_mo(mo_file, catalog)
        temporary.replace(mo_path)


def select_locale():
    """Pick the user's language: the `lang` query parameter set by the page script from the
    user's Jira locale, then the browser's preference, then French."""
    requested = (request.args.get("lang") or "").split("-")[0].split("_")[0].lower()
    if requested in SUPPORTED_LOCALES:
        return requested
    return request.accept_languages.best_match(SUPPORTED_LOCALES) or "fr"


def init_babel(app, instance_dir):
    target = Path(instance_dir) / "translations"
    compile_catalogues(target)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(target)
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["get_locale"] = get_locale
