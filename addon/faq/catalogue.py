"""The add-on's own FAQ/TUTO catalogue: validation, storage, changes and import.

An article is `{"id", "kind": "faq"|"tuto", "title", "body", "tags", "url"}`, where `id` is the
reference the support lead chose (stored as `ref`) and `url` is optional. Every change raises the
site's article-set version (`bump_version`), so that each process rebuilds its search index, and
leaves an audit entry.

Import takes a JSON list of articles or a CSV file with the same columns. Every article is checked
before anything is written. A file with any bad article imports nothing, and the report names the
line of each one that failed. Articles of the file replace those with the same id, and articles
that the file does not name stay.
"""

import csv
import io
import json
import logging
import re
import unicodedata

from sqlalchemy import func, select, update

from ..access.subscriptions import audit
from ..chat.actions import database
from ..errors import InvalidInput, NotFound
from .models import KB_ID_PREFIX, ArticleKind, FaqArticle, FaqSiteState

log = logging.getLogger(__name__)

REF_MAX_CHARS = 80
REF_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
TITLE_MAX_CHARS = 200
BODY_MAX_CHARS = 20_000
TAGS_MAX = 30
TAG_MAX_CHARS = 60
URL_MAX_CHARS = 1000
CATALOGUE_MAX_ARTICLES = 5000
# Header names accepted for each CSV column, compared without accents, case or punctuation.
CSV_COLUMNS = {
    "id": ("id", "ref", "reference", "identifiant"),
    "kind": ("kind", "type", "genre"),
    "title": ("title", "titre"),
    "body": ("body", "texte", "contenu", "content", "corps"),
    "tags": ("tags", "mots_cles", "keywords", "etiquettes"),
    "url": ("url", "lien", "link"),
}
CSV_REQUIRED = ("id", "kind", "title", "body")


class ArticleError(InvalidInput):
    """An invalid article; `field` names the invalid value (id, kind, title, body, tags, url)."""

    code = "invalid_article"

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field

    def to_dict(self):
        body = super().to_dict()
        body["error"]["field"] = self.field
        return body


# -- the site's article-set version ------------------------------------------------------------

def site_state(session, installation_id):
    """Return the site's FaqSiteState row, created when missing, in the caller's transaction."""
    state = session.get(FaqSiteState, installation_id)
    if state is None:
        state = FaqSiteState(installation_id=installation_id, version=1, kb_article_count=0, kb_query_count=0)
        session.add(state)
        session.flush()
    return state


def bump_version(session, installation_id):
    """Raise the site's article-set version in the caller's transaction, so that indexes are rebuilt."""
    site_state(session, installation_id)
    session.execute(update(FaqSiteState).where(FaqSiteState.installation_id == installation_id)
                    .values(version=FaqSiteState.version + 1))


def current_version(installation_id):
    return database().session.execute(
        select(FaqSiteState.version).where(FaqSiteState.installation_id == installation_id)
    ).scalar_one_or_none() or 0


# -- validation --------------------------------------------------------------------------------

def _text(value, name):
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ArticleError(f"Le champ {name} doit être du texte. / Field {name} must be text.", name)
    return unicodedata.normalize("NFC", str(value)).strip()


