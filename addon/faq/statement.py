"""The clear request: when a key user's statement is too vague to act on, and the start form's extra fields.

The server decides on vagueness (`is_vague`). The start form shows the same hint from the
suggestion endpoint while the key user types, and `start_chat` rejects a vague statement with it,
so a form that skipped the check still cannot open a vague request.

Extra fields are defined per site (setting `start_form_fields`). Each one is mapped either to a
JSM request field (`target` is a field id such as "customfield_10050", sent in
requestFieldValues) or to the description, where the values form a block under the first message.
"""

import re
import unicodedata

from ..errors import InvalidInput

# Fewer distinct meaningful words than this, with no error code, document number or screen name,
# make a statement vague. "Impossible de valider une facture" has three: impossible, valider, facture.
MEANINGFUL_WORDS_MIN = 3

# Words that carry no fact about the problem: French function words, politeness, and the words of
# vague complaints ("ça marche pas", "problème", "bug", "urgent"). Compared after folding.
EMPTY_WORDS = frozenset("""
a ai au aux avec c ca ce ces cet cette d dans de des du elle en est et etre il ils j je l la le les
leur lui m ma me mes moi mon n ne nos notre nous on ou par pas plus pour qu que qui s sa se ses si
son sur t ta te tes toi ton tu un une vos votre vous y a-t-il est-ce
bonjour bonsoir salut merci svp stp sil plait cordialement hello hi please thanks thank
marche marchent fonctionne fonctionnent plante bug bugs beug probleme problemes pb souci soucis
erreur erreurs urgent urgence aide help issue issues error errors broken works work working
rien tout toujours encore jamais tres trop bien mal vite
""".split())
# An error code or reference: letters and digits mixed (ERR-1042, E1042, SQL-00942, VTE001), a
# hexadecimal code (0x80004005), or a number of two digits or more, possibly in parts (invoice 42,
# 2024-118, version 12.3).
CODE_PATTERN = re.compile(r"(?<![\w-])(?:0x[0-9a-f]{4,}|[a-z]+[-_.]?\d+[a-z0-9-]*|\d+[-_.]?[a-z]+[a-z0-9-]*"
                          r"|\d{2,}(?:[-/._]\d+)*|\d+(?:[-/._]\d+)+)(?![\w-])", re.IGNORECASE)
# A screen, menu or window named in the statement ("écran Saisie des commandes", « Factures »).
SCREEN_PATTERN = re.compile(r"\b(?:ecran|menu|fenetre|onglet|formulaire|screen|window|tab|form)\s+[\w«\"']",
                            re.IGNORECASE)
QUOTED_PATTERN = re.compile(r"«\s*[^»]{3,}»|\"[^\"]{3,}\"|“[^”]{3,}”")

VAGUE_HINT = ("Votre demande est trop vague pour que le support puisse agir : précisez l'écran ou le "
              "module concerné, ce que vous faisiez et le message ou le code d'erreur affiché (par exemple "
              "« Erreur ERR-1042 à la validation d'une facture »). / Your request is too vague for support "
              "to act on: name the screen or module, what you were doing and the message or error code "
              "shown (for example “Error ERR-1042 when validating an invoice”).")


class VagueStatement(InvalidInput):
    code = "vague_statement"


def fold(text):
    """Return `text` in lower case without accents, typographic apostrophes made straight."""
    text = unicodedata.normalize("NFKD", text.replace("’", "'"))
    return "".join(char for char in text if not unicodedata.combining(char)).lower()


def meaningful_words(text):
    """Return the distinct words of `text` that say something about the problem."""
    words = set()
    for word in re.findall(r"[a-z]+", fold(text)):
        if len(word) >= 2 and word not in EMPTY_WORDS:
            words.add(word)
    return words


def names_something(text):
    """Tell whether `text` names an error code, a number, a screen or a quoted name."""
    folded = fold(text)
    return bool(CODE_PATTERN.search(folded) or SCREEN_PATTERN.search(folded) or QUOTED_PATTERN.search(text))


