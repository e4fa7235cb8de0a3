"""Canned replies: the team's saved answers, in French and English, with variables.

Support leads edit the list on the settings page (setting `canned_replies`). An agent types the
shortcut in the reply box, and the server fills the variables for the chosen chat in the key
user's language:

    {prenom} / {first_name}        the key user's first name
    {demande} / {request}          the request key
    {technicien} / {agent}         the agent's display name
    {heure_reponse} / {answer_by}  the first-response deadline, in the SLA calendar's time zone

The text is inserted into the reply box; nothing is sent until the agent sends it.
"""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from ..errors import InvalidInput, NotFound

MAX_REPLIES = 200
MAX_BODY_CHARS = 5000
MAX_TITLE_CHARS = 120
SHORTCUT = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
VARIABLE = re.compile(r"\{([a-z_]+)\}")
VARIABLES = {
    "prenom": "first_name", "first_name": "first_name",
    "demande": "request", "request": "request",
    "technicien": "agent", "agent": "agent",
    "heure_reponse": "answer_by", "answer_by": "answer_by",
}


# The names that error messages give the fields of a reply, in French and in English.
FIELD_NAMES = {
    "shortcut": ("le raccourci", "the shortcut"),
    "title": ("le titre", "the title"),
    "body_fr": ("le texte en français", "the French text"),
    "body_en": ("le texte en anglais", "the English text"),
}


def _where(index, field=None):
    """Return how an error names reply `index` (0-based) and, optionally, its field: (French, English)."""
    french, english = f"Réponse type n° {index + 1}", f"Canned reply {index + 1}"
    if field is None:
        return french, english
    return f"{french}, {FIELD_NAMES[field][0]}", f"{english}, {FIELD_NAMES[field][1]}"


def _text(value, where, max_chars, required=True):
    french, english = where
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{french} : champ obligatoire. / {english}: required.")
        return ""
    if not isinstance(value, str) or len(value) > max_chars:
        raise InvalidInput(f"{french} : {max_chars} caractères au plus. / {english}: at most {max_chars} characters.")
    return value.strip()


def _check_variables(text, where):
    french, english = where
    for name in VARIABLE.findall(text):
        if name not in VARIABLES:
            known = ", ".join("{" + key + "}" for key in VARIABLES)
            raise InvalidInput(f"{french} : variable inconnue {{{name}}} ; variables possibles : {known}. "
                               f"/ {english}: unknown variable {{{name}}}; known variables: {known}.")


def clean_replies(value):
    """Validate the list an admin sent and return it in its stored form."""
    if not isinstance(value, list) or len(value) > MAX_REPLIES:
        raise InvalidInput(f"Les réponses types doivent être une liste d'au plus {MAX_REPLIES} éléments. "
                           f"/ Canned replies must be a list of at most {MAX_REPLIES} items.")
    cleaned, seen = [], set()
    for index, reply in enumerate(value):
        if not isinstance(reply, dict):
            french, english = _where(index)
            raise InvalidInput(f"{french} : un objet est attendu. / {english}: an object is expected.")
        shortcut = reply.get("shortcut")
        if not isinstance(shortcut, str) or not SHORTCUT.fullmatch(shortcut):
            french, english = _where(index, "shortcut")
            raise InvalidInput(
                f"{french} {str(shortcut)[:40]!r} : lettres minuscules, chiffres, - et _, 32 caractères au plus. "
                f"/ {english} {str(shortcut)[:40]!r}: lower-case letters, digits, - and _, at most 32 characters."
            )
        if shortcut in seen:
            raise InvalidInput(f"Raccourci en double : {shortcut}. / Duplicate shortcut: {shortcut}.")
        seen.add(shortcut)
        item = {
            "shortcut": shortcut,
            "title": _text(reply.get("title"), _where(index, "title"), MAX_TITLE_CHARS),
            "body_fr": _text(reply.get("body_fr"), _where(index, "body_fr"), MAX_BODY_CHARS),
            "body_en": _text(reply.get("body_en"), _where(index, "body_en"), MAX_BODY_CHARS, required=False),
        }
        _check_variables(item["body_fr"], _where(index, "body_fr"))
        _check_variables(item["body_en"], _where(index, "body_en"))
        cleaned.append(item)
    return cleaned


def find(replies, shortcut):
    for reply in replies or []:
        if reply["shortcut"] == shortcut:
            return reply
    raise NotFound(f"Réponse type introuvable : {str(shortcut)[:40]}. / Canned reply not found: {str(shortcut)[:40]}.")


def format_deadline(deadline, zone_name, language):
    if deadline is None:
        return ""
    local = deadline.astimezone(ZoneInfo(zone_name)) if isinstance(deadline, datetime) else deadline
    if language == "fr":
        return local.strftime("%d/%m/%Y %H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def render(reply, language, values):
    """Fill the variables of `reply` in `language` ("fr" or "en"; French when no English text)."""
    body = reply["body_en"] if language == "en" and reply.get("body_en") else reply["body_fr"]
    return VARIABLE.sub(lambda match: values.get(VARIABLES.get(match.group(1), ""), match.group(0)), body)
