"""FAQ suggestion speed with 2,000 articles in a site's knowledge-base copy.

The articles are French variations of eval/faq/articles.json (fixed seed), stored as rows of
`faq_kb_articles` the way the knowledge-base sync stores them: a title, up to five excerpts of at
most 500 characters, and a portal URL. The site's article-set version is raised afterwards, as
the sync does, so the add-on builds its index on the first suggestion after the insert.

The benchmark gives two figures. The first is the latency of `POST /api/faq/suggest` as a key
user's start form calls it (context JWT, key-user check, search, scope and vagueness), over
loopback against the gunicorn worker. The second is the time of `FaqIndex.suggest` alone, in
this process, on the same articles.
"""

import json
import os
import random
import time
from pathlib import Path

import psycopg2
from psycopg2.extras import execute_values

from .common import Section, percentile, progress, table

ROOT = Path(__file__).resolve().parent.parent
ARTICLES = ROOT / "eval" / "faq" / "articles.json"
QUERIES = ROOT / "eval" / "faq" / "queries.jsonl"

ARTICLE_COUNT = 2_000
SEED = 20_261_205
# Matches addon.faq.knowledge_base: the JSM API returns excerpts of at most 500 characters, and
# the sync keeps at most 5 per article.
EXCERPT_MAX_CHARS = 500
EXCERPTS_MAX = 5
PAGE_ID_START = 900_000
GOAL_P99_MS = 20.0
WARM_UP_REQUESTS = 20
REQUESTS = {True: 300, False: 2_000}
IN_PROCESS_QUERIES = {True: 1_000, False: 5_000}

# Words that make a variation read like another page of the same software's documentation.
CONTEXTS = (
    "en multi-sociétés", "depuis l'application mobile", "pour un établissement secondaire",
    "après la migration en version 12", "avec le module Qualité", "en comptabilité analytique",
    "pour un client export", "sur un entrepôt déporté", "avec la signature électronique",
    "en mode hors connexion", "pour un fournisseur étranger", "avec un circuit de validation",
    "sur un article géré en lots", "pour une filiale", "en fin d'exercice", "avec le portail client",
)
LEADS = (
    "Cas particulier : ", "Variante : ", "Pour les administrateurs : ", "À savoir : ", "", "",
)
EXTRA_SENTENCES = (
    "Vérifiez d'abord que votre profil dispose du droit correspondant dans Paramètres › Sécurité.",
    "Si le bouton reste grisé, demandez à l'administrateur de rafraîchir le cache des paramètres.",
    "Le même écran est accessible depuis la recherche globale en tapant son nom.",
    "Un historique des modifications est conservé dans l'onglet « Journal » de la fiche.",
    "Pensez à enregistrer avant de changer d'onglet : la saisie en cours n'est pas conservée.",
    "Cette opération peut être annulée tant que la pièce n'est pas comptabilisée.",
    "Les utilisateurs en lecture seule voient la fiche mais ne peuvent pas la modifier.",
    "Le traitement par lot est disponible dans le menu Outils pour plusieurs fiches à la fois.",
    "Un export Excel de la liste est proposé en bas de l'écran.",
    "En cas de doute, contactez le support en précisant le numéro de la pièce concernée.",
)


