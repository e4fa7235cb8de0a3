"""A local copy of the service desk's knowledge base, refreshed on a schedule and indexed like the catalogue.

How the articles are gathered. JSM's knowledge-base API (GET
/rest/servicedeskapi/servicedesk/{serviceDeskId}/knowledgebase/article) only searches: `query`
is required and there is no "list all". The pages themselves live in Confluence, but a Connect
app installed in Jira has no Confluence scope on the site, so the Confluence REST API is out of
reach. The sync therefore searches with a vocabulary: the words of the site's product areas, of
its catalogue titles and tags, of its synonyms, and a built-in list of ERP support words. Then it
also searches with the title words of every article it found, until no new word is left or
QUERIES_MAX queries were sent. An article whose words appear in none of those searches is missed.
That is the price of a search-only API, and the catalogue covers what must not be missed.

The API returns a title and an excerpt matching the query, never the whole page. The copy keeps
the distinct excerpts seen for each article, and they are what the index searches besides the title.

A sync that completed replaces the copy: new articles are added, changed ones updated, and those
no query returned any more are deleted. A sync that failed on any query (Jira down, rate limits
after the retries of the Jira client) changes nothing and records the error.

Every process may run the schedule. A guarded UPDATE on faq_site_states.kb_attempted_at claims
each site's sync, so one process syncs a site per interval.
"""

import logging
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from sqlalchemy import or_, select, update

from ..atlassian.jira_client import jira_client_for
from ..atlassian.jira_errors import JiraError
from ..chat.actions import database
from ..jobs import stop_at_exit
from ..models import Installation
from ..settings import get_settings
from .catalogue import bump_version, list_articles, site_state
from .models import FaqSiteState, KbArticle
from .statement import fold

log = logging.getLogger(__name__)

PAGE_LIMIT = 50
QUERIES_MAX = 200
PAGES_PER_QUERY_MAX = 20
EXCERPTS_PER_ARTICLE_MAX = 5
EXCERPT_MAX_CHARS = 500
# The schedule wakes every SYNC_TICK_SECS and syncs the sites last attempted SYNC_INTERVAL_SECS ago
# or never, so a newly installed site gets its copy within a tick, not an hour.
SYNC_TICK_SECS = 300
SYNC_INTERVAL_SECS = 3600
QUERY_WORD_MIN_CHARS = 4

# Words of ERP support that knowledge-base articles are likely to contain.
SEED_WORDS = (
    "facture", "avoir", "commande", "livraison", "réception", "fournisseur", "client", "article", "stock",
    "inventaire", "dépôt", "lot", "production", "fabrication", "nomenclature", "gamme", "planification",
    "comptabilité", "écriture", "journal", "lettrage", "rapprochement", "banque", "règlement", "échéance",
    "relance", "TVA", "FEC", "clôture", "exercice", "période", "immobilisation", "budget", "paie", "salarié",
    "bulletin", "DSN", "congés", "import", "export", "EDI", "impression", "édition", "connexion",
    "mot de passe", "utilisateur", "droits", "licence", "installation", "mise à jour", "sauvegarde", "erreur",
    "paramétrage", "tarif", "remise", "devis", "achat", "vente", "expédition", "transport", "MRP",
)
# Frequent words that make poor queries: they match nearly every article or none.
QUERY_STOP_WORDS = frozenset(fold(word) for word in """
avec dans pour par sur sous entre vers chez depuis pendant avant après cette celle celui ceux leurs
votre vous nous elle elles ils dont donc mais puis plus moins tout tous toute toutes autre autres
comment quand quel quelle quels quelles être avoir fait faire peut doit sont était
""".split())


class SyncResult:
    """The outcome of one sync of one site."""

    def __init__(self, articles=0, queries=0, added=0, updated=0, deleted=0, error=None):
        self.articles = articles
        self.queries = queries
        self.added = added
        self.updated = updated
        self.deleted = deleted
        self.error = error

    def as_dict(self):
        return dict(vars(self))


def query_words(text):
    """Return the words of `text` worth a knowledge-base query, in lower case, in order, without repeats.

    Words keep their accents, because the search may not fold them, but repeats are found without them.
    """
    words, seen = [], set()
    for word in re.findall(r"[^\W\d_][^\W_]*", text or ""):
        folded = fold(word)
        if len(folded) >= QUERY_WORD_MIN_CHARS and folded not in QUERY_STOP_WORDS and folded not in seen:
            seen.add(folded)
            words.append(word.lower())
    return words


