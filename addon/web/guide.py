"""The public user guide and usage rules of the chat, in French and English.

These pages carry no JWT: the activation e-mail and the chat link to them, and they open in a new
tab. They show nothing about a site or a user, only fixed text, so they need no tenant.
Language: the `lang` query parameter (fr or en); French otherwise, whatever the browser prefers,
because the links in the French e-mails must open the French text.
"""

from flask import Blueprint, render_template, request
from flask_babel import force_locale

from ..i18n import SUPPORTED_LOCALES

bp = Blueprint("guide", __name__)

GUIDE_PATH = "/guide"
RULES_PATH = "/guide/rules"
DEFAULT_LANG = "fr"


def page_lang():
    """Return the language of the `lang` query parameter when supported, else French."""
    requested = request.args.get("lang", "").strip().lower()
    return requested if requested in SUPPORTED_LOCALES else DEFAULT_LANG


def render_guide_page(template):
    lang = page_lang()
    other = "en" if lang == "fr" else "fr"
    with force_locale(lang):
        return render_template(template, page_lang=lang, other_lang=other)


@bp.get(GUIDE_PATH)
def guide():
    return render_guide_page("guide/guide.html")


@bp.get(RULES_PATH)
def rules():
    return render_guide_page("guide/rules.html")