def clean_tags(value):
    """Return the tags of `value` (a list, or text separated by ",", ";" or "|"), without duplicates."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = re.split(r"[,;|]", value)
    if not isinstance(value, list):
        raise ArticleError("tags doit être une liste de mots-clés. / tags must be a list of keywords.", "tags")
    tags = []
    for tag in value:
        tag = _text(tag, "tags")
        if not tag:
            continue
        if len(tag) > TAG_MAX_CHARS:
            raise ArticleError(f"Le mot-clé « {tag[:40]}… » dépasse {TAG_MAX_CHARS} caractères. "
                               f"/ Keyword “{tag[:40]}…” is longer than {TAG_MAX_CHARS} characters.", "tags")
        if tag.casefold() not in {known.casefold() for known in tags}:
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        raise ArticleError(f"{len(tags)} mots-clés : {TAGS_MAX} au plus. / {len(tags)} keywords: at most {TAGS_MAX}.",
                           "tags")
    return tags


def clean_article(data, ref_required=True):
    """Return the valid article of `data` as {"ref", "kind", "title", "body", "tags", "url"}.

    Raises ArticleError naming the first invalid field. Without `ref_required`, a missing id is
    returned as None and chosen when the article is stored.
    """
    if not isinstance(data, dict):
        raise ArticleError("Un article est un objet JSON {id, kind, title, body, tags}. "
                           "/ An article is a JSON object {id, kind, title, body, tags}.")
    ref = _text(data.get("id", data.get("ref")), "id")
    if not ref and ref_required:
        raise ArticleError("L'identifiant (id) manque. / The id is missing.", "id")
    if ref and (len(ref) > REF_MAX_CHARS or not REF_PATTERN.match(ref) or ref.lower().startswith(KB_ID_PREFIX)):
        raise ArticleError(
            f"Identifiant invalide « {ref[:REF_MAX_CHARS]} » : lettres, chiffres, « . », « _ » ou « - », "
            f"{REF_MAX_CHARS} caractères au plus, sans commencer par « {KB_ID_PREFIX} ». / Invalid id "
            f"“{ref[:REF_MAX_CHARS]}”: letters, digits, “.”, “_” or “-”, at most {REF_MAX_CHARS} characters, "
            f"not starting with “{KB_ID_PREFIX}”.", "id")
    kind = _text(data.get("kind"), "kind").lower()
    if kind not in ArticleKind.ALL:
        raise ArticleError(f"Type d'article inconnu « {kind[:20]} » : faq ou tuto. "
                           f"/ Unknown article kind “{kind[:20]}”: faq or tuto.", "kind")
    title = _text(data.get("title"), "title")
    if not title or len(title) > TITLE_MAX_CHARS or "\n" in title:
        raise ArticleError(f"Le titre doit tenir sur une ligne de 1 à {TITLE_MAX_CHARS} caractères. "
                           f"/ The title must be one line of 1 to {TITLE_MAX_CHARS} characters.", "title")
    body = _text(data.get("body"), "body").replace("\r\n", "\n")
    if not body or len(body) > BODY_MAX_CHARS:
        raise ArticleError(f"Le texte de l'article doit compter de 1 à {BODY_MAX_CHARS} caractères ({len(body)}). "
                           f"/ The article text must have 1 to {BODY_MAX_CHARS} characters ({len(body)}).", "body")
    url = _text(data.get("url"), "url") or None
    if url is not None and (len(url) > URL_MAX_CHARS or not re.match(r"^https?://[^\s/]+\S*$", url)):
        raise ArticleError(f"Lien invalide « {url[:80]} » : une adresse http(s) complète est attendue. "
                           f"/ Invalid link “{url[:80]}”: a full http(s) address is expected.", "url")
    return {"ref": ref or None, "kind": kind, "title": title, "body": body,
            "tags": clean_tags(data.get("tags")), "url": url}


# -- reading -----------------------------------------------------------------------------------

def list_articles(installation_id, session=None):
    session = session or database().session
    return list(session.execute(
        select(FaqArticle).where(FaqArticle.installation_id == installation_id).order_by(FaqArticle.ref)
    ).scalars())


def find_article(session, installation_id, ref):
    return session.execute(select(FaqArticle).where(
        FaqArticle.installation_id == installation_id, func.lower(FaqArticle.ref) == (ref or "").lower(),
    )).scalar_one_or_none()


def article_json(article):
    return {"id": article.ref, "kind": article.kind, "title": article.title, "body": article.body,
            "tags": list(article.tags or []), "url": article.url,
            "updated_at": article.updated_at.isoformat() if article.updated_at else None}


# -- changes -----------------------------------------------------------------------------------

def _next_ref(session, installation_id, kind):
    prefix = kind.upper() + "-"
    refs = set(session.execute(select(FaqArticle.ref).where(FaqArticle.installation_id == installation_id)).scalars())
    number = len(refs) + 1
    while f"{prefix}{number:03d}" in refs:
        number += 1
    return f"{prefix}{number:03d}"


def _check_room(session, installation_id, adding):
    count = session.execute(select(func.count(FaqArticle.id))
                            .where(FaqArticle.installation_id == installation_id)).scalar_one()
    if count + adding > CATALOGUE_MAX_ARTICLES:
        raise InvalidInput(f"Le catalogue compterait {count + adding} articles : {CATALOGUE_MAX_ARTICLES} au plus. "
                           f"/ The catalogue would hold {count + adding} articles: at most {CATALOGUE_MAX_ARTICLES}.")


def _apply(article, fields, actor):
    article.kind = fields["kind"]
    article.title = fields["title"]
    article.body = fields["body"]
    article.tags = fields["tags"]
    article.url = fields["url"]
    article.updated_by_account_id = actor


def create_article(installation_id, actor, data):
    """Store a new article from `data` and return it; a missing id gets the next free FAQ-nnn/TUTO-nnn."""
    fields = clean_article(data, ref_required=False)
    with database().transaction() as session:
        _check_room(session, installation_id, 1)
        ref = fields["ref"] or _next_ref(session, installation_id, fields["kind"])
        if find_article(session, installation_id, ref) is not None:
            raise ArticleError(f"L'identifiant {ref} existe déjà ; choisissez-en un autre ou modifiez cet article. "
                               f"/ Id {ref} already exists; choose another or edit that article.", "id")
        article = FaqArticle(installation_id=installation_id, ref=ref)
        _apply(article, fields, actor)
        session.add(article)
        bump_version(session, installation_id)
        audit(session, installation_id, actor, "faq_article_created", f"Created FAQ article {ref}", changed=[ref])
    log.info("FAQ article %s created on installation %s", ref, installation_id)
    return article


def update_article(installation_id, actor, ref, data):
    """Replace the fields of article `ref` by those of `data` (its id stays) and return it."""
    fields = clean_article(dict(data, id=ref), ref_required=True)
    with database().transaction() as session:
        article = find_article(session, installation_id, ref)
        if article is None:
            raise NotFound(f"L'article {ref} n'existe pas dans le catalogue. / Article {ref} is not in the catalogue.")
        _apply(article, fields, actor)
        bump_version(session, installation_id)
        audit(session, installation_id, actor, "faq_article_updated", f"Changed FAQ article {article.ref}",
              changed=[article.ref])
    return article


def delete_article(installation_id, actor, ref):
    with database().transaction() as session:
        article = find_article(session, installation_id, ref)
        if article is None:
            raise NotFound(f"L'article {ref} n'existe pas dans le catalogue. / Article {ref} is not in the catalogue.")
        session.delete(article)
        bump_version(session, installation_id)
        audit(session, installation_id, actor, "faq_article_deleted", f"Deleted FAQ article {article.ref}",
              changed=[article.ref])
    log.info("FAQ article %s deleted on installation %s", ref, installation_id)


# -- import ------------------------------------------------------------------------------------

def _plain(text):
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _line_of(text, position):
    return text.count("\n", 0, position) + 1


def json_items(text):
    """Return [(line number, item)] of a JSON list, each with the line where the item starts."""
    decoder = json.JSONDecoder()
    position = len(text) - len(text.lstrip())
    if not text[position:position + 1] == "[":
        try:
            json.loads(text)
        except json.JSONDecodeError as error:
            raise _syntax_error(error) from None
        raise InvalidInput("Le fichier JSON doit contenir une liste d'articles [ {…}, {…} ]. "
                           "/ The JSON file must contain a list of articles [ {…}, {…} ].")
    position += 1
    items = []
    while True:
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        if text[position:position + 1] == "]":
            break
        if items:
            if text[position:position + 1] != ",":
                raise _syntax_error(json.JSONDecodeError("Expecting ',' delimiter", text, position))
            position += 1
            while position < len(text) and text[position] in " \t\r\n":
                position += 1
        try:
            item, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise _syntax_error(error) from None
        items.append((_line_of(text, position), item))
        position = end
    if text[position + 1:].strip():
        raise _syntax_error(json.JSONDecodeError("Extra data", text, position + 1))
    return items


def _syntax_error(error):
    return InvalidInput(f"JSON invalide, ligne {error.lineno}, colonne {error.colno} : {error.msg}. "
                        f"/ Invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}.")


def csv_items(text):
    """Return [(line number, item)] of a CSV file with a header row naming the columns."""
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        raise InvalidInput("Le fichier est vide ; ajoutez une ligne d'en-tête id, kind, title, body, tags. "
                           "/ The file is empty; add a header row id, kind, title, body, tags.")
    aliases = {alias: name for name, names in CSV_COLUMNS.items() for alias in names}
    columns = [aliases.get(_plain(cell)) for cell in header]
    missing = [name for name in CSV_REQUIRED if name not in columns]
    if missing:
        raise InvalidInput(f"Colonnes manquantes dans l'en-tête : {', '.join(missing)}. "
                           f"/ Columns missing from the header: {', '.join(missing)}.")
    items = []
    line = reader.line_num + 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                items.append((line, {name: cells[index] for index, name in enumerate(columns)
                                     if name and index < len(cells)}))
            line = reader.line_num + 1
    except csv.Error as error:
        raise InvalidInput(f"CSV illisible ligne {reader.line_num} : {error}. "
                           f"/ Unreadable CSV at line {reader.line_num}: {error}.") from None
    return items


def parse_file(content, filename=""):
    """Return [(line number, item)] of an uploaded JSON or CSV file (chosen by name, else by content)."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput("Le fichier n'est pas en UTF-8 ; enregistrez-le en UTF-8 et réessayez. "
                               "/ The file is not UTF-8; save it as UTF-8 and try again.") from None
    text = content.lstrip("\ufeff")
    name = (filename or "").lower()
    is_json = name.endswith(".json") or (not name.endswith(".csv") and text.lstrip()[:1] in ("[", "{"))
    return json_items(text) if is_json else csv_items(text)