def generate_articles(count=ARTICLE_COUNT, seed=SEED):
    """Return `count` knowledge-base articles as dicts {page_id, title, excerpts, url}, deterministically.

    Variation n of a source article names a context in its title (a pair of contexts past the
    first round), and adds a lead and a sentence of generic advice to its text.
    """
    base = json.loads(ARTICLES.read_text(encoding="utf-8"))
    rng = random.Random(seed)
    articles = []
    for number in range(count):
        source = base[number % len(base)]
        variation = number // len(base)
        title, body = source["title"], source["body"].strip()
        if variation:
            first = CONTEXTS[(variation - 1) % len(CONTEXTS)]
            second = CONTEXTS[(variation - 1) // len(CONTEXTS) % len(CONTEXTS)]
            title = f"{title} {first}" if variation <= len(CONTEXTS) else f"{title} {first}, {second}"
            advice = rng.choice(EXTRA_SENTENCES)
            body = f"{rng.choice(LEADS)}{body} {advice}" if rng.random() < 0.5 else f"{advice} {body}"
        page_id = str(PAGE_ID_START + number)
        articles.append({
            "page_id": page_id,
            "title": title[:255],
            "excerpts": split_excerpts(body),
            "url": f"/servicedesk/customer/kb/view/{page_id}",
        })
    return articles


def split_excerpts(text):
    """Cut `text` into at most EXCERPTS_MAX pieces of at most EXCERPT_MAX_CHARS, at word boundaries."""
    excerpts, current = [], ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > EXCERPT_MAX_CHARS:
            excerpts.append(current)
            current = ""
            if len(excerpts) == EXCERPTS_MAX:
                return excerpts
        current = f"{current} {word}" if current else word
    if current:
        excerpts.append(current)
    return excerpts


def load_queries():
    with open(QUERIES, encoding="utf-8") as file:
        return [json.loads(line)["text"] for line in file if line.strip()]


def store_articles(database_url, client_key, articles):
    """Replace the site's knowledge-base copy with `articles` and raise its article-set version."""
    connection = psycopg2.connect(database_url)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute("SELECT id FROM installations WHERE client_key = %s", (client_key,))
            installation_id = cursor.fetchone()[0]
            cursor.execute("DELETE FROM faq_kb_articles WHERE installation_id = %s", (installation_id,))
            execute_values(
                cursor,
                "INSERT INTO faq_kb_articles (installation_id, page_id, space_key, title, excerpts, url, synced_at)"
                " VALUES %s",
                [(installation_id, a["page_id"], "KB", a["title"], json.dumps(a["excerpts"]), a["url"])
                 for a in articles],
                template="(%s, %s, %s, %s, %s, %s, now())",
            )
            cursor.execute(
                "INSERT INTO faq_site_states (installation_id, version, kb_synced_at, kb_article_count, kb_query_count)"
                " VALUES (%s, 2, now(), %s, 0)"
                " ON CONFLICT (installation_id) DO UPDATE SET version = faq_site_states.version + 1,"
                " kb_synced_at = now(), kb_article_count = EXCLUDED.kb_article_count",
                (installation_id, len(articles)),
            )
    finally:
        connection.close()
    return installation_id


def measure_http(stack, queries, count):
    """Time `count` suggestion requests of one key user; return (latencies in ms, first request in ms, hits)."""
    import requests

    account_id = stack.key_users(1)[0]
    url = stack.url.rstrip("/") + "/api/faq/suggest"
    http = requests.Session()

    def call(text):
        # A fresh token per request, as each iframe load gets one, but signed outside the timing.
        headers = {"Authorization": f"JWT {stack.context_token(account_id)}"}
        started = time.perf_counter()
        response = http.post(url, json={"summary": text, "message": ""}, headers=headers, timeout=30)
        elapsed_ms = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        return elapsed_ms, len(response.json()["suggestions"])

    first_ms, _ = call(queries[0])  # builds the site's index in the worker
    for text in queries[1:1 + WARM_UP_REQUESTS]:
        call(text)
    latencies, hits = [], 0
    for number in range(count):
        elapsed_ms, found = call(queries[number % len(queries)])
        latencies.append(elapsed_ms)
        hits += bool(found)
    return latencies, first_ms, hits


def measure_in_process(articles, queries, count):
    """Build FaqIndex on the articles as the add-on does and time `count` suggestions; return (build ms, latencies ms)."""
    from addon.faq.models import KB_ID_PREFIX, ArticleKind
    from addon.faq.ranking import Article, FaqIndex

    started = time.perf_counter()
    index = FaqIndex([Article(id=KB_ID_PREFIX + a["page_id"], kind=ArticleKind.FAQ, title=a["title"],
                              body="\n".join(a["excerpts"]), tags=(), url=a["url"], source="confluence")
                      for a in articles])
    build_ms = (time.perf_counter() - started) * 1000
    latencies = []
    for number in range(count):
        started = time.perf_counter()
        index.suggest(queries[number % len(queries)], limit=5)
        latencies.append((time.perf_counter() - started) * 1000)
    return build_ms, latencies


def run(quick: bool) -> Section:
    from .stack import Stack

    load_before = os.getloadavg()[0]
    articles = generate_articles()
    queries = load_queries()
    progress(f"faq_speed: {len(articles)} articles, in-process search")
    build_ms, local = measure_in_process(articles, queries, IN_PROCESS_QUERIES[quick])

    with Stack(jira_latency_ms=50) as stack:
        store_articles(stack.database_url, stack.client_key, articles)
        progress("faq_speed: HTTP suggestions")
        latencies, first_ms, hits = measure_http(stack, queries, REQUESTS[quick])

    return section(len(articles), latencies, first_ms, hits, build_ms, local, (load_before, os.getloadavg()[0]))


def section(article_count, latencies, first_ms, hits, build_ms, local, load):
    def cell(values, fraction):
        return f"{percentile(values, fraction):.2f}"

    rows = [
        ("`POST /api/faq/suggest`, key user, loopback", len(latencies), cell(latencies, 0.5),
         cell(latencies, 0.95), cell(latencies, 0.99), f"{max(latencies):.2f}"),
        ("`FaqIndex.suggest` in process", len(local), cell(local, 0.5), cell(local, 0.95),
         cell(local, 0.99), f"{max(local):.2f}"),
    ]
    body = "\n\n".join([
        f"{article_count} French articles (variations of eval/faq/articles.json, fixed seed) in the site's "
        "knowledge-base copy; queries are the texts of eval/faq/queries.jsonl, in turn. The HTTP figure "
        "is the start form's suggestion request (context JWT, key-user check, search, scope guard) "
        "against one gunicorn worker with the production configuration; the token is signed outside "
        f"the timing. {hits} of {len(latencies)} requests returned at least one article.",
        table(("Measure", "Requests", "p50 ms", "p95 ms", "p99 ms", "max ms"), rows),
        f"The first request after the insert built the site's index in the worker: {first_ms:.0f} ms "
        f"(in this process, building the index takes {build_ms:.0f} ms).",
        f"Load average (1 min) of the machine: {load[0]:.1f} at the start, {load[1]:.1f} at the end. A load "
        "above the 2 cores means requests waited for a core, and the tail grows with it: the in-process "
        "figure, which does no I/O, shows how much.",
    ])
    p99 = percentile(latencies, 0.99)
    result = Section(title="FAQ speed", body=body, summary={"faq_http_p99_ms": p99})
    goal = f"FAQ suggestion p99 ≤ {GOAL_P99_MS:.0f} ms with {article_count} articles: {p99:.2f} ms."
    (result.met if p99 <= GOAL_P99_MS else result.missed).append(goal)
    return result