def seed_queries(installation_id, settings):
    """Return the first queries of a sync: the site's own vocabulary, then the built-in ERP words."""
    texts = list(settings.get("product_areas") or [])
    for article in list_articles(installation_id):
        texts.append(article.title)
        texts.extend(article.tags or [])
    texts.extend(re.split(r"[=,\n]", settings.get("faq_synonyms") or ""))
    queries, seen = [], set()
    for word in [word for text in texts for word in query_words(text)] + [word.lower() for word in SEED_WORDS]:
        if fold(word) not in seen:
            seen.add(fold(word))
            queries.append(word)
    return queries


def _desk_id(jira, settings):
    desk_id = settings.get("service_desk_id")
    if desk_id:
        return str(desk_id)
    desks = jira.service_desk.get_service_desks() or []
    return str(desks[0]["id"]) if desks else None


def search_all_pages(jira, desk_id, query):
    """Return every article JSM returns for `query`, page after page."""
    path = f"rest/servicedeskapi/servicedesk/{quote(desk_id, safe='')}/knowledgebase/article"
    found = []
    start = 0
    for _page in range(PAGES_PER_QUERY_MAX):
        page = jira.service_desk.get(path, params={"query": query, "highlight": "false", "start": start,
                                                   "limit": PAGE_LIMIT},
                                     headers=jira.service_desk.experimental_headers) or {}
        values = page.get("values") or []
        found.extend(values)
        if page.get("isLastPage", True) or not values:
            break
        start += len(values)
    return found


def _add(articles, value):
    """Merge one API article into `articles` (page id -> fields), and return True when it is new."""
    source = value.get("source") or {}
    page_id = str(source.get("pageId") or "").strip()
    title = (value.get("title") or "").strip()
    if not page_id or not title:
        return False
    entry = articles.get(page_id)
    is_new = entry is None
    if is_new:
        entry = articles[page_id] = {"title": title[:255], "space_key": source.get("spaceKey"), "excerpts": [],
                                     "url": ((value.get("content") or {}).get("iframeSrc") or None)}
    excerpt = " ".join((value.get("excerpt") or "").split())[:EXCERPT_MAX_CHARS]
    if excerpt and excerpt not in entry["excerpts"] and len(entry["excerpts"]) < EXCERPTS_PER_ARTICLE_MAX:
        entry["excerpts"].append(excerpt)
    return is_new


def gather(jira, desk_id, seeds):
    """Search with `seeds`, then with the title words of each new article, and return (articles, queries sent)."""
    articles, queue, asked = {}, list(seeds), set()
    while queue and len(asked) < QUERIES_MAX:
        query = queue.pop(0)
        if fold(query) in asked:
            continue
        asked.add(fold(query))
        for value in search_all_pages(jira, desk_id, query):
            if _add(articles, value):
                title = articles[str(value["source"]["pageId"]).strip()]["title"]
                queue.extend(word for word in query_words(title) if fold(word) not in asked)
    return articles, len(asked)


def store(installation_id, articles, queries):
    """Replace the site's copy with `articles` in one transaction, and return the SyncResult."""
    result = SyncResult(articles=len(articles), queries=queries)
    now = datetime.now(timezone.utc)
    with database().transaction() as session:
        stored = {row.page_id: row for row in session.execute(
            select(KbArticle).where(KbArticle.installation_id == installation_id)).scalars()}
        for page_id, fields in articles.items():
            row = stored.pop(page_id, None)
            if row is None:
                session.add(KbArticle(installation_id=installation_id, page_id=page_id, synced_at=now, **fields))
                result.added += 1
                continue
            if any(getattr(row, name) != value for name, value in fields.items()):
                for name, value in fields.items():
                    setattr(row, name, value)
                result.updated += 1
            row.synced_at = now
        for row in stored.values():
            session.delete(row)
            result.deleted += 1
        state = site_state(session, installation_id)
        state.kb_synced_at = now
        state.kb_error = None
        state.kb_article_count = len(articles)
        state.kb_query_count = queries
        if result.added or result.updated or result.deleted:
            bump_version(session, installation_id)
    return result