def is_vague(summary, message=""):
    """Tell whether the statement (summary and first message) is too vague to act on."""
    statement = f"{summary or ''}\n{message or ''}"
    if names_something(statement):
        return False
    return len(meaningful_words(statement)) < MEANINGFUL_WORDS_MIN


def check_statement(summary, message):
    """Raise VagueStatement with the hint when the statement is too vague to act on."""
    if is_vague(summary, message):
        raise VagueStatement(VAGUE_HINT)


# -- extra fields of the start form --------------------------------------------------------------

FIELDS_MAX = 10
FIELD_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
LABEL_MAX_CHARS = 80
OPTIONS_MAX = 50
OPTION_MAX_CHARS = 80
VALUE_MAX_CHARS = 255
FIELD_TYPES = ("text", "select")
DESCRIPTION_TARGET = "description"
# JSM request field ids: system fields by name, custom fields as customfield_NNNNN.
TARGET_PATTERN = re.compile(r"^(?:customfield_\d{1,10}|[a-z][a-zA-Z]{1,39})$")
# Fields the chat sets itself; an extra field may not overwrite them.
RESERVED_TARGETS = ("summary", "organization", "requestParticipants")


class FieldError(InvalidInput):
    """An invalid field definition or value; `field` names it (e.g. "start_form_fields[1].label_fr")."""

    def __init__(self, message, field=None, code="invalid_field"):
        super().__init__(message, code=code)
        self.field = field

    def to_dict(self):
        body = super().to_dict()
        body["error"]["field"] = self.field
        return body


def _label(value, path, name):
    text = str(value or "").strip()
    if not text or len(text) > LABEL_MAX_CHARS or "\n" in text:
        raise FieldError(f"{path}.{name} : libellé d'une ligne de 1 à {LABEL_MAX_CHARS} caractères attendu. "
                         f"/ {path}.{name}: a one-line label of 1 to {LABEL_MAX_CHARS} characters is expected.",
                         f"{path}.{name}")
    return text


def clean_form_fields(fields):
    """Return the valid definitions of the start form's extra fields, or raise FieldError naming the first bad one.

    Each is {"key", "label_fr", "label_en", "type": "text"|"select", "options": [...] (select
    only), "required": bool, "target": "description" or a JSM request field id}.
    """
    if not isinstance(fields, list) or len(fields) > FIELDS_MAX:
        raise FieldError(f"Indiquez au plus {FIELDS_MAX} champs. / Give at most {FIELDS_MAX} fields.",
                         "start_form_fields")
    cleaned, keys, targets = [], set(), set()
    for index, field in enumerate(fields):
        definition = _clean_field(field, f"start_form_fields[{index}]", keys, targets)
        keys.add(definition["key"])
        if definition["target"] != DESCRIPTION_TARGET:
            targets.add(definition["target"])
        cleaned.append(definition)
    return cleaned