def import_articles(installation_id, actor, content, filename="", dry_run=False):
    """Check every article of the file and, when all are good and not `dry_run`, store them; return the report.

    The report is {"imported", "dry_run", "articles", "errors": [{"line", "id", "message"}],
    "created": [ids], "updated": [ids]}.
    """
    items = parse_file(content, filename)
    report = {"imported": False, "dry_run": dry_run, "articles": len(items), "errors": [],
              "created": [], "updated": []}
    cleaned, seen = [], {}
    for line, item in items:
        ref = item.get("id") if isinstance(item, dict) else None
        try:
            fields = clean_article(item, ref_required=True)
        except ArticleError as error:
            report["errors"].append({"line": line, "id": ref if isinstance(ref, str) else None,
                                     "message": error.message})
            continue
        first = seen.setdefault(fields["ref"].lower(), line)
        if first != line:
            report["errors"].append({"line": line, "id": fields["ref"], "message":
                                     f"L'identifiant {fields['ref']} figure déjà ligne {first}. "
                                     f"/ Id {fields['ref']} is already on line {first}."})
            continue
        cleaned.append(fields)
    if not items:
        report["errors"].append({"line": 1, "id": None, "message": "Le fichier ne contient aucun article. "
                                 "/ The file contains no article."})
    if report["errors"] or dry_run:
        return report

    with database().transaction() as session:
        existing = {article.ref.lower(): article for article in list_articles(installation_id, session)}
        _check_room(session, installation_id, sum(1 for f in cleaned if f["ref"].lower() not in existing))
        for fields in cleaned:
            article = existing.get(fields["ref"].lower())
            if article is None:
                article = FaqArticle(installation_id=installation_id, ref=fields["ref"])
                session.add(article)
                report["created"].append(fields["ref"])
            else:
                report["updated"].append(article.ref)
            _apply(article, fields, actor)
        bump_version(session, installation_id)
        audit(session, installation_id, actor, "faq_imported",
              f"Imported {len(cleaned)} FAQ articles from a file", created=len(report["created"]),
              updated=len(report["updated"]))
    report["imported"] = True
    log.info("FAQ import on installation %s: %s created, %s updated", installation_id,
             len(report["created"]), len(report["updated"]))
    return report