def record_failure(installation_id, message):
    with database().transaction() as session:
        site_state(session, installation_id).kb_error = message[:1000]


def sync_site(installation):
    """Copy the knowledge base of the site's service desk, and return the SyncResult (its `error` on failure)."""
    settings = get_settings(installation.id)
    try:
        with jira_client_for(installation) as jira:
            desk_id = _desk_id(jira, settings)
            if desk_id is None:
                articles, queries = {}, 0
            else:
                articles, queries = gather(jira, desk_id, seed_queries(installation.id, settings))
    except JiraError as error:
        log.warning("Knowledge-base sync failed for client_key %s: %s", installation.client_key, error)
        record_failure(installation.id, str(error))
        return SyncResult(error=str(error))
    result = store(installation.id, articles, queries)
    log.info("Knowledge-base sync of client_key %s: %s articles from %s queries (%s added, %s updated, %s deleted)",
             installation.client_key, result.articles, result.queries, result.added, result.updated, result.deleted)
    return result


def claim(installation_id, now, interval_secs):
    """Mark the site's sync as attempted at `now` unless one was attempted less than `interval_secs` ago.

    Return True when this process claimed it. The guarded UPDATE lets one process win.
    """
    with database().transaction() as session:
        site_state(session, installation_id)
    with database().transaction() as session:
        claimed = session.execute(
            update(FaqSiteState)
            .where(FaqSiteState.installation_id == installation_id,
                   or_(FaqSiteState.kb_attempted_at.is_(None),
                       FaqSiteState.kb_attempted_at <= now - timedelta(seconds=interval_secs)))
            .values(kb_attempted_at=now)
        ).rowcount
    return claimed == 1


def sync_due(interval_secs=SYNC_INTERVAL_SECS, now=None):
    """Sync every installed site with the sync on whose last attempt is `interval_secs` old, and return their count."""
    now = now or datetime.now(timezone.utc)
    installations = list(database().session.execute(
        select(Installation).where(Installation.status == "installed", Installation.enabled.is_(True))).scalars())
    synced = 0
    for installation in installations:
        if not get_settings(installation.id).get("knowledge_base_sync", True):
            continue
        if claim(installation.id, now, interval_secs):
            sync_site(installation)
            synced += 1
    return synced


def status_json(installation_id):
    state = database().session.get(FaqSiteState, installation_id)
    if state is None:
        return {"synced_at": None, "attempted_at": None, "error": None, "articles": 0, "queries": 0}
    return {"synced_at": state.kb_synced_at.isoformat() if state.kb_synced_at else None,
            "attempted_at": state.kb_attempted_at.isoformat() if state.kb_attempted_at else None,
            "error": state.kb_error, "articles": state.kb_article_count, "queries": state.kb_query_count}


def init_app(app):
    """Run `sync_due` every FAQ_KB_SYNC_TICK_SECS and once at start-up, in a BackgroundScheduler of this process.

    FAQ_KB_SYNC_JOB turns the job on or off. It is off by default with ADDON_ENV=test, so that no
    sync runs in the middle of a test unless the test requests one; one-off commands may set it
    to False too.
    """
    if not app.config.get("FAQ_KB_SYNC_JOB", app.config.get("ADDON_ENV") != "test"):
        return None
    from apscheduler.schedulers.background import BackgroundScheduler

    interval_secs = float(app.config.get("FAQ_KB_SYNC_INTERVAL_SECS", SYNC_INTERVAL_SECS))

    def run():
        with app.app_context():
            try:
                sync_due(interval_secs)
            except Exception:  # noqa: BLE001  (the next tick retries)
                log.exception("The knowledge-base sync job failed")

    scheduler = BackgroundScheduler(timezone=timezone.utc)
    scheduler.add_job(run, "interval", seconds=float(app.config.get("FAQ_KB_SYNC_TICK_SECS", SYNC_TICK_SECS)),
                      id="sync_knowledge_base", next_run_time=datetime.now(timezone.utc), coalesce=True,
                      max_instances=1)
    scheduler.start()
    stop_at_exit(scheduler)
    app.extensions["faq_kb_scheduler"] = scheduler
    return scheduler
