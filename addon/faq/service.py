"""Suggestions for one site: its search index, and what key users do with the proposed articles.

Each process keeps one FaqIndex per site, built from the site's catalogue, its copy of the
knowledge base and its synonyms. The index is rebuilt when the site's article-set version
(FaqSiteState.version, raised by every change in any process) differs from the cached one, so
one indexed primary-key read per suggestion keeps every process current.

The ranking is exactly `FaqIndex.suggest`, the one the `flask faq suggest` command uses:
`articles_file` writes the same articles in the command's input format.
"""

import logging
import threading
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..chat.actions import database
from ..chat.models import Conversation
from ..errors import InvalidInput, NotFound
from ..settings import get_settings
from .analysis import parse_synonyms
from .catalogue import current_version, list_articles
from .models import (
    KB_ID_PREFIX,
    ArticleImpression,
    ArticleKind,
    ArticleRating,
    ChatArticle,
    KbArticle,
    SelfServiceResolution,
)
from .ranking import Article, FaqIndex

log = logging.getLogger(__name__)

SUGGESTIONS_MAX = 5
# Only the start of a long statement is searched. A statement is a summary and a first message.
QUERY_MAX_CHARS = 4000
EXCERPT_CHARS = 220
BODY_SHOWN_MAX_CHARS = 5000
SESSION_ID_MAX_CHARS = 64


@dataclass(frozen=True)
class SiteIndex:
    """The search index of one site at one article-set version, with what the screens show per article."""

    version: int
    index: FaqIndex
    articles: dict  # article id -> Article
    excerpts: dict  # article id -> the text shown under the title