def _clean_field(field, path, keys, targets):
    """Return one valid field definition; `keys` and `targets` are those of the fields before it."""
    if not isinstance(field, dict):
        raise FieldError(f"{path} doit être un objet. / {path} must be an object.", path)

    key = str(field.get("key") or "").strip()
    if not FIELD_KEY_PATTERN.match(key) or key in keys:
        raise FieldError(f"{path}.key : clé unique en minuscules (lettres, chiffres, _) attendue, {key[:40]!r} "
                         f"reçu. / {path}.key: a unique lower-case key (letters, digits, _) is expected, got "
                         f"{key[:40]!r}.", f"{path}.key")

    kind = field.get("type") or "text"
    if kind not in FIELD_TYPES:
        raise FieldError(f"{path}.type : text ou select, pas {str(kind)[:20]!r}. "
                         f"/ {path}.type: text or select, not {str(kind)[:20]!r}.", f"{path}.type")
    options = []
    if kind == "select":
        raw = field.get("options")
        if isinstance(raw, str):
            raw = raw.split("\n")
        options = [str(option).strip() for option in (raw or []) if str(option).strip()]
        if not options or len(options) > OPTIONS_MAX or any(len(o) > OPTION_MAX_CHARS for o in options) \
                or len(set(options)) != len(options):
            raise FieldError(f"{path}.options : de 1 à {OPTIONS_MAX} choix distincts de {OPTION_MAX_CHARS} "
                             f"caractères au plus. / {path}.options: 1 to {OPTIONS_MAX} distinct choices of at "
                             f"most {OPTION_MAX_CHARS} characters.", f"{path}.options")

    target = str(field.get("target") or DESCRIPTION_TARGET).strip()
    if target != DESCRIPTION_TARGET and (not TARGET_PATTERN.match(target) or target in RESERVED_TARGETS
                                          or target in targets):
        raise FieldError(f"{path}.target : « description » ou l'identifiant d'un champ de la demande "
                         f"(customfield_10050), utilisé une seule fois, pas {target[:40]!r}. / {path}.target: "
                         f"“description” or the id of a request field (customfield_10050), used once, not "
                         f"{target[:40]!r}.", f"{path}.target")

    return {
        "key": key,
        "label_fr": _label(field.get("label_fr"), path, "label_fr"),
        "label_en": _label(field.get("label_en") or field.get("label_fr"), path, "label_en"),
        "type": kind,
        "options": options,
        "required": bool(field.get("required")),
        "target": target,
        # "option" when the JSM field is a select list, whose value JSM takes as {"value": ...}.
        "jira_type": str(field.get("jira_type") or "string")[:40],
    }


def field_values(definitions, values):
    """Return {key: value} of the extra fields the key user filled in, checked against `definitions`.

    Raises FieldError naming the first missing, unknown or invalid value.
    """
    values = values or {}
    if not isinstance(values, dict):
        raise FieldError("fields doit être un objet {clé: valeur}. / fields must be an object {key: value}.", "fields")
    known = {definition["key"] for definition in definitions}
    unknown = sorted(set(values) - known)
    if unknown:
        raise FieldError(f"Champs inconnus : {', '.join(unknown)[:200]}. / Unknown fields: {', '.join(unknown)[:200]}.",
                         f"fields.{unknown[0]}")
    cleaned = {}
    for definition in definitions:
        key = definition["key"]
        value = values.get(key)
        value = "" if value is None else str(value).strip()
        if not value:
            if definition["required"]:
                raise FieldError(f"Le champ « {definition['label_fr']} » est obligatoire. "
                                 f"/ Field “{definition['label_en']}” is required.", f"fields.{key}",
                                 code="field_required")
            continue
        if len(value) > VALUE_MAX_CHARS or "\n" in value:
            raise FieldError(f"« {definition['label_fr']} » : une ligne de {VALUE_MAX_CHARS} caractères au plus. "
                             f"/ “{definition['label_en']}”: one line of at most {VALUE_MAX_CHARS} characters.",
                             f"fields.{key}")
        if definition["type"] == "select" and value not in definition["options"]:
            raise FieldError(f"« {definition['label_fr']} » : choisissez une valeur de la liste. "
                             f"/ “{definition['label_en']}”: choose a value from the list.", f"fields.{key}")
        cleaned[key] = value
    return cleaned


def request_values(definitions, values):
    """Split filled-in values into (requestFieldValues to add, description lines "label : value")."""
    mapped, lines = {}, []
    for definition in definitions:
        value = values.get(definition["key"])
        if not value:
            continue
        if definition["target"] == DESCRIPTION_TARGET:
            lines.append(f"{definition['label_fr']} : {value}")
        elif definition.get("jira_type") == "option":
            mapped[definition["target"]] = {"value": value}
        else:
            mapped[definition["target"]] = value
    return mapped, lines


def description_with(message, lines):
    """Return the request description: the first message, then the block of extra fields when any."""
    if not lines:
        return message
    return message.rstrip() + "\n\n----\n" + "\n".join(lines)