def excerpt_of(text, limit=EXCERPT_CHARS):
    """Return the first `limit` characters of `text` on one line, cut at a word with "…"."""
    flat = " ".join((text or "").split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + "…"


def site_articles(installation_id, settings=None):
    """Return (articles, excerpts) of the site: its catalogue, then its knowledge base when enabled."""
    settings = settings or get_settings(installation_id)
    articles, excerpts = [], {}
    for row in list_articles(installation_id):
        articles.append(Article(id=row.ref, kind=row.kind, title=row.title, body=row.body,
                                tags=tuple(row.tags or ()), url=row.url, source="catalogue"))
        excerpts[row.ref] = excerpt_of(row.body)
    if settings.get("knowledge_base_sync", True):
        rows = database().session.execute(
            select(KbArticle).where(KbArticle.installation_id == installation_id).order_by(KbArticle.page_id)
        ).scalars()
        for row in rows:
            article_id = KB_ID_PREFIX + row.page_id
            # The JSM API returns excerpts, never whole pages, so the excerpts are the body.
            articles.append(Article(id=article_id, kind=ArticleKind.FAQ, title=row.title,
                                    body="\n".join(row.excerpts or []), tags=(), url=row.url, source="confluence"))
            excerpts[article_id] = excerpt_of((row.excerpts or [""])[0])
    return articles, excerpts


def synonyms_of(settings):
    text = settings.get("faq_synonyms") or ""
    return parse_synonyms(text) if text.strip() else None


def site_index(installation_id):
    """Return the SiteIndex of the site, rebuilt when its article-set version changed."""
    cache = current_app.extensions.setdefault("faq_indexes", {})
    lock = current_app.extensions.setdefault("faq_indexes_lock", threading.Lock())
    version = current_version(installation_id)
    cached = cache.get(installation_id)
    if cached is not None and cached.version == version:
        return cached
    with lock:
        cached = cache.get(installation_id)
        if cached is not None and cached.version == version:
            return cached
        settings = get_settings(installation_id)
        articles, excerpts = site_articles(installation_id, settings)
        built = SiteIndex(version=version, index=FaqIndex(articles, synonyms_of(settings)),
                          articles={article.id: article for article in articles}, excerpts=excerpts)
        cache[installation_id] = built
    log.info("FAQ index of installation %s built at version %s: %s articles", installation_id, version, len(articles))
    return built


def articles_file(installation_id):
    """Return the site's articles in the input format of `flask faq suggest --articles`."""
    articles, _ = site_articles(installation_id)
    return [{"id": a.id, "kind": a.kind, "title": a.title, "body": a.body, "tags": list(a.tags)} for a in articles]


def article_view(site, article_id, score=None):
    article = site.articles[article_id]
    view = {"id": article.id, "kind": article.kind, "title": article.title, "url": article.url,
            "excerpt": site.excerpts.get(article.id, ""), "source": article.source}
    if article.source == "catalogue" and not article.url:
        # Without a link, the key user reads the article in the form itself.
        view["body"] = article.body[:BODY_SHOWN_MAX_CHARS]
    if score is not None:
        view["score"] = round(score, 4)
    return view


def suggest(installation_id, text, limit=SUGGESTIONS_MAX):
    """Return the articles proposed for `text`, best first: [{id, kind, title, url, excerpt, source, score}]."""
    text = (text or "")[:QUERY_MAX_CHARS]
    if not text.strip():
        return []
    site = site_index(installation_id)
    return [article_view(site, hit.article_id, hit.score) for hit in site.index.suggest(text, limit=limit)
            if hit.article_id in site.articles]


def known_article(installation_id, article_id):
    """Return the article view of `article_id` on the site, or raise NotFound."""
    site = site_index(installation_id)
    if not isinstance(article_id, str) or article_id not in site.articles:
        raise NotFound(f"L'article {str(article_id)[:120]!r} n'existe pas ou plus ; rechargez les suggestions. "
                       f"/ Article {str(article_id)[:120]!r} does not exist any more; reload the suggestions.")
    return article_view(site, article_id)


def clean_session_id(value):
    if not isinstance(value, str) or not value.strip() or len(value) > SESSION_ID_MAX_CHARS:
        raise InvalidInput(f"session_id : texte de 1 à {SESSION_ID_MAX_CHARS} caractères attendu. "
                           f"/ session_id: text of 1 to {SESSION_ID_MAX_CHARS} characters is expected.")
    return value.strip()


# -- what key users did ------------------------------------------------------------------------

def record_impressions(installation_id, session_id, account_id, organization_id, article_ids):
    """Count each of `article_ids` as shown once in this form session (repeats are ignored)."""
    if not article_ids:
        return
    session = database().session
    seen = set(session.execute(select(ArticleImpression.article_id).where(
        ArticleImpression.installation_id == installation_id, ArticleImpression.session_id == session_id,
    )).scalars())
    new = [article_id for article_id in dict.fromkeys(article_ids) if article_id not in seen]
    if not new:
        return
    try:
        with database().transaction() as session:
            for article_id in new:
                session.add(ArticleImpression(installation_id=installation_id, session_id=session_id,
                                              article_id=article_id, account_id=account_id,
                                              organization_id=organization_id))
    except IntegrityError:
        # A concurrent suggestion of the same form counted them first.
        log.debug("Impressions of form session %s already recorded", session_id)


def rate(installation_id, session_id, article_id, helpful, account_id, organization_id):
    """Store the key user's answer to "Cet article vous a-t-il aidé ?". A later answer replaces it.

    Form sessions belong to the key user who started them: a session id that another person
    already used is rejected rather than letting one user overwrite another's rating.
    """
    if not isinstance(helpful, bool):
        raise InvalidInput("helpful doit valoir true ou false. / helpful must be true or false.")
    known_article(installation_id, article_id)
    for _attempt in range(2):
        try:
            with database().transaction() as session:
                rating = session.execute(select(ArticleRating).where(
                    ArticleRating.installation_id == installation_id, ArticleRating.session_id == session_id,
                    ArticleRating.article_id == article_id)).scalar_one_or_none()
                if rating is None:
                    session.add(ArticleRating(installation_id=installation_id, session_id=session_id,
                                              article_id=article_id, account_id=account_id,
                                              organization_id=organization_id, helpful=helpful))
                elif rating.account_id != account_id:
                    raise _session_taken(session_id)
                else:
                    rating.helpful = helpful
            return
        except IntegrityError:
            continue
    raise _session_taken(session_id)


def _session_taken(session_id):
    return InvalidInput(
        f"La session de formulaire {session_id!r} est déjà utilisée : rechargez la page pour en ouvrir une "
        f"nouvelle. / Form session {session_id!r} is already in use: reload the page to start a new one."
    )


def resolution_of(installation_id, session_id, account_id):
    """Return the self-service resolution `account_id` recorded in this form session, or None."""
    return database().session.execute(select(SelfServiceResolution).where(
        SelfServiceResolution.installation_id == installation_id,
        SelfServiceResolution.session_id == session_id,
        SelfServiceResolution.account_id == account_id)).scalar_one_or_none()


def store_resolution(installation_id, session_id, article, account_id, organization_id, statement, issue_key=None):
    """Store a self-service resolution and return it. A repeat of the same form session returns the first."""
    try:
        with database().transaction() as session:
            row = SelfServiceResolution(
                installation_id=installation_id, session_id=session_id, article_id=article["id"],
                article_title=article["title"][:255], account_id=account_id, organization_id=organization_id,
                summary=statement.get("summary") or "", product_area=statement.get("product_area"),
                message=statement.get("message") or "", issue_key=issue_key)
            session.add(row)
    except IntegrityError:
        existing = resolution_of(installation_id, session_id, account_id)
        if existing is None:
            raise _session_taken(session_id) from None
        return existing
    log.info("Self-service resolution by article %s on installation %s (request %s)", article["id"],
             installation_id, issue_key or "none")
    return row


def record_chat_articles(session, conversation, articles):
    """Store, in the caller's transaction, the articles the start form of `conversation` proposed."""
    for rank, article in enumerate(articles, start=1):
        session.add(ChatArticle(conversation_id=conversation.id, article_id=article["id"],
                                title=article["title"][:255], url=article.get("url"), rank=rank))


def shown_articles(installation_id, article_ids):
    """Return the views of the proposed articles that still exist, in the order given, without repeats."""
    if not isinstance(article_ids, list):
        return []
    site = site_index(installation_id)
    ids = [article_id for article_id in dict.fromkeys(a for a in article_ids if isinstance(a, str))
           if article_id in site.articles]
    return [article_view(site, article_id) for article_id in ids[:20]]


def statistics(installation_id):
    """Return, per article, how often it was shown, solved a problem, and was rated helpful or not."""
    session = database().session

    def counts(statement):
        return dict(session.execute(statement).all())

    shown = counts(select(ArticleImpression.article_id, func.count(ArticleImpression.id))
                   .where(ArticleImpression.installation_id == installation_id)
                   .group_by(ArticleImpression.article_id))
    solved = counts(select(SelfServiceResolution.article_id, func.count(SelfServiceResolution.id))
                    .where(SelfServiceResolution.installation_id == installation_id)
                    .group_by(SelfServiceResolution.article_id))
    ratings = session.execute(
        select(ArticleRating.article_id, ArticleRating.helpful, func.count(ArticleRating.id))
        .where(ArticleRating.installation_id == installation_id)
        .group_by(ArticleRating.article_id, ArticleRating.helpful)).all()
    helpful, not_helpful = {}, {}
    for article_id, is_helpful, count in ratings:
        (helpful if is_helpful else not_helpful)[article_id] = count
    titles = dict(session.execute(select(SelfServiceResolution.article_id, SelfServiceResolution.article_title)
                                  .where(SelfServiceResolution.installation_id == installation_id)).all())
    site = site_index(installation_id)
    ids = set(shown) | set(solved) | set(helpful) | set(not_helpful)
    rows = []
    for article_id in ids:
        article = site.articles.get(article_id)
        rows.append({"id": article_id, "title": article.title if article else titles.get(article_id, article_id),
                     "kind": article.kind if article else None, "deleted": article is None,
                     "shown": shown.get(article_id, 0), "solved": solved.get(article_id, 0),
                     "helpful": helpful.get(article_id, 0), "not_helpful": not_helpful.get(article_id, 0)})
    rows.sort(key=lambda row: (-row["shown"], -row["solved"], row["id"]))
    conversations = select(Conversation.id).where(Conversation.installation_id == installation_id)
    chats_after_suggestions = session.execute(
        select(func.count(func.distinct(ChatArticle.conversation_id)))
        .where(ChatArticle.conversation_id.in_(conversations))).scalar_one()
    return {"articles": rows, "solved_total": sum(solved.values()),
            "chats_after_suggestions": chats_after_suggestions}
